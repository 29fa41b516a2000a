//! How fast a target may scale: the autoscaling/v2 `HorizontalPodAutoscalerBehavior` API types
//! (also embedded in the ScalingPolicy spec), their defaults, and the two steps the HPA applies
//! after the metrics have proposed a count: stabilization windows and scaling-policy rate limits.
//!
//! The API types mirror `k8s.io/api/autoscaling/v2` field for field, including the per-direction
//! `tolerance` of KEP-4951. [`HorizontalPodAutoscalerBehavior::resolve`] fills in the defaults of
//! `pkg/apis/autoscaling/v2/defaults.go` and validates the result, giving a [`Behavior`] whose
//! every field is set; [`normalize`] then applies it exactly as the HPA's
//! `normalizeDesiredReplicasWithBehaviors` does.

mod stabilization;

use metrics_model::Quantity;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use stabilization::{
    Bounds, LimitReason, Normalized, ScaleEvent, TimestampedRecommendation, limit_rate, normalize,
    stabilize,
};

/// The scale-down stabilization window when none is given: the HPA controller's
/// `--horizontal-pod-autoscaler-downscale-stabilization` default of five minutes.
pub const DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS: i32 = 300;
/// The scale-up stabilization window when none is given (autoscaling/v2 default).
pub const DEFAULT_SCALE_UP_STABILIZATION_SECONDS: i32 = 0;
/// The tolerance the HPA controller applies in both directions unless told otherwise.
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// The longest stabilization window the autoscaling/v2 API accepts (one hour).
pub const MAX_STABILIZATION_WINDOW_SECONDS: i32 = 3600;
/// The longest policy period the autoscaling/v2 API accepts (30 minutes).
pub const MAX_POLICY_PERIOD_SECONDS: i32 = 1800;

/// autoscaling/v2 `HorizontalPodAutoscalerBehavior`: scaling rules per direction; an absent
/// direction takes the autoscaling/v2 defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HorizontalPodAutoscalerBehavior {
    /// Rules for scaling up (default: no stabilization, the larger of 4 pods or 100% per 15 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_up: Option<HpaScalingRules>,
    /// Rules for scaling down (default: a 300 s stabilization window, 100% per 15 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<HpaScalingRules>,
}

/// autoscaling/v2 `HPAScalingRules`: one direction's window, policies and tolerance; every unset
/// field takes its default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HpaScalingRules {
    /// How many seconds of past recommendations to consider (0–3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub stabilization_window_seconds: Option<i32>,
    /// Which policy wins when several apply (default `Max`); `Disabled` forbids this direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_policy: Option<ScalingPolicySelect>,
    /// Rate limits; at least one when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policies: Option<Vec<HpaScalingPolicy>>,
    /// Relative change of the usage ratio ignored in this direction (KEP-4951), e.g. `"0.05"`;
    /// default: the controller-wide tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<Quantity>,
}

/// autoscaling/v2 `ScalingPolicySelect`: how several policies combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ScalingPolicySelect {
    /// The policy allowing the largest change wins.
    Max,
    /// The policy allowing the smallest change wins.
    Min,
    /// No scaling in this direction at all.
    Disabled,
}

/// autoscaling/v2 `HPAScalingPolicy`: at most `value` pods or percent per `periodSeconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HpaScalingPolicy {
    /// Whether `value` counts pods or percent of the count at the start of the period.
    #[serde(rename = "type")]
    pub kind: HpaScalingPolicyType,
    /// The allowed change per period; greater than zero.
    #[schemars(range(min = 1))]
    pub value: i32,
    /// The length of the period in seconds (1–1800).
    #[schemars(range(min = 1, max = 1800))]
    pub period_seconds: i32,
}

/// autoscaling/v2 `HPAScalingPolicyType`: the unit of a policy's `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HpaScalingPolicyType {
    /// An absolute number of pods.
    Pods,
    /// A percentage of the replica count at the start of the period.
    Percent,
}

/// Behavior with every default filled in and validated: what [`normalize`] works on.
#[derive(Debug, Clone, PartialEq)]
pub struct Behavior {
    /// Resolved rules for scaling up.
    pub scale_up: ScalingRules,
    /// Resolved rules for scaling down.
    pub scale_down: ScalingRules,
}

