use super::*;

#[test]
fn value_paths() {
    let pods = GroupResource::new("pods", "");
    assert_eq!(
        parse_value_path("namespaces/ns1/pods/*/rps"),
        Some(ValuePath {
            namespace: Some("ns1"),
            resource: pods.clone(),
            name: "*",
            metric: "rps",
        })
    );
    let namespaces = GroupResource::new("namespaces", "");
    let own = ValuePath {
        namespace: None,
        resource: namespaces.clone(),
        name: "ns1",
        metric: "rps",
    };
    assert_eq!(parse_value_path("namespaces/ns1/metrics/rps"), Some(own));
    assert_eq!(
        parse_value_path("nodes/n1/load").map(|p| p.resource),
        Some(GroupResource::new("nodes", ""))
    );
    assert_eq!(
        parse_value_path("namespaces/ns1/deployments.apps/web/rps").map(|p| p.resource),
        Some(GroupResource::new("deployments", "apps"))
    );
    for bad in [
        "pods/*/rps",
        "namespaces/ns1/nodes/n1/load",
        "namespaces/ns1/pods//rps",
        "namespaces/ns1/pods/a/rps/extra",
        "namespaces/ns1/Pods/a/rps",
        "rps",
    ] {
        assert_eq!(parse_value_path(bad), None, "{bad}");
    }
}

#[test]
fn query_parameters_are_decoded() {
    let query = Some("labelSelector=app%3Dweb&metricLabelSelector=code+in+(200)");
    assert_eq!(
        parameter(query, "labelSelector").as_deref(),
        Some("app=web")
    );
    assert_eq!(
        parameter(query, "metricLabelSelector").as_deref(),
        Some("code in (200)")
    );
    assert_eq!(parameter(None, "labelSelector"), None);
}
