//! The adapter's objects in `deploy/`, and the helpers the `adapter_*` test modules share. Here:
//! a locked-down Deployment whose flags the adapter's own command line accepts, that takes its
//! CAs from the cluster, and whose files are mounted where the flags point from volumes that
//! exist after the install, probed on the health paths, spread and budgeted, behind its
//! Service. `adapter_tls.rs`: the APIServices and their certificates; `adapter_rules.rs`: the
//! rules ConfigMap and the e2e Prometheus; `adapter_rbac.rs`: RBAC for the adapter and the HPA.

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use metrics_adapter::options::Options;
use serde_json::Value;

use crate::render::{CertManagerObject, Object, kustomize, parse};
use crate::{NAMESPACE, TestResult, assert_locked_down};

pub(crate) const ADAPTER: &str = "sextant-adapter";
/// The Secret holding the serving certificate, written by cert-manager or the script.
pub(crate) const SERVING_CERT: &str = "sextant-adapter-serving-cert";
pub(crate) const RULES: &str = "sextant-adapter-config";
pub(crate) const INJECT_CA_FROM: &str = "cert-manager.io/inject-ca-from";
/// Name, group, version and versionPriority of each APIService.
pub(crate) const API_SERVICES: [(&str, &str, &str, i32); 3] = [
    (
        "v1beta2.custom.metrics.k8s.io",
        "custom.metrics.k8s.io",
        "v1beta2",
        200,
    ),
    (
        "v1beta1.custom.metrics.k8s.io",
        "custom.metrics.k8s.io",
        "v1beta1",
        100,
    ),
    (
        "v1beta1.external.metrics.k8s.io",
        "external.metrics.k8s.io",
        "v1beta1",
        100,
    ),
];

/// The rendered base, or `None` when kubectl is missing.
pub(crate) fn base() -> Result<Option<Vec<Object>>, Box<dyn std::error::Error>> {
    kustomize("deploy")?.map(|yaml| parse(&yaml)).transpose()
}

pub(crate) fn deployment(objects: &[Object]) -> Result<&Deployment, Box<dyn std::error::Error>> {
    objects
        .iter()
        .find_map(|o| match o {
            Object::Deployment(d) if o.name() == ADAPTER => Some(d.as_ref()),
            _ => None,
        })
        .ok_or_else(|| "no sextant-adapter Deployment".into())
}

pub(crate) fn pod_and_container(deployment: &Deployment) -> Result<(&PodSpec, &Container), String> {
    let pod = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .ok_or("no pod spec")?;
    match pod.containers.as_slice() {
        [container] => Ok((pod, container)),
        _ => Err("one container expected".to_owned()),
    }
}

pub(crate) fn api_services(objects: &[Object]) -> Vec<&APIService> {
    objects
        .iter()
        .filter_map(|o| match o {
            Object::ApiService(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect()
}

pub(crate) fn cert_manager<'a>(
    objects: &'a [Object],
    kind: &str,
    name: &str,
) -> Option<&'a CertManagerObject> {
    objects.iter().find_map(|o| match o {
        Object::CertManager(c) if c.kind == kind && o.name() == name => Some(c.as_ref()),
        _ => None,
    })
}

/// The string at `pointer` (a JSON pointer) in `value`.
pub(crate) fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The container's mount of the volume whose source `source` picks (a Secret or ConfigMap
/// name), as (mount path, subPath).
pub(crate) fn mount_of<'a>(
    pod: &'a PodSpec,
    container: &'a Container,
    source: impl Fn(&Volume) -> Option<&str>,
    name: &str,
) -> Option<(&'a str, Option<&'a str>)> {
    let volume = pod
        .volumes
        .iter()
        .flatten()
        .find(|v| source(v) == Some(name))?;
    container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == volume.name)
        .map(|m| (m.mount_path.as_str(), m.sub_path.as_deref()))
}

pub(crate) fn secret(volume: &Volume) -> Option<&str> {
    volume.secret.as_ref()?.secret_name.as_deref()
}

pub(crate) fn config_map(volume: &Volume) -> Option<&str> {
    Some(volume.config_map.as_ref()?.name.as_str())
}

/// Whether `file` lies directly in the directory `dir`.
pub(crate) fn directly_in(file: Option<&Path>, dir: Option<(&str, Option<&str>)>) -> bool {
    match (file.and_then(Path::parent), dir) {
        (Some(parent), Some((mount, None))) => parent == Path::new(mount),
        _ => false,
    }
}

