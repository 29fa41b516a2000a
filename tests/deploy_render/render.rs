//! Rendering a kustomization with `kubectl kustomize` and parsing every object as its
//! concrete type, failing on unknown kinds and on fields the type does not know.
//! cert-manager's objects have no Rust type here; they are kept as JSON for the tests to check.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Resource;
use kube::core::DynamicObject;
use scaling_controller::policy::ScalingPolicy;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// One rendered object, as its concrete type.
#[derive(Debug)]
pub(crate) enum Object {
    Namespace(Box<Namespace>),
    ServiceAccount(Box<ServiceAccount>),
    ClusterRole(Box<ClusterRole>),
    ClusterRoleBinding(Box<ClusterRoleBinding>),
    Role(Box<Role>),
    RoleBinding(Box<RoleBinding>),
    Deployment(Box<Deployment>),
    Service(Box<Service>),
    ConfigMap(Box<ConfigMap>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    ApiService(Box<APIService>),
    Crd(Box<CustomResourceDefinition>),
    ScalingPolicy(Box<ScalingPolicy>),
    /// A `cert-manager.io/v1` Issuer or Certificate.
    CertManager(Box<CertManagerObject>),
}

/// A cert-manager object: its kind, metadata, and `spec` as JSON (cert-manager's types are not
/// k8s-openapi types, so unknown fields cannot be detected; the tests check the fields they
/// need).
#[derive(Debug)]
pub(crate) struct CertManagerObject {
    pub(crate) kind: String,
    pub(crate) metadata: ObjectMeta,
    pub(crate) spec: Value,
}

impl Object {
    /// The object's metadata.
    pub(crate) fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Namespace(o) => o.meta(),
            Object::ServiceAccount(o) => o.meta(),
            Object::ClusterRole(o) => o.meta(),
            Object::ClusterRoleBinding(o) => o.meta(),
            Object::Role(o) => o.meta(),
            Object::RoleBinding(o) => o.meta(),
            Object::Deployment(o) => o.meta(),
            Object::Service(o) => o.meta(),
            Object::ConfigMap(o) => o.meta(),
            Object::PodDisruptionBudget(o) => o.meta(),
            Object::ApiService(o) => o.meta(),
            Object::Crd(o) => o.meta(),
            Object::ScalingPolicy(o) => o.meta(),
            Object::CertManager(o) => &o.metadata,
        }
    }

    /// The object's name ("" when it has none).
    pub(crate) fn name(&self) -> &str {
        self.meta().name.as_deref().unwrap_or_default()
    }

    /// Whether the object's kind is cluster-scoped (it has no namespace).
    pub(crate) fn cluster_scoped(&self) -> bool {
        matches!(
            self,
            Object::Namespace(_)
                | Object::ClusterRole(_)
                | Object::ClusterRoleBinding(_)
                | Object::ApiService(_)
                | Object::Crd(_)
        )
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// `kubectl kustomize DIR` (relative to the repository root), or `None` (after saying why)
/// when kubectl is not installed.
pub(crate) fn kustomize(dir: &str) -> Result<Option<String>, Box<dyn std::error::Error>> {
    run_kustomize(&repo_root().join(dir), dir)
}

/// `kubectl kustomize` of a kustomization written by the test into a directory of its own
/// (`name`, under cargo's temporary directory), `{root}` in it standing for the repository
/// root: an overlay as a user would write one outside `deploy/`. kustomize refuses absolute
/// paths and overlays inside their base, so `{root}` becomes a relative path.
pub(crate) fn kustomize_with(
    name: &str,
    kustomization: &str,
) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir)?;
    let root = relative(&dir.canonicalize()?, &repo_root().canonicalize()?);
    let text = kustomization.replace("{root}", &root.to_string_lossy());
    std::fs::write(dir.join("kustomization.yaml"), text)?;
    run_kustomize(&dir, name)
}

/// The path from directory `from` to `to`, both absolute.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    path.extend(&to[common..]);
    path
}

/// A file of the repository, as text.
pub(crate) fn read_repo_file(path: &str) -> Result<String, Box<dyn std::error::Error>> {
    std::fs::read_to_string(repo_root().join(path)).map_err(|e| format!("{path}: {e}").into())
}

