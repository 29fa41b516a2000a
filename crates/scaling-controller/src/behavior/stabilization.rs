//! Stabilization windows and scaling-policy rate limits: the HPA's
//! `normalizeDesiredReplicasWithBehaviors`, fed from a recommendation history and scale events
//! the caller keeps (the controller in its status, `recommend` from its snapshot), so that it is
//! a pure function of its inputs and `now`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Behavior, HpaScalingPolicyType, ScalingPolicySelect, ScalingRules};

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A past recommendation (the largest metric proposal of one decision) and when it was made;
/// stabilization looks back over these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimestampedRecommendation {
    /// When the recommendation was made.
    pub timestamp: Timestamp,
    /// The recommended replica count, before stabilization and rate limits.
    pub replicas: i32,
}

/// A past rescale and when it happened; scaling policies limit the change per period with these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleEvent {
    /// When the target was rescaled.
    pub timestamp: Timestamp,
    /// New minus old replica count: positive for a scale-up, negative for a scale-down.
    pub replica_change: i32,
}

/// Which bound decided the final count: the HPA's `ScalingLimited` condition reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// Nothing limited the stabilized recommendation.
    DesiredWithinRange,
    /// The scale-up policies allow no more in their periods.
    ScaleUpLimit,
    /// `maxReplicas` capped the count.
    TooManyReplicas,
    /// The scale-down policies allow no fewer in their periods.
    ScaleDownLimit,
    /// `minReplicas` floored the count.
    TooFewReplicas,
}

impl LimitReason {
    /// The reason as the HPA writes it in its `ScalingLimited` condition.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "DesiredWithinRange",
            LimitReason::ScaleUpLimit => "ScaleUpLimit",
            LimitReason::TooManyReplicas => "TooManyReplicas",
            LimitReason::ScaleDownLimit => "ScaleDownLimit",
            LimitReason::TooFewReplicas => "TooFewReplicas",
        }
    }

    /// The HPA's human-readable message for this reason.
    pub fn message(self) -> &'static str {
        match self {
            LimitReason::DesiredWithinRange => "the desired count is within the acceptable range",
            LimitReason::ScaleUpLimit => {
                "the desired replica count is increasing faster than the maximum scale rate"
            }
            LimitReason::TooManyReplicas => {
                "the desired replica count is more than the maximum replica count"
            }
            LimitReason::ScaleDownLimit => {
                "the desired replica count is decreasing faster than the maximum scale rate"
            }
            LimitReason::TooFewReplicas => {
                "the desired replica count is less than the minimum replica count"
            }
        }
    }
}

/// The replica counts [`normalize`] works between: the target's current count and the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The target's current replica count (`spec.replicas` of its `/scale`).
    pub current: i32,
    /// The lowest count allowed.
    pub min: i32,
    /// The highest count allowed.
    pub max: i32,
}

/// What [`normalize`] made of a recommendation, step by step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normalized {
    /// The recommendation after the stabilization windows.
    pub stabilized: i32,
    /// The count to write to `/scale`: stabilized, then rate-limited and bounded.
    pub desired: i32,
    /// Which bound, if any, decided `desired`.
    pub limit: LimitReason,
}

/// Stabilizes `recommendation`, then applies the rate limits and the min/max bounds together:
/// the HPA's `normalizeDesiredReplicasWithBehaviors`. The caller appends `recommendation` (not
/// the result) to its history afterwards, as the HPA does.
pub fn normalize(
    behavior: &Behavior,
    bounds: Bounds,
    recommendation: i32,
    history: &[TimestampedRecommendation],
    events: &[ScaleEvent],
    now: Timestamp,
) -> Normalized {
    let stabilized = stabilize(behavior, bounds.current, recommendation, history, now);
    let (desired, limit) = limit_rate(behavior, bounds, stabilized, events, now);
    Normalized {
        stabilized,
        desired,
        limit,
    }
}

/// Keeps the count from moving up past the lowest, or down past the highest, recommendation
/// inside each direction's window: the HPA's `stabilizeRecommendationWithBehaviors`. A
/// recommendation exactly `window` seconds old is outside the window.
pub fn stabilize(
    behavior: &Behavior,
    current: i32,
    recommendation: i32,
    history: &[TimestampedRecommendation],
    now: Timestamp,
) -> i32 {
    let up_cutoff = cutoff(now, behavior.scale_up.stabilization_window_seconds);
    let down_cutoff = cutoff(now, behavior.scale_down.stabilization_window_seconds);
    let mut up = recommendation;
    let mut down = recommendation;
    for past in history {
        let at = past.timestamp.as_nanosecond();
        if at > up_cutoff {
            up = up.min(past.replicas);
        }
        if at > down_cutoff {
            down = down.max(past.replicas);
        }
    }
    // Start from the current count and move only as far as every window agrees.
    let mut stabilized = current;
    if stabilized < up {
        stabilized = up;
    }
    if stabilized > down {
        stabilized = down;
    }
    stabilized
}

