//! The `ScalingPolicy` custom resource (`sextant.io/v1alpha1`, short name `sp`): what to scale,
//! within which bounds, on which metrics, how fast, and what to hold when metrics fail.
//!
//! The schema is generated from these types (`sextant-controller crdgen` writes
//! `crds/scalingpolicies.sextant.io.yaml`); the doc comments become the field descriptions that
//! `kubectl explain scalingpolicy.spec` shows, and the CEL rules reject inconsistent objects at
//! apply time, before the controller ever sees them.

use kube::{CustomResource, CustomResourceExt, KubeSchema};
use metrics_model::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::behavior::HorizontalPodAutoscalerBehavior;

pub mod status;

pub use status::{MetricStatus, ScalingPolicyStatus};

/// The file name `crdgen` output is checked in as, under `crds/`.
pub const CRD_FILE: &str = "scalingpolicies.sextant.io.yaml";

/// Scales one workload on service metrics with the HPA's algorithm, plus raw PromQL triggers,
/// a fallback when metrics fail, and stabilization that survives controller restarts.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sextant.io",
    version = "v1alpha1",
    kind = "ScalingPolicy",
    doc = "A ScalingPolicy scales one workload on service metrics with the HPA's algorithm.",
    plural = "scalingpolicies",
    shortname = "sp",
    namespaced,
    status = "ScalingPolicyStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".status.target","description":"Kind/name of the scaled workload"}"#,
    printcolumn = r#"{"name":"Min","type":"integer","jsonPath":".spec.minReplicas"}"#,
    printcolumn = r#"{"name":"Max","type":"integer","jsonPath":".spec.maxReplicas"}"#,
    printcolumn = r#"{"name":"Replicas","type":"integer","jsonPath":".status.currentReplicas"}"#,
    printcolumn = r#"{"name":"Desired","type":"integer","jsonPath":".status.desiredReplicas"}"#,
    printcolumn = r#"{"name":"Metric","type":"string","jsonPath":".status.decidingMetric","description":"current/target of the metric that decided"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    validation = Rule::new("!has(self.spec.minReplicas) || self.spec.minReplicas <= self.spec.maxReplicas").message("spec.minReplicas must not exceed spec.maxReplicas"),
    validation = Rule::new("!has(self.spec.minReplicas) || self.spec.minReplicas > 0 || self.spec.metrics.exists(m, m.type != 'Pods')").message("spec.minReplicas 0 (scale to zero) needs at least one Object or External metric"),
    validation = Rule::new("!has(self.spec.fallback) || self.spec.fallback.replicas <= self.spec.maxReplicas").message("spec.fallback.replicas must not exceed spec.maxReplicas")
)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicySpec {
    /// The workload to scale: any resource with a scale subresource (Deployment, StatefulSet,
    /// ReplicaSet, or a custom resource).
    pub scale_target_ref: ScaleTargetRef,
    /// The lowest replica count (default 1). 0 lets Object and External metrics scale the
    /// workload to zero and back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub min_replicas: Option<i32>,
    /// The highest replica count.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// The metrics to scale on. Each proposes a replica count; the largest wins, as in the HPA.
    #[schemars(length(min = 1, max = 16))]
    pub metrics: Vec<MetricSpec>,
    /// How fast to scale in each direction: the autoscaling/v2 HPA behavior fields (and their
    /// defaults), plus a per-direction `tolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
    /// The relative change of the usage ratio ignored in both directions (default "0.1"),
    /// overridden per direction by `behavior.scaleUp.tolerance` and `behavior.scaleDown.tolerance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Quantity>,
    /// How often to re-evaluate, in seconds (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 3600))]
    pub sync_period_seconds: Option<i32>,
    /// What to hold when the metrics cannot be read. Without it the current count is held, as
    /// the HPA does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
}

/// Names the scaled workload, as an HPA's `scaleTargetRef` does.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// API version of the workload, e.g. `apps/v1`.
    #[schemars(length(min = 1, max = 253))]
    pub api_version: String,
    /// Kind of the workload, e.g. `Deployment`.
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// Name of the workload, in the policy's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Which kind of metric a [`MetricSpec`] holds.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricSourceType {
    /// A per-pod metric from custom.metrics.k8s.io, averaged over the target's pods.
    Pods,
    /// A metric describing one Kubernetes object, from custom.metrics.k8s.io.
    Object,
    /// A metric not tied to any object: by name from external.metrics.k8s.io, or a raw PromQL
    /// query sent straight to the store.
    External,
}

