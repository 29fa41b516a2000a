//! The adapter's RBAC: reviews through the built-in `system:auth-delegator`, the API server's
//! authentication ConfigMap through the built-in auth-reader Role in kube-system, read-only
//! object labels and nothing more; and the HPA controller's read-only access to every metric.

use metrics_adapter::auth::delegated;

use crate::adapter::{ADAPTER, base};
use crate::rbac::{allows, allows_named, built_in_cluster_role, cluster_rules_of, rules_in};
use crate::render::Object;
use crate::{NAMESPACE, TestResult};

#[test]
fn the_adapter_rbac_delegates_auth_reads_labels_and_nothing_more() -> TestResult {
    let Some(objects) = base()? else {
        return Ok(());
    };
    let rules = cluster_rules_of(&objects, NAMESPACE, ADAPTER);
    // Delegated authentication and authorization, through the built-in system:auth-delegator.
    assert!(
        objects
            .iter()
            .any(|o| matches!(o, Object::ClusterRoleBinding(b)
            if b.role_ref.kind == "ClusterRole" && b.role_ref.name == "system:auth-delegator"
                && b.subjects.iter().flatten().any(|s| s.kind == "ServiceAccount"
                    && s.name == ADAPTER && s.namespace.as_deref() == Some(NAMESPACE)))),
        "system:auth-delegator is bound to the adapter"
    );
    assert!(built_in_cluster_role("system:auth-delegator").is_some());
    let needed = [
        ("authorization.k8s.io", "subjectaccessreviews", "create"),
        ("authentication.k8s.io", "tokenreviews", "create"),
        ("", "pods", "list"),
        ("", "pods", "watch"),
        ("", "services", "watch"),
        ("", "namespaces", "watch"),
        ("", "nodes", "watch"),
        ("apps", "deployments", "watch"),
        ("apps", "statefulsets", "watch"),
        ("apps", "replicasets", "watch"),
        ("apps", "daemonsets", "watch"),
    ];
    for (group, resource, verb) in needed {
        assert!(
            allows(&rules, group, resource, verb),
            "the adapter needs {verb} {group}/{resource}"
        );
    }
    let denied = [
        ("", "secrets", "get"),
        ("", "secrets", "list"),
        ("", "configmaps", "get"),
        ("", "pods", "delete"),
        ("", "pods", "patch"),
        ("apps", "deployments", "patch"),
        ("apps", "deployments/scale", "patch"),
        (
            "custom.metrics.k8s.io",
            "pods/http_requests_per_second",
            "get",
        ),
        ("rbac.authorization.k8s.io", "clusterroles", "get"),
    ];
    for (group, resource, verb) in denied {
        assert!(
            !allows(&rules, group, resource, verb),
            "the adapter must not {verb} {group}/{resource}"
        );
    }
    assert!(
        rules.iter().all(|r| !r.verbs.iter().any(|v| v == "*")),
        "no `*` verbs"
    );

    // The API server's authentication ConfigMap is read through a RoleBinding that really
    // lands in kube-system, next to the built-in Role it binds.
    let reader = objects
        .iter()
        .find_map(|o| match o {
            Object::RoleBinding(b)
                if b.role_ref.name == "extension-apiserver-authentication-reader" =>
            {
                Some(b)
            }
            _ => None,
        })
        .ok_or("no RoleBinding to extension-apiserver-authentication-reader")?;
    assert_eq!(reader.metadata.namespace.as_deref(), Some("kube-system"));
    assert_eq!(reader.role_ref.kind, "Role");
    assert!(
        reader
            .subjects
            .iter()
            .flatten()
            .any(|s| s.kind == "ServiceAccount"
                && s.name == ADAPTER
                && s.namespace.as_deref() == Some(NAMESPACE))
    );
    // What the adapter does with it (crates/metrics-adapter/src/auth/delegated.rs): a get, and
    // a list and watch with fieldSelector metadata.name=NAME, which the API server authorizes
    // as requests on that name. Nothing else of the namespace.
    let system = rules_in(&objects, delegated::NAMESPACE, NAMESPACE, ADAPTER);
    for verb in ["get", "list", "watch"] {
        assert!(
            allows_named(&system, "", "configmaps", verb, Some(delegated::NAME)),
            "the adapter needs {verb} on ConfigMap {}/{}",
            delegated::NAMESPACE,
            delegated::NAME
        );
    }
    for (resource, verb, name) in [
        ("configmaps", "list", None),
        ("configmaps", "watch", None),
        ("configmaps", "get", Some("kubeadm-config")),
        ("configmaps", "update", Some(delegated::NAME)),
        ("configmaps", "patch", Some(delegated::NAME)),
        ("secrets", "get", None),
        ("secrets", "list", None),
    ] {
        assert!(
            !allows_named(&system, "", resource, verb, name),
            "the adapter must not {verb} {resource} {name:?} in {}",
            delegated::NAMESPACE
        );
    }

    // The HPA controller may read every metric, and nothing else through these bindings.
    let hpa = cluster_rules_of(&objects, "kube-system", "horizontal-pod-autoscaler");
    for (group, resource, verb) in [
        (
            "custom.metrics.k8s.io",
            "pods/http_requests_per_second",
            "get",
        ),
        (
            "custom.metrics.k8s.io",
            "pods/http_requests_per_second",
            "list",
        ),
        (
            "custom.metrics.k8s.io",
            "services/http_request_duration_p99_seconds",
            "get",
        ),
        ("external.metrics.k8s.io", "queue_messages_ready", "list"),
    ] {
        assert!(
            allows(&hpa, group, resource, verb),
            "the HPA needs {verb} {group}/{resource}"
        );
    }
    for rule in &hpa {
        assert!(
            rule.api_groups
                .iter()
                .flatten()
                .all(|g| g == "custom.metrics.k8s.io" || g == "external.metrics.k8s.io"),
            "only the metrics APIs: {rule:?}"
        );
        assert!(
            rule.verbs
                .iter()
                .all(|v| ["get", "list", "watch"].contains(&v.as_str())),
            "read-only: {rule:?}"
        );
    }
    assert!(
        objects
            .iter()
            .any(|o| matches!(o, Object::ClusterRole(_) if o.name() == "sextant-metrics-reader")),
        "the reader ClusterRole is named sextant-metrics-reader"
    );
    Ok(())
}
