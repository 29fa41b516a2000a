//! Renders `deploy/` and `deploy/examples/` with `kubectl kustomize` and checks what an
//! operator would otherwise learn from a failed `kubectl apply`: every object parses as its
//! Kubernetes type with no field lost on the way, the controller runs locked down with the flags
//! its binary needs today, its RBAC allows exactly the calls the controller makes, and the
//! example ScalingPolicy passes the CRD's CEL rules. The adapter's objects are checked in
//! `deploy_render/adapter*.rs`.
//!
//! kubectl is not a Debian package CI can install (bookworm's `kubernetes-client` is 1.20,
//! whose embedded kustomize predates directories in `resources:`); the machines CI runs on have
//! it, as the adapter's `kubectl get --raw` test needs too. Without kubectl on PATH these tests
//! skip with a message, and fail under CI.

#[path = "deploy_render/adapter.rs"]
mod adapter;
#[path = "deploy_render/adapter_rbac.rs"]
mod adapter_rbac;
#[path = "deploy_render/adapter_rules.rs"]
mod adapter_rules;
#[path = "deploy_render/adapter_tls.rs"]
mod adapter_tls;
#[path = "deploy_render/rbac.rs"]
mod rbac;
#[path = "deploy_render/render.rs"]
mod render;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::api::rbac::v1::PolicyRule;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::cel::Validator;
use rbac::{allows, cluster_rules_of};
use render::{Object, kustomize, parse};
use scaling_controller::policy::ScalingPolicy;

pub(crate) type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The namespace and name of the controller's ServiceAccount.
const NAMESPACE: &str = "sextant";
const SERVICE_ACCOUNT: &str = "sextant-controller";

/// The flags `sextant-controller run` accepts today (crates/scaling-controller/src/main.rs).
const RUN_FLAGS: &[&str] = &[
    "--kubeconfig",
    "--prometheus-url",
    "--leader-elect",
    "--allow-cross-namespace-queries",
    "--metrics-bind-address",
    "--health-probe-bind-address",
];

/// The pod runs as a numeric non-root user with seccomp RuntimeDefault, and `container` with a
/// read-only root filesystem, no privilege escalation and no capabilities.
pub(crate) fn assert_locked_down(pod: &PodSpec, container: &Container) -> TestResult {
    let pod_security = pod
        .security_context
        .as_ref()
        .ok_or("no pod securityContext")?;
    assert_eq!(
        pod_security
            .seccomp_profile
            .as_ref()
            .map(|p| p.type_.as_str()),
        Some("RuntimeDefault")
    );
    let security = container
        .security_context
        .as_ref()
        .ok_or("no container securityContext")?;
    let non_root = security.run_as_non_root.or(pod_security.run_as_non_root);
    let user = security.run_as_user.or(pod_security.run_as_user);
    assert_eq!(non_root, Some(true), "runs as non-root");
    assert!(
        user.is_some_and(|uid| uid != 0),
        "a numeric non-root uid: {user:?}"
    );
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    let dropped = security
        .capabilities
        .as_ref()
        .and_then(|c| c.drop.clone())
        .unwrap_or_default();
    assert!(dropped.iter().any(|c| c == "ALL"), "drops ALL capabilities");
    Ok(())
}

#[test]
fn the_base_renders_to_known_types_in_the_sextant_namespace() -> TestResult {
    let Some(yaml) = kustomize("deploy")? else {
        return Ok(());
    };
    let objects = parse(&yaml)?;
    assert!(
        objects.iter().any(
            |o| matches!(o, Object::Namespace(ns) if ns.metadata.name.as_deref() == Some(NAMESPACE))
        ),
        "the base creates its namespace"
    );
    assert!(
        objects.iter().any(|o| matches!(o, Object::Crd(crd) if crd.metadata.name.as_deref() == Some("scalingpolicies.sextant.io"))),
        "the base installs the ScalingPolicy CRD"
    );
    for object in &objects {
        let namespace = object.meta().namespace.as_deref();
        if object.cluster_scoped() {
            assert_eq!(namespace, None, "{object:?}");
            continue;
        }
        // The one exception: it binds a Role that exists only in kube-system.
        let expected = match object {
            Object::RoleBinding(_) if object.name() == "sextant-adapter-auth-reader" => {
                "kube-system"
            }
            _ => NAMESPACE,
        };
        assert_eq!(namespace, Some(expected), "{object:?}");
    }
    Ok(())
}