/// One metric to scale on: `type` names which of `pods`, `object` or `external` is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'Pods' ? (has(self.pods) && !has(self.object) && !has(self.external)) : self.type == 'Object' ? (has(self.object) && !has(self.pods) && !has(self.external)) : (has(self.external) && !has(self.pods) && !has(self.object))").message("exactly the field named by type (pods, object or external) must be set"))]
pub struct MetricSpec {
    /// The kind of metric: Pods, Object or External.
    #[serde(rename = "type")]
    pub kind: MetricSourceType,
    /// Set when type is Pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<PodsMetricSource>,
    /// Set when type is Object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectMetricSource>,
    /// Set when type is External.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalMetricSource>,
}

/// A per-pod metric, averaged over the target's pods and compared with an AverageValue target.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.target.type == 'AverageValue'").message("a Pods metric needs an AverageValue target"))]
pub struct PodsMetricSource {
    /// The metric, as custom.metrics.k8s.io serves it for pods.
    pub metric: MetricIdentifier,
    /// The per-pod average to hold.
    pub target: MetricTarget,
}

/// A metric of one Kubernetes object in the policy's namespace (a Service's p99 latency, an
/// Ingress's request rate).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMetricSource {
    /// The object the metric describes.
    pub described_object: ScaleTargetRef,
    /// The metric, as custom.metrics.k8s.io serves it for that object's resource.
    pub metric: MetricIdentifier,
    /// A Value target (compared with the object's value, scaled by ready pods) or an
    /// AverageValue target (the value divided over the replicas).
    pub target: MetricTarget,
}

/// A metric from outside the cluster: by name through external.metrics.k8s.io, or a raw PromQL
/// `query` (no adapter rule needed; confined to the policy's namespace unless the controller
/// allows otherwise).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.metric) != has(self.query)").message("exactly one of metric or query must be set"))]
pub struct ExternalMetricSource {
    /// The metric, as external.metrics.k8s.io serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricIdentifier>,
    /// A PromQL instant query whose result (summed over series) is the metric's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 4096))]
    pub query: Option<String>,
    /// The value (Value) or per-replica value (AverageValue) to hold.
    pub target: MetricTarget,
}

/// Names a metric served by the metrics APIs, optionally narrowed by its labels.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricIdentifier {
    /// The metric name, e.g. `http_requests_per_second`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Narrows the metric's series by their labels (the API's `metricLabelSelector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,
}

/// How a target is expressed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricTargetType {
    /// Hold the metric's value itself at `value`.
    Value,
    /// Hold the metric's value per replica at `averageValue`.
    AverageValue,
}

/// The value a metric should be held at; `type` names which of `value` or `averageValue` is set.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.type == 'Value' ? (has(self.value) && !has(self.averageValue)) : (has(self.averageValue) && !has(self.value))").message("exactly the field named by type (value or averageValue) must be set"))]
pub struct MetricTarget {
    /// Value or AverageValue.
    #[serde(rename = "type")]
    pub kind: MetricTargetType,
    /// The target value, a quantity such as "250m" or "50"; set when type is Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Quantity>,
    /// The target value per replica; set when type is AverageValue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_value: Option<Quantity>,
}

/// What to hold when metrics fail repeatedly.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Fallback {
    /// How many consecutive syncs in which every metric failed before falling back.
    #[schemars(range(min = 1))]
    pub failure_threshold: i32,
    /// The replica count to hold while the metrics stay unavailable.
    #[schemars(range(min = 0))]
    pub replicas: i32,
}

/// The CRD as YAML, exactly what `crds/scalingpolicies.sextant.io.yaml` holds.
pub fn crd_yaml() -> Result<String, yaml_serde::Error> {
    yaml_serde::to_string(&ScalingPolicy::crd())
}

#[cfg(test)]
mod tests;
