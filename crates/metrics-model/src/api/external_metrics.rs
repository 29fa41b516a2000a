//! `external.metrics.k8s.io`: metric values not tied to any Kubernetes object (queue depth,
//! a load balancer's request rate), one item per matching series.

/// The API group name.
pub const GROUP: &str = "external.metrics.k8s.io";

/// Version v1beta1, the only version of the external metrics API.
pub mod v1beta1 {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Time};
    use serde::{Deserialize, Serialize};

    use crate::Quantity;
    use crate::api::typed_list_serialize;

    /// `external.metrics.k8s.io/v1beta1`.
    pub const API_VERSION: &str = "external.metrics.k8s.io/v1beta1";

    /// One series' value of an external metric.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct ExternalMetricValue {
        /// The metric name as the API serves it.
        pub metric_name: String,
        /// The series labels, so a client can tell several items apart (always written).
        #[serde(default)]
        pub metric_labels: BTreeMap<String, String>,
        /// When the value was produced: the sample's own time.
        #[serde(serialize_with = "crate::api::serialize_time")]
        pub timestamp: Time,
        /// The window a rate was computed over (`window` on the wire).
        #[serde(default, rename = "window", skip_serializing_if = "Option::is_none")]
        pub window_seconds: Option<i64>,
        /// The value.
        pub value: Quantity,
    }

    /// The answer to every external-metrics request.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    pub struct ExternalMetricValueList {
        /// List metadata (empty).
        #[serde(default)]
        pub metadata: ListMeta,
        /// The values.
        pub items: Vec<ExternalMetricValue>,
    }

    typed_list_serialize!(
        ExternalMetricValueList,
        "ExternalMetricValueList",
        API_VERSION
    );
}