fn run_kustomize(dir: &Path, what: &str) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let output = match Command::new(&kubectl).arg("kustomize").arg(dir).output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            // The CI machine has kubectl (the adapter's `kubectl get --raw` test needs it too).
            if std::env::var_os("CI").is_some() {
                return Err(
                    format!("{} is missing under CI", Path::new(&kubectl).display()).into(),
                );
            }
            eprintln!(
                "skipped: {} not found (install kubectl ≥ 1.21, or set KUBECTL to its path); \
                 no Debian package provides one recent enough to render {what}",
                Path::new(&kubectl).display()
            );
            return Ok(None);
        }
        Err(error) => {
            return Err(format!("running kubectl kustomize {what}: {error}").into());
        }
    };
    if !output.status.success() {
        return Err(format!(
            "kubectl kustomize {what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(Some(String::from_utf8(output.stdout)?))
}

/// Where `parsed` (the typed object serialized back) lost or changed something of `original`:
/// a misspelt or misplaced field that the typed deserializer would silently ignore.
fn lost_fields(original: &Value, parsed: &Value, path: &str, lost: &mut Vec<String>) {
    match (original, parsed) {
        (Value::Object(original), Value::Object(parsed)) => {
            for (key, value) in original {
                match parsed.get(key) {
                    Some(other) => lost_fields(value, other, &format!("{path}.{key}"), lost),
                    None if value.is_null() => {}
                    None => lost.push(format!("{path}.{key}")),
                }
            }
        }
        (Value::Array(original), Value::Array(parsed)) if original.len() == parsed.len() => {
            for (index, (value, other)) in original.iter().zip(parsed).enumerate() {
                lost_fields(value, other, &format!("{path}[{index}]"), lost);
            }
        }
        // JSON Schema bounds are f64 in k8s-openapi: 1 and 1.0 are the same bound.
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (original, parsed) if original != parsed => {
            lost.push(format!("{path}: {original} became {parsed}"));
        }
        _ => {}
    }
}

/// Deserializes `value` as `T` and fails if any field did not survive the round trip.
fn typed<T: DeserializeOwned + Serialize>(
    value: &Value,
    what: &str,
) -> Result<Box<T>, Box<dyn std::error::Error>> {
    let object: T = serde_json::from_value(value.clone()).map_err(|e| format!("{what}: {e}"))?;
    let mut lost = Vec::new();
    lost_fields(value, &serde_json::to_value(&object)?, "", &mut lost);
    if !lost.is_empty() {
        return Err(format!("{what}: fields the type does not know: {lost:?}").into());
    }
    Ok(Box::new(object))
}

/// Splits kustomize's multi-document output and parses each document by its kind.
pub(crate) fn parse(yaml: &str) -> Result<Vec<Object>, Box<dyn std::error::Error>> {
    let mut objects = Vec::new();
    for document in yaml_serde::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        let dynamic: DynamicObject = serde_json::from_value(value.clone())?;
        let types = dynamic.types.ok_or("an object without apiVersion/kind")?;
        let what = format!(
            "{} {}/{}",
            types.kind,
            dynamic.metadata.namespace.as_deref().unwrap_or("-"),
            dynamic.metadata.name.as_deref().unwrap_or("?")
        );
        let object = match (types.api_version.as_str(), types.kind.as_str()) {
            ("v1", "Namespace") => Object::Namespace(typed(&value, &what)?),
            ("v1", "ServiceAccount") => Object::ServiceAccount(typed(&value, &what)?),
            ("v1", "Service") => Object::Service(typed(&value, &what)?),
            ("v1", "ConfigMap") => Object::ConfigMap(typed(&value, &what)?),
            ("policy/v1", "PodDisruptionBudget") => {
                Object::PodDisruptionBudget(typed(&value, &what)?)
            }
            ("apiregistration.k8s.io/v1", "APIService") => {
                Object::ApiService(typed(&value, &what)?)
            }
            ("cert-manager.io/v1", kind @ ("Issuer" | "Certificate")) => {
                let spec = value.get("spec").cloned().unwrap_or(Value::Null);
                if !spec.is_object() {
                    return Err(format!("{what}: no spec").into());
                }
                if dynamic.metadata.namespace.is_none() {
                    return Err(format!("{what}: a namespaced {kind} without a namespace").into());
                }
                Object::CertManager(Box::new(CertManagerObject {
                    kind: kind.to_owned(),
                    metadata: dynamic.metadata.clone(),
                    spec,
                }))
            }
            ("apps/v1", "Deployment") => Object::Deployment(typed(&value, &what)?),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                Object::ClusterRole(typed(&value, &what)?)
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                Object::ClusterRoleBinding(typed(&value, &what)?)
            }
            ("rbac.authorization.k8s.io/v1", "Role") => Object::Role(typed(&value, &what)?),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
                Object::RoleBinding(typed(&value, &what)?)
            }
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                Object::Crd(typed(&value, &what)?)
            }
            ("sextant.io/v1alpha1", "ScalingPolicy") => {
                Object::ScalingPolicy(typed(&value, &what)?)
            }
            (api_version, kind) => {
                return Err(format!("{what}: unexpected {api_version} {kind}").into());
            }
        };
        objects.push(object);
    }
    Ok(objects)
}