/// Applies the scaling policies and the min/max bounds to a stabilized count: the HPA's
/// `convertDesiredReplicasWithBehaviorRate`. A count equal to the current one passes unchanged.
pub fn limit_rate(
    behavior: &Behavior,
    bounds: Bounds,
    desired: i32,
    events: &[ScaleEvent],
    now: Timestamp,
) -> (i32, LimitReason) {
    let current = bounds.current;
    if desired > current {
        // A limit below the current count means earlier scale-ups used up the period.
        let limit = scale_up_limit(current, events, &behavior.scale_up, now).max(current);
        let (allowed, reason) = if bounds.max > limit {
            (limit, LimitReason::ScaleUpLimit)
        } else {
            (bounds.max, LimitReason::TooManyReplicas)
        };
        if desired > allowed {
            return (allowed, reason);
        }
    } else if desired < current {
        let limit = scale_down_limit(current, events, &behavior.scale_down, now).min(current);
        let (allowed, reason) = if bounds.min < limit {
            (limit, LimitReason::ScaleDownLimit)
        } else {
            (bounds.min, LimitReason::TooFewReplicas)
        };
        if desired < allowed {
            return (allowed, reason);
        }
    }
    (desired, LimitReason::DesiredWithinRange)
}

/// The most replicas the scale-up policies allow now: `calculateScaleUpLimitWithScalingRules`.
fn scale_up_limit(
    current: i32,
    events: &[ScaleEvent],
    rules: &ScalingRules,
    now: Timestamp,
) -> i32 {
    let pick: fn(i64, i64) -> i64 = match rules.select_policy {
        ScalingPolicySelect::Disabled => return current,
        // For scaling up, the smallest change is the smallest count.
        ScalingPolicySelect::Min => i64::min,
        ScalingPolicySelect::Max => i64::max,
    };
    let mut result: Option<i64> = None;
    for policy in &rules.policies {
        let start = period_start_replicas(current, events, policy.period_seconds, now);
        let proposed = match policy.kind {
            HpaScalingPolicyType::Pods => start + i64::from(policy.value),
            // Rounded up so that a small percentage still allows one more pod.
            HpaScalingPolicyType::Percent => {
                (start as f64 * (1.0 + f64::from(policy.value) / 100.0)).ceil() as i64
            }
        };
        result = Some(result.map_or(proposed, |r| pick(r, proposed)));
    }
    // Policies are never empty once resolved; without any, nothing is allowed.
    saturate(result.unwrap_or(i64::from(current)))
}

/// The fewest replicas the scale-down policies allow now: `calculateScaleDownLimitWithBehaviors`.
fn scale_down_limit(
    current: i32,
    events: &[ScaleEvent],
    rules: &ScalingRules,
    now: Timestamp,
) -> i32 {
    let pick: fn(i64, i64) -> i64 = match rules.select_policy {
        ScalingPolicySelect::Disabled => return current,
        // For scaling down, the smallest change is the largest count.
        ScalingPolicySelect::Min => i64::max,
        ScalingPolicySelect::Max => i64::min,
    };
    let mut result: Option<i64> = None;
    for policy in &rules.policies {
        let start = period_start_replicas(current, events, policy.period_seconds, now);
        let proposed = match policy.kind {
            HpaScalingPolicyType::Pods => start - i64::from(policy.value),
            // Truncated toward zero, as Go's int32() conversion does.
            HpaScalingPolicyType::Percent => {
                (start as f64 * (1.0 - f64::from(policy.value) / 100.0)) as i64
            }
        };
        result = Some(result.map_or(proposed, |r| pick(r, proposed)));
    }
    saturate(result.unwrap_or(i64::from(current)))
}

/// The replica count at the start of a policy period: the current count minus the scale-ups
/// and plus the scale-downs inside it (`getReplicasChangePerPeriod` for both event lists).
fn period_start_replicas(
    current: i32,
    events: &[ScaleEvent],
    period_seconds: i32,
    now: Timestamp,
) -> i64 {
    let cutoff = cutoff(now, period_seconds);
    let change: i64 = events
        .iter()
        .filter(|event| event.timestamp.as_nanosecond() > cutoff)
        .map(|event| i64::from(event.replica_change))
        .sum();
    i64::from(current) - change
}

/// The instant, in nanoseconds, a window of `seconds` reaches back to; only what happened
/// strictly after it is inside the window, as Go's `timestamp.After(cutoff)`.
fn cutoff(now: Timestamp, seconds: i32) -> i128 {
    now.as_nanosecond() - i128::from(seconds) * NANOS_PER_SECOND
}

fn saturate(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}