#[test]
fn the_controller_runs_locked_down_probed_replicas_with_flags_it_accepts() -> TestResult {
    let Some(yaml) = kustomize("deploy")? else {
        return Ok(());
    };
    let objects = parse(&yaml)?;
    let deployment = objects
        .iter()
        .find_map(|o| match o {
            Object::Deployment(d) if d.metadata.name.as_deref() == Some("sextant-controller") => {
                Some(d)
            }
            _ => None,
        })
        .ok_or("no sextant-controller Deployment")?;
    let spec = deployment.spec.as_ref().ok_or("no spec")?;
    assert_eq!(spec.replicas, Some(2), "two replicas, one leader");
    let pod = spec.template.spec.as_ref().ok_or("no pod spec")?;
    assert_eq!(pod.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
    let [container] = pod.containers.as_slice() else {
        return Err("one container expected".into());
    };
    assert_locked_down(pod, container)?;
    let resources = container.resources.as_ref().ok_or("no resources")?;
    assert!(resources.requests.is_some() && resources.limits.is_some());

    let args = container.args.clone().unwrap_or_default();
    assert_eq!(args.first().map(String::as_str), Some("run"), "{args:?}");
    assert!(
        !args.iter().any(|a| a == "--leader-elect=false"),
        "two replicas need leader election: {args:?}"
    );
    let env: Vec<&str> = container
        .env
        .iter()
        .flatten()
        .map(|e| e.name.as_str())
        .collect();
    assert!(
        env.contains(&"POD_NAME") && env.contains(&"POD_NAMESPACE"),
        "the Lease needs both: {env:?}"
    );
    for arg in args.iter().skip(1).filter(|a| a.starts_with("--")) {
        let flag = arg.split_once('=').map_or(arg.as_str(), |(flag, _)| flag);
        assert!(
            RUN_FLAGS.contains(&flag),
            "`sextant-controller run` has no {flag}"
        );
    }

    // The probes and the metrics Service reach the ports the flags bind.
    let port_of = |flag: &str| {
        args.iter().find_map(|a| {
            a.strip_prefix(flag)?
                .strip_prefix("=:")?
                .parse::<i32>()
                .ok()
        })
    };
    let named_port = |name: &str| {
        container
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port)
    };
    assert_eq!(named_port("health"), port_of("--health-probe-bind-address"));
    assert_eq!(named_port("metrics"), port_of("--metrics-bind-address"));
    for (probe, path) in [
        (&container.liveness_probe, "/healthz"),
        (&container.readiness_probe, "/readyz"),
    ] {
        let get = probe.as_ref().and_then(|p| p.http_get.as_ref());
        assert_eq!(get.and_then(|g| g.path.as_deref()), Some(path));
        assert_eq!(
            get.map(|g| &g.port),
            Some(&IntOrString::String("health".to_owned()))
        );
    }
    let service = objects
        .iter()
        .find_map(|o| match o {
            Object::Service(s) if o.name() == "sextant-controller-metrics" => s.spec.as_ref(),
            _ => None,
        })
        .ok_or("no Service sextant-controller-metrics")?;
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.as_ref());
    let selector = service
        .selector
        .as_ref()
        .ok_or("the Service has no selector")?;
    assert!(
        selector
            .iter()
            .all(|(key, value)| labels.and_then(|l| l.get(key)) == Some(value)),
        "the Service selects the controller's pod"
    );
    assert!(
        service
            .ports
            .iter()
            .flatten()
            .any(|p| p.target_port == Some(IntOrString::String("metrics".to_owned()))),
        "the Service targets the metrics port"
    );
    Ok(())
}

