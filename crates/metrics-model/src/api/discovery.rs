//! Discovery documents (`/apis`, `/apis/<group>`, `/apis/<group>/<version>`) that tell the
//! aggregator and `kubectl` which metrics the adapter serves.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIResource, APIResourceList, GroupVersionForDiscovery,
};

use crate::association::GroupResource;

/// Names the group's versions, preferring the first, as in `GET /apis/<group>`.
pub fn api_group(name: &str, versions: &[&str]) -> APIGroup {
    let versions: Vec<GroupVersionForDiscovery> = versions
        .iter()
        .map(|version| GroupVersionForDiscovery {
            group_version: format!("{name}/{version}"),
            version: (*version).to_owned(),
        })
        .collect();
    APIGroup {
        name: name.to_owned(),
        preferred_version: versions.first().cloned(),
        server_address_by_client_cidrs: None,
        versions,
    }
}

/// The resource a custom metric appears as: `<resource>/<metric>`, readable with `get`.
pub fn custom_metric_resource(
    resource: &GroupResource,
    metric: &str,
    namespaced: bool,
) -> APIResource {
    metric_resource(
        format!("{resource}/{metric}"),
        "MetricValueList",
        namespaced,
    )
}

/// The resource an external metric appears as: its name, namespaced, readable with `get`.
pub fn external_metric_resource(metric: &str) -> APIResource {
    metric_resource(metric.to_owned(), "ExternalMetricValueList", true)
}

fn metric_resource(name: String, kind: &str, namespaced: bool) -> APIResource {
    APIResource {
        name,
        singular_name: String::new(),
        namespaced,
        kind: kind.to_owned(),
        verbs: vec!["get".to_owned()],
        ..APIResource::default()
    }
}

/// `GET /apis/<group>/<version>`: every servable metric of that group version.
pub fn api_resource_list(group_version: &str, resources: Vec<APIResource>) -> APIResourceList {
    APIResourceList {
        group_version: group_version.to_owned(),
        resources,
    }
}