/// Every volume of the pod exists once the objects are applied and the serving certificate is
/// issued (by cert-manager or `without-cert-manager.sh`): an emptyDir, the Secret
/// [`SERVING_CERT`], or a ConfigMap among `objects`. A volume of anything else leaves the pod
/// in `ContainerCreating`.
pub(crate) fn assert_volumes_exist(objects: &[Object], pod: &PodSpec) {
    for volume in pod.volumes.iter().flatten() {
        let exists = volume.empty_dir.is_some()
            || secret(volume) == Some(SERVING_CERT)
            || config_map(volume).is_some_and(|name| {
                objects
                    .iter()
                    .any(|o| matches!(o, Object::ConfigMap(_)) && o.name() == name)
            });
        assert!(
            exists,
            "volume {} has no source after the install: {volume:?}",
            volume.name
        );
    }
}

/// The probe's HTTPS GET path and port.
pub(crate) fn https_get(probe: Option<&Probe>) -> Option<(&str, &IntOrString)> {
    let get = probe?.http_get.as_ref()?;
    (get.scheme.as_deref() == Some("HTTPS")).then_some((get.path.as_deref()?, &get.port))
}

#[test]
fn the_adapter_runs_locked_down_with_flags_it_accepts_and_files_where_they_point() -> TestResult {
    let Some(objects) = base()? else {
        return Ok(());
    };
    let deployment = deployment(&objects)?;
    let spec = deployment.spec.as_ref().ok_or("no spec")?;
    assert_eq!(spec.replicas, Some(2), "two replicas behind the Service");
    let (pod, container) = pod_and_container(deployment)?;
    assert_eq!(pod.service_account_name.as_deref(), Some(ADAPTER));
    assert_locked_down(pod, container)?;
    assert_eq!(container.image.as_deref(), Some("sextant-adapter:0.1.0"));

    let resources = container.resources.as_ref().ok_or("no resources")?;
    let quantity = |map: &Option<BTreeMap<String, Quantity>>, key: &str| {
        map.as_ref().and_then(|m| m.get(key)).map(|q| q.0.clone())
    };
    assert_eq!(
        quantity(&resources.requests, "cpu").as_deref(),
        Some("100m")
    );
    assert_eq!(
        quantity(&resources.requests, "memory").as_deref(),
        Some("64Mi")
    );
    assert_eq!(
        quantity(&resources.limits, "memory").as_deref(),
        Some("256Mi")
    );

    // The adapter's own command line parses the args, so every flag exists and every value is
    // well-formed (durations, ports, paired TLS flags).
    let args = container.args.clone().unwrap_or_default();
    let options = Options::try_parse_from(std::iter::once(ADAPTER.to_owned()).chain(args.clone()))
        .map_err(|e| format!("sextant-adapter rejects the Deployment's args: {e}"))?;
    assert!(
        !options.authorization_always_allow,
        "requests must be authorized by SubjectAccessReview"
    );
    assert_eq!(options.secure_port, 6443);
    assert_eq!(
        options.prometheus_url,
        "http://prometheus.monitoring.svc:9090"
    );
    assert_eq!(options.metrics_relist_interval.as_secs(), 30);
    assert_eq!(options.query_timeout.as_secs(), 10);
    // The CAs, allowed names and header names come from the API server's ConfigMap, followed
    // through rotation (crates/metrics-adapter/src/auth/delegated.rs): a CA file flag would pin
    // the CA until a restart, and without the CA file the other --requestheader-* flags are
    // ignored, so none of them belongs here.
    assert_eq!(options.requestheader_client_ca_file, None);
    assert_eq!(options.client_ca_file, None);
    let ignored: Vec<&String> = args
        .iter()
        .filter(|a| a.starts_with("--requestheader-"))
        .collect();
    assert!(ignored.is_empty(), "ignored without a CA file: {ignored:?}");
    // The in-cluster connection makes the reviews and reads the ConfigMap: the pod needs its
    // ServiceAccount token.
    assert_eq!(options.kubeconfig, None);
    assert_ne!(pod.automount_service_account_token, Some(false));
    let account = objects
        .iter()
        .find_map(|o| match o {
            Object::ServiceAccount(a) if o.name() == ADAPTER => Some(a),
            _ => None,
        })
        .ok_or("no sextant-adapter ServiceAccount")?;
    assert_eq!(account.metadata.namespace.as_deref(), Some(NAMESPACE));
    assert!(
        pod.automount_service_account_token == Some(true)
            || account.automount_service_account_token != Some(false),
        "the ServiceAccount's token is mounted"
    );

    // Each file flag points into the directory a volume is mounted at, whole (a subPath mount
    // would never see updates).
    let serving = mount_of(pod, container, secret, SERVING_CERT);
    assert!(
        directly_in(options.tls_cert_file.as_deref(), serving)
            && directly_in(options.tls_private_key_file.as_deref(), serving),
        "--tls-cert-file and --tls-private-key-file lie in the mount of Secret {SERVING_CERT}: \
         {serving:?}"
    );
    assert_eq!(
        options.tls_cert_file.as_deref().and_then(Path::file_name),
        Some("tls.crt".as_ref()),
        "a kubernetes.io/tls Secret's certificate key"
    );
    assert_eq!(
        options
            .tls_private_key_file
            .as_deref()
            .and_then(Path::file_name),
        Some("tls.key".as_ref())
    );
    let rules = mount_of(pod, container, config_map, RULES);
    assert!(
        directly_in(options.config.as_deref(), rules),
        "--config lies in the directory mount of ConfigMap {RULES}: {rules:?}"
    );
    let config_key = options
        .config
        .as_deref()
        .and_then(Path::file_name)
        .and_then(|n| n.to_str())
        .ok_or("no --config")?;
    let config_map = objects
        .iter()
        .find_map(|o| match o {
            Object::ConfigMap(c) if o.name() == RULES => Some(c),
            _ => None,
        })
        .ok_or("no rules ConfigMap")?;
    assert!(
        config_map
            .data
            .as_ref()
            .is_some_and(|d| d.contains_key(config_key)),
        "the ConfigMap has the key --config names ({config_key})"
    );
    assert_volumes_exist(&objects, pod);
    let tmp = pod.volumes.iter().flatten().find(|v| v.empty_dir.is_some());
    assert!(
        tmp.is_some_and(|v| container
            .volume_mounts
            .iter()
            .flatten()
            .any(|m| m.name == v.name && m.mount_path == "/tmp")),
        "an emptyDir at /tmp (the root filesystem is read-only)"
    );

    // Probes: HTTPS on the port --secure-port binds; the health paths need no authentication.
    let https = container
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("https"))
        .ok_or("no port named https")?;
    assert_eq!(https.container_port, i32::from(options.secure_port));
    let on_https = |port: &IntOrString| match port {
        IntOrString::String(name) => name == "https",
        IntOrString::Int(number) => *number == https.container_port,
    };
    for (probe, paths) in [
        (&container.liveness_probe, &["/livez", "/healthz"][..]),
        (&container.readiness_probe, &["/readyz"][..]),
        (
            &container.startup_probe,
            &["/livez", "/healthz", "/readyz"][..],
        ),
    ] {
        let (path, port) = https_get(probe.as_ref()).ok_or("a probe without an HTTPS GET")?;
        assert!(
            paths.contains(&path),
            "probe path {path}, expected one of {paths:?}"
        );
        assert!(on_https(port), "probe on {port:?}");
    }

    // Spread over nodes, and at most one replica down voluntarily.
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let selects_pod = |selector: Option<&BTreeMap<String, String>>| {
        selector.is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
    };
    let preferred = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .and_then(|a| {
            a.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .ok_or("no preferred podAntiAffinity")?;
    assert!(
        preferred.iter().any(|term| {
            let term = &term.pod_affinity_term;
            term.topology_key == "kubernetes.io/hostname"
                && selects_pod(
                    term.label_selector
                        .as_ref()
                        .and_then(|s| s.match_labels.as_ref()),
                )
        }),
        "anti-affinity across nodes for the adapter's own pods"
    );
    let budget = objects
        .iter()
        .find_map(|o| match o {
            Object::PodDisruptionBudget(p) if o.name() == ADAPTER => p.spec.as_ref(),
            _ => None,
        })
        .ok_or("no PodDisruptionBudget")?;
    assert_eq!(budget.min_available, Some(IntOrString::Int(1)));
    assert!(selects_pod(
        budget
            .selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
    ));

    // The Service the APIServices name reaches the https port.
    let service = objects
        .iter()
        .find_map(|o| match o {
            Object::Service(s) if o.name() == ADAPTER => s.spec.as_ref(),
            _ => None,
        })
        .ok_or("no sextant-adapter Service")?;
    assert!(selects_pod(service.selector.as_ref()));
    let port = service
        .ports
        .iter()
        .flatten()
        .find(|p| p.port == 443)
        .ok_or("no Service port 443")?;
    assert_eq!(port.name.as_deref(), Some("https"));
    assert!(port.target_port.as_ref().is_some_and(on_https));
    Ok(())
}