#[test]
fn the_controller_rbac_allows_its_calls_and_nothing_broad() -> TestResult {
    let Some(yaml) = kustomize("deploy")? else {
        return Ok(());
    };
    let objects = parse(&yaml)?;
    let rules = cluster_rules_of(&objects, NAMESPACE, SERVICE_ACCOUNT);
    assert!(
        !rules.is_empty(),
        "no ClusterRole bound to {NAMESPACE}/{SERVICE_ACCOUNT}"
    );

    // The calls crates/scaling-controller/src/controller/*.rs makes.
    let needed = [
        ("sextant.io", "scalingpolicies", "list"),
        ("sextant.io", "scalingpolicies", "watch"),
        ("sextant.io", "scalingpolicies/status", "patch"),
        ("events.k8s.io", "events", "create"),
        ("events.k8s.io", "events", "patch"),
        ("apps", "deployments/scale", "get"),
        ("apps", "deployments/scale", "patch"),
        ("apps", "statefulsets/scale", "patch"),
        ("apps", "replicasets/scale", "patch"),
        ("", "replicationcontrollers/scale", "patch"),
        ("argoproj.io", "rollouts/scale", "patch"),
        ("", "pods", "list"),
        ("autoscaling", "horizontalpodautoscalers", "list"),
        (
            "custom.metrics.k8s.io",
            "pods/http_requests_per_second",
            "get",
        ),
        (
            "custom.metrics.k8s.io",
            "services/http_request_duration_p99_seconds",
            "get",
        ),
        ("external.metrics.k8s.io", "queue_depth", "list"),
    ];
    for (group, resource, verb) in needed {
        assert!(
            allows(&rules, group, resource, verb),
            "needs {verb} {group}/{resource}"
        );
    }
    // What it must not be able to do.
    let denied = [
        ("", "secrets", "get"),
        ("", "pods", "delete"),
        ("apps", "deployments", "patch"),
        ("apps", "deployments", "get"),
        ("sextant.io", "scalingpolicies", "patch"),
        ("sextant.io", "scalingpolicies", "delete"),
        ("rbac.authorization.k8s.io", "clusterroles", "get"),
        // Leases only through the namespaced Role below, never cluster-wide.
        ("coordination.k8s.io", "leases", "get"),
    ];
    for (group, resource, verb) in denied {
        assert!(
            !allows(&rules, group, resource, verb),
            "must not {verb} {group}/{resource}"
        );
    }
    for rule in &rules {
        let groups = rule.api_groups.as_deref().unwrap_or_default();
        let resources = rule.resources.as_deref().unwrap_or_default();
        assert!(
            !rule.verbs.iter().any(|v| v == "*"),
            "no `*` verbs: {rule:?}"
        );
        assert!(
            rule.non_resource_urls.is_none(),
            "discovery comes from system:discovery: {rule:?}"
        );
        if groups.iter().any(|g| g == "*") {
            assert_eq!(
                resources,
                ["*/scale"],
                "`*` groups only for */scale: {rule:?}"
            );
        }
        if resources.iter().any(|r| r == "*/scale") {
            assert!(
                rule.verbs.iter().all(|v| v == "get" || v == "patch"),
                "{rule:?}"
            );
        }
        if resources.iter().any(|r| r == "*") {
            // Any metric of the read-only metrics APIs; RBAC has no narrower wildcard for them.
            let metrics_only = groups
                .iter()
                .all(|g| g == "custom.metrics.k8s.io" || g == "external.metrics.k8s.io");
            assert!(
                metrics_only,
                "`*` resources only on the metrics APIs: {rule:?}"
            );
            assert!(
                rule.verbs.iter().all(|v| v == "get" || v == "list"),
                "{rule:?}"
            );
        }
    }
    Ok(())
}

