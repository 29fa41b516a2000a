//! Rendering a kustomization with `kubectl kustomize` and parsing every object as its
//! concrete type, failing on unknown kinds and on fields the type does not know.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
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
    Crd(Box<CustomResourceDefinition>),
    ScalingPolicy(Box<ScalingPolicy>),
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// `kubectl kustomize DIR`, or `None` (after saying why) when kubectl is not installed.
pub(crate) fn kustomize(dir: &str) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let kubectl = std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into());
    let output = match Command::new(&kubectl)
        .arg("kustomize")
        .arg(repo_root().join(dir))
        .output()
    {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            eprintln!(
                "skipped: {} not found (install kubectl ≥ 1.21, or set KUBECTL to its path); \
                 no Debian package provides one recent enough to render {dir}",
                Path::new(&kubectl).display()
            );
            return Ok(None);
        }
        Err(error) => return Err(format!("running kubectl kustomize {dir}: {error}").into()),
    };
    if !output.status.success() {
        return Err(format!(
            "kubectl kustomize {dir} failed: {}",
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
