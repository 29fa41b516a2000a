//! The scaled workload: resolving `scaleTargetRef` to an API resource, reading its `/scale`,
//! and writing a new replica count guarded by the resourceVersion that was read.

use k8s_openapi::api::autoscaling::v1::Scale;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::{Api, Client};
use serde_json::json;

use crate::policy::ScaleTargetRef;
use crate::{Error, Result};

/// Workload kinds whose plural is known, so they need no discovery call.
const WELL_KNOWN: &[(&str, &str, &str)] = &[
    ("apps", "Deployment", "deployments"),
    ("apps", "StatefulSet", "statefulsets"),
    ("apps", "ReplicaSet", "replicasets"),
    ("", "ReplicationController", "replicationcontrollers"),
];

/// A workload's scale, as read.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScaleReading {
    /// `spec.replicas`.
    pub(super) desired: i32,
    /// `status.replicas`.
    pub(super) actual: i32,
    /// `status.selector`: the label selector of the workload's pods.
    pub(super) selector: String,
    /// The resourceVersion to guard the update with.
    pub(super) resource_version: Option<String>,
}

/// The `/scale` endpoint of one workload.
pub(super) struct ScaleTarget {
    api: Api<DynamicObject>,
    name: String,
}

fn group_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

impl ScaleTarget {
    /// Finds the workload's API resource: from the table of well-known kinds, else by discovery
    /// (so any resource with a scale subresource works).
    pub(super) async fn resolve(
        client: &Client,
        namespace: &str,
        target: &ScaleTargetRef,
    ) -> Result<Self> {
        let (group, version) = group_version(&target.api_version);
        let gvk = GroupVersionKind::gvk(group, version, &target.kind);
        let resource = match WELL_KNOWN
            .iter()
            .find(|(g, k, _)| *g == group && *k == target.kind)
        {
            Some((_, _, plural)) => ApiResource::from_gvk_with_plural(&gvk, plural),
            None => {
                let (resource, capabilities) = kube::discovery::pinned_kind(client, &gvk)
                    .await
                    .map_err(|source| Error::TargetNotFound {
                        target: describe(target),
                        reason: source.to_string(),
                    })?;
                if !capabilities.subresources.iter().any(|(sub, _)| {
                    sub.plural == format!("{}/scale", resource.plural) || sub.plural == "scale"
                }) {
                    return Err(Error::TargetNotFound {
                        target: describe(target),
                        reason: format!("{} has no scale subresource", resource.plural),
                    });
                }
                resource
            }
        };
        Ok(ScaleTarget {
            api: Api::namespaced_with(client.clone(), namespace, &resource),
            name: target.name.clone(),
        })
    }

    /// Reads `/scale`; a missing workload is [`Error::TargetNotFound`].
    pub(super) async fn read(&self, target: &ScaleTargetRef) -> Result<ScaleReading> {
        let scale: Scale =
            self.api
                .get_scale(&self.name)
                .await
                .map_err(|source| match &source {
                    kube::Error::Api(status) if status.code == 404 => Error::TargetNotFound {
                        target: describe(target),
                        reason: status.message.clone(),
                    },
                    _ => Error::Kube {
                        action: "reading the target's scale",
                        source,
                    },
                })?;
        Ok(ScaleReading {
            desired: scale.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0),
            actual: scale.status.as_ref().map_or(0, |s| s.replicas),
            selector: scale.status.and_then(|s| s.selector).unwrap_or_default(),
            resource_version: scale.metadata.resource_version,
        })
    }

    /// Sets `spec.replicas`, failing with a conflict if the scale changed since it was read.
    pub(super) async fn write(&self, reading: &ScaleReading, replicas: i32) -> Result<()> {
        let patch = json!({
            "metadata": {"resourceVersion": reading.resource_version},
            "spec": {"replicas": replicas},
        });
        self.api
            .patch_scale(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::Kube {
                action: "updating the target's scale",
                source,
            })?;
        Ok(())
    }
}

/// `Kind/name`, as the TARGET column shows a workload.
pub(super) fn describe(target: &ScaleTargetRef) -> String {
    format!("{}/{}", target.kind, target.name)
}

/// Whether two references name the same workload (same group, kind and name).
pub(super) fn same_workload(
    a: &ScaleTargetRef,
    b_api_version: Option<&str>,
    b_kind: &str,
    b_name: &str,
) -> bool {
    let group = |api_version: &str| group_version(api_version).0.to_owned();
    a.kind == b_kind
        && a.name == b_name
        && b_api_version.is_none_or(|v| group(v) == group(&a.api_version))
}