#[test]
fn the_example_policy_passes_the_crd_rules_and_targets_the_example_app() -> TestResult {
    let (Some(base), Some(examples)) = (kustomize("deploy")?, kustomize("deploy/examples")?) else {
        return Ok(());
    };
    let crd = parse(&base)?
        .into_iter()
        .find_map(|o| match o {
            Object::Crd(crd) => Some(crd),
            _ => None,
        })
        .ok_or("no CRD in deploy/")?;
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .ok_or("the CRD has no schema")?;
    let schema = serde_json::to_value(schema)?;

    let objects = parse(&examples)?;
    let policies: Vec<&ScalingPolicy> = objects
        .iter()
        .filter_map(|o| match o {
            Object::ScalingPolicy(p) => Some(p.as_ref()),
            _ => None,
        })
        .collect();
    let [policy] = policies.as_slice() else {
        return Err(format!("one ScalingPolicy expected, found {}", policies.len()).into());
    };
    let object = serde_json::to_value(policy)?;
    if let Err(errors) = Validator::new().validate(&schema, &object, None) {
        let messages: Vec<String> = errors.into_iter().map(|e| e.to_string()).collect();
        return Err(format!("the API server would reject the example: {messages:?}").into());
    }

    let target = &policy.spec.scale_target_ref;
    let namespace = policy.metadata.namespace.as_deref();
    assert!(
        objects.iter().any(|o| matches!(o, Object::Deployment(d)
            if target.kind == "Deployment"
                && d.metadata.name.as_deref() == Some(target.name.as_str())
                && d.metadata.namespace.as_deref() == namespace)),
        "the policy's target {}/{} is the example Deployment in its namespace",
        target.kind,
        target.name
    );
    let pods = policy
        .spec
        .metrics
        .iter()
        .find_map(|m| m.pods.as_ref())
        .ok_or("no Pods metric")?;
    assert_eq!(pods.metric.name, "http_requests_per_second");
    let query = policy
        .spec
        .metrics
        .iter()
        .find_map(|m| m.external.as_ref().and_then(|e| e.query.as_deref()))
        .ok_or("no External query")?;
    assert!(query.contains("http_requests_total"), "{query}");
    assert!(
        objects.iter().any(
            |o| matches!(o, Object::Service(s) if s.metadata.name.as_deref() == Some("podinfo"))
        ),
        "the example app has a Service"
    );
    Ok(())
}

#[test]
fn leader_election_may_touch_only_its_own_lease_in_its_own_namespace() -> TestResult {
    let Some(yaml) = kustomize("deploy")? else {
        return Ok(());
    };
    let objects = parse(&yaml)?;
    let bound: Vec<String> = objects
        .iter()
        .filter_map(|o| match o {
            Object::RoleBinding(binding)
                if binding.metadata.namespace.as_deref() == Some(NAMESPACE)
                    && binding
                        .subjects
                        .iter()
                        .flatten()
                        .any(|s| s.kind == "ServiceAccount" && s.name == SERVICE_ACCOUNT) =>
            {
                Some(binding.role_ref.name.clone())
            }
            _ => None,
        })
        .collect();
    let rules: Vec<PolicyRule> = objects
        .iter()
        .filter_map(|o| match o {
            Object::Role(role)
                if bound
                    .iter()
                    .any(|b| Some(b.as_str()) == role.metadata.name.as_deref()) =>
            {
                role.rules.clone()
            }
            _ => None,
        })
        .flatten()
        .collect();
    let grants = |verb: &str, name: Option<&str>| {
        rules.iter().any(|rule| {
            rule.api_groups
                .iter()
                .flatten()
                .any(|g| g == "coordination.k8s.io")
                && rule.resources.iter().flatten().any(|r| r == "leases")
                && rule.verbs.iter().any(|v| v == verb)
                && match (&rule.resource_names, name) {
                    (None, _) => true,
                    (Some(names), Some(name)) => names.iter().any(|n| n == name),
                    (Some(_), None) => false,
                }
        })
    };
    assert!(grants("create", None), "creates the Lease");
    for verb in ["get", "update"] {
        assert!(
            grants(verb, Some("sextant-controller")),
            "{verb} its own Lease"
        );
        assert!(
            !grants(verb, Some("kube-scheduler")),
            "must not {verb} another component's Lease"
        );
    }
    assert!(!grants("delete", Some("sextant-controller")));
    Ok(())
}
