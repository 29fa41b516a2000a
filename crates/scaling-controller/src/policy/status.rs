//! What a ScalingPolicy reports: counts, the metrics it read, the history that keeps
//! stabilization going across restarts, and conditions whose types and reasons are constants.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use metrics_model::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MetricSourceType;
use crate::behavior::{ScaleEvent, TimestampedRecommendation};

/// The observed state of a ScalingPolicy, written by the controller with server-side apply.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ScalingPolicyStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The scaled workload as Kind/name, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The workload's replica count when last read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_replicas: Option<i32>,
    /// The replica count the controller last decided on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// When the controller last changed the workload's replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scale_time: Option<Time>,
    /// current/target of the metric whose proposal decided, e.g. `120/50 (http_requests_per_second)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_metric: Option<String>,
    /// The last reading of each metric, in spec order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub current_metrics: Vec<MetricStatus>,
    /// Recent recommendations, kept for the stabilization windows (bounded by the longest window).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub recommendations: Vec<TimestampedRecommendation>,
    /// Recent rescales, kept for the scaling policies' periods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub scale_events: Vec<ScaleEvent>,
    /// How many syncs in a row could read no metric; compared with `spec.fallback.failureThreshold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_metric_failures: Option<i32>,
    /// Ready, AbleToScale, ScalingActive and ScalingLimited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    pub conditions: Vec<Condition>,
}

/// One metric's last reading.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricStatus {
    /// Pods, Object or External.
    #[serde(rename = "type")]
    pub kind: MetricSourceType,
    /// The metric name, or `query` for a raw PromQL query.
    pub name: String,
    /// The value read (the per-pod average for Pods metrics and AverageValue targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Quantity>,
    /// The replica count this metric proposed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_replicas: Option<i32>,
    /// Why the metric could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Condition types and reasons, named once so that code, tests and docs agree.
pub mod conditions {
    /// The policy is valid, its target exists and nothing conflicts with it.
    pub const READY: &str = "Ready";
    /// The controller can read and update the target's scale subresource.
    pub const ABLE_TO_SCALE: &str = "AbleToScale";
    /// The metrics were read and drove the decision.
    pub const SCALING_ACTIVE: &str = "ScalingActive";
    /// The decision was cut by minReplicas, maxReplicas or a rate limit.
    pub const SCALING_LIMITED: &str = "ScalingLimited";

    /// Ready=False: an HPA or another ScalingPolicy targets the same workload.
    pub const REASON_CONFLICT: &str = "Conflict";
    /// Ready=False: the spec failed validation the schema could not express.
    pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
    /// AbleToScale=False: the target does not exist or has no scale subresource.
    pub const REASON_TARGET_NOT_FOUND: &str = "TargetNotFound";
    /// ScalingActive=False: metrics failed and `spec.fallback.replicas` is held.
    pub const REASON_FALLBACK_ACTIVE: &str = "FallbackActive";
    /// ScalingActive=False: metrics failed and the current count is held.
    pub const REASON_FAILED_GET_METRICS: &str = "FailedGetMetrics";
    /// ScalingActive=True: the metrics decided.
    pub const REASON_VALID_METRIC_FOUND: &str = "ValidMetricFound";
}
