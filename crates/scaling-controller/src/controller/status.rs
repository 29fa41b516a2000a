//! Building and writing a ScalingPolicy's status: conditions that keep their transition time
//! while unchanged, the bounded history, and the server-side apply under one field manager.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::FIELD_MANAGER;
use crate::behavior::Behavior;
use crate::policy::status::conditions;
use crate::policy::{ScalingPolicy, ScalingPolicyStatus};
use crate::{Error, Result};

/// The conditions of one reconcile, written in a fixed order.
pub(super) struct Conditions {
    previous: Vec<Condition>,
    current: Vec<Condition>,
    generation: Option<i64>,
    now: Timestamp,
}

impl Conditions {
    /// Starts from the conditions the policy had, so unchanged ones keep their transition time.
    pub(super) fn new(previous: &[Condition], generation: Option<i64>, now: Timestamp) -> Self {
        Conditions {
            previous: previous.to_vec(),
            current: Vec::new(),
            generation,
            now,
        }
    }

    /// Sets condition `kind` (one of [`conditions`]' types).
    pub(super) fn set(
        &mut self,
        kind: &str,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let status = if status { "True" } else { "False" };
        let last_transition_time = self
            .previous
            .iter()
            .find(|c| c.type_ == kind && c.status == status)
            .map_or(Time(self.now), |c| c.last_transition_time.clone());
        self.current.retain(|c| c.type_ != kind);
        self.current.push(Condition {
            type_: kind.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            message: message.into(),
            observed_generation: self.generation,
            last_transition_time,
        });
    }

    /// The conditions in the order Ready, AbleToScale, ScalingActive, ScalingLimited.
    pub(super) fn into_list(mut self) -> Vec<Condition> {
        let order = [
            conditions::READY,
            conditions::ABLE_TO_SCALE,
            conditions::SCALING_ACTIVE,
            conditions::SCALING_LIMITED,
        ];
        self.current.sort_by_key(|c| {
            order
                .iter()
                .position(|o| *o == c.type_)
                .unwrap_or(order.len())
        });
        self.current
    }
}

/// Drops history no window or policy period can reach any more.
pub(crate) fn trim_history(status: &mut ScalingPolicyStatus, behavior: &Behavior, now: Timestamp) {
    let window = behavior
        .scale_up
        .stabilization_window_seconds
        .max(behavior.scale_down.stabilization_window_seconds);
    let period = behavior
        .scale_up
        .policies
        .iter()
        .chain(&behavior.scale_down.policies)
        .map(|p| p.period_seconds)
        .max()
        .unwrap_or(0);
    let keep_since = |seconds: i32| now.as_second().saturating_sub(i64::from(seconds));
    status
        .recommendations
        .retain(|r| r.timestamp.as_second() >= keep_since(window));
    status
        .scale_events
        .retain(|e| e.timestamp.as_second() >= keep_since(period));
    const MAX_ENTRIES: usize = 1024;
    let excess = status.recommendations.len().saturating_sub(MAX_ENTRIES);
    status.recommendations.drain(..excess);
    let excess = status.scale_events.len().saturating_sub(MAX_ENTRIES);
    status.scale_events.drain(..excess);
}

/// Writes the status with server-side apply, as the only owner of every status field.
pub(super) async fn apply(
    api: &Api<ScalingPolicy>,
    name: &str,
    status: &ScalingPolicyStatus,
) -> Result<()> {
    let patch =
        json!({"apiVersion": "sextant.io/v1alpha1", "kind": "ScalingPolicy", "status": status});
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|source| Error::Kube {
        action: "writing the policy's status",
        source,
    })?;
    Ok(())
}