/// One direction's resolved rules: every field set, as the API server's defaulting leaves them.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingRules {
    /// The stabilization window in seconds.
    pub stabilization_window_seconds: i32,
    /// How the policies combine.
    pub select_policy: ScalingPolicySelect,
    /// The rate limits (non-empty).
    pub policies: Vec<HpaScalingPolicy>,
    /// The per-direction tolerance, when the behavior overrides the controller-wide one.
    pub tolerance: Option<f64>,
}

impl ScalingRules {
    /// The autoscaling/v2 default scale-up rules: 0 s window, the larger of 4 pods or 100% per 15 s.
    pub fn default_scale_up() -> Self {
        ScalingRules {
            stabilization_window_seconds: DEFAULT_SCALE_UP_STABILIZATION_SECONDS,
            select_policy: ScalingPolicySelect::Max,
            policies: vec![
                HpaScalingPolicy {
                    kind: HpaScalingPolicyType::Pods,
                    value: 4,
                    period_seconds: 15,
                },
                HpaScalingPolicy {
                    kind: HpaScalingPolicyType::Percent,
                    value: 100,
                    period_seconds: 15,
                },
            ],
            tolerance: None,
        }
    }

    /// The autoscaling/v2 default scale-down rules: 300 s window, 100% per 15 s.
    pub fn default_scale_down() -> Self {
        ScalingRules {
            stabilization_window_seconds: DEFAULT_SCALE_DOWN_STABILIZATION_SECONDS,
            select_policy: ScalingPolicySelect::Max,
            policies: vec![HpaScalingPolicy {
                kind: HpaScalingPolicyType::Percent,
                value: 100,
                period_seconds: 15,
            }],
            tolerance: None,
        }
    }

    /// Overlays the fields `rules` sets on `self`, as `copyHPAScalingRules` does, and validates
    /// them as `validateScalingRules` does; `field` names the direction in errors.
    fn overlay(mut self, rules: &HpaScalingRules, field: &str) -> Result<Self> {
        if let Some(window) = rules.stabilization_window_seconds {
            if !(0..=MAX_STABILIZATION_WINDOW_SECONDS).contains(&window) {
                return Err(Error::invalid(
                    format!("{field}.stabilizationWindowSeconds"),
                    format!(
                        "must be between 0 and {MAX_STABILIZATION_WINDOW_SECONDS}, got {window}"
                    ),
                ));
            }
            self.stabilization_window_seconds = window;
        }
        if let Some(select) = rules.select_policy {
            self.select_policy = select;
        }
        if let Some(policies) = &rules.policies {
            if policies.is_empty() {
                return Err(Error::invalid(
                    format!("{field}.policies"),
                    "must specify at least one policy",
                ));
            }
            for (index, policy) in policies.iter().enumerate() {
                if policy.value <= 0 {
                    return Err(Error::invalid(
                        format!("{field}.policies[{index}].value"),
                        format!("must be greater than zero, got {}", policy.value),
                    ));
                }
                if !(1..=MAX_POLICY_PERIOD_SECONDS).contains(&policy.period_seconds) {
                    return Err(Error::invalid(
                        format!("{field}.policies[{index}].periodSeconds"),
                        format!(
                            "must be between 1 and {MAX_POLICY_PERIOD_SECONDS}, got {}",
                            policy.period_seconds
                        ),
                    ));
                }
            }
            self.policies.clone_from(policies);
        }
        if let Some(tolerance) = &rules.tolerance {
            let value = tolerance.as_f64();
            if value < 0.0 {
                return Err(Error::invalid(
                    format!("{field}.tolerance"),
                    format!("must be greater than or equal to 0, got {tolerance}"),
                ));
            }
            self.tolerance = Some(value);
        }
        Ok(self)
    }
}

impl Default for Behavior {
    /// The autoscaling/v2 defaults for both directions.
    fn default() -> Self {
        Behavior {
            scale_up: ScalingRules::default_scale_up(),
            scale_down: ScalingRules::default_scale_down(),
        }
    }
}

impl HorizontalPodAutoscalerBehavior {
    /// Fills every unset field with its autoscaling/v2 default and validates the result, so the
    /// controller and `recommend` decide with the same fully specified rules.
    pub fn resolve(&self) -> Result<Behavior> {
        let mut behavior = Behavior::default();
        if let Some(up) = &self.scale_up {
            behavior.scale_up = behavior.scale_up.overlay(up, "behavior.scaleUp")?;
        }
        if let Some(down) = &self.scale_down {
            behavior.scale_down = behavior.scale_down.overlay(down, "behavior.scaleDown")?;
        }
        Ok(behavior)
    }
}

#[cfg(test)]
mod tests;
