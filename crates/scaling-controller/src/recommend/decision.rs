//! The outcome of [`recommend`](super::recommend): the decision, what decided it, and its JSON
//! form on `recommend`'s stdout (`desiredReplicas`, `metricReplicas`, `recommendation`,
//! `reason`).

use std::fmt;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::behavior::LimitReason;

use super::Proposal;

/// What was decided and why; serializes as the `recommend` JSON contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The count to write to `/scale`.
    pub desired_replicas: i32,
    /// Each metric's proposal, in the snapshot's order.
    pub proposals: Vec<Proposal>,
    /// The largest proposal before stabilization and limits, which the caller appends to its
    /// history; `None` when the HPA records none (scaling disabled, the current count out of
    /// bounds, or a hold because a metric failed).
    pub recommendation: Option<i32>,
    /// What decided `desired_replicas`.
    pub reason: Reason,
}

/// What decided a [`Decision`], in enough detail for status conditions and a one-line account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `currentReplicas` is 0 while `minReplicas` is not: autoscaling is off for the target.
    ScalingDisabled,
    /// The current count is above `maxReplicas`; it goes straight to the bound.
    AboveMaxReplicas,
    /// The current count is below `minReplicas`; it goes straight to the bound.
    BelowMinReplicas,
    /// Some metric failed and the others would scale down: hold the current count.
    MetricFailedHold {
        /// The first failed metric.
        failed: usize,
        /// Its kind (`Pods`, `Object`, `External`).
        kind: &'static str,
        /// The largest proposal of the metrics that worked.
        proposal: i32,
    },
    /// The metrics decided, through stabilization and limits.
    Metrics {
        /// The metric whose proposal was the largest (the first of equals).
        metric: usize,
        /// Its kind (`Pods`, `Object`, `External`).
        kind: &'static str,
        /// The largest proposal.
        recommendation: i32,
        /// The count after stabilization.
        stabilized: i32,
        /// Which bound limited the stabilized count, if any.
        limit: LimitReason,
    },
}

impl fmt::Display for Reason {
    /// A one-line account of the decision, the `reason` of the JSON contract.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::ScalingDisabled => {
                f.write_str("scaling is disabled since the replica count of the target is zero")
            }
            Reason::AboveMaxReplicas => f.write_str("current number of replicas above maxReplicas"),
            Reason::BelowMinReplicas => f.write_str("current number of replicas below minReplicas"),
            Reason::MetricFailedHold {
                failed,
                kind,
                proposal,
            } => write!(
                f,
                "metric {failed} ({kind}) failed and the other metrics propose scaling down to \
                 {proposal}: holding the current count"
            ),
            Reason::Metrics {
                metric,
                kind,
                recommendation,
                stabilized,
                limit,
            } => {
                write!(
                    f,
                    "metric {metric} ({kind}) proposes {recommendation}, the largest proposal"
                )?;
                if stabilized != recommendation {
                    write!(
                        f,
                        "; stabilized to {stabilized} by the recent recommendations"
                    )?;
                }
                match limit {
                    LimitReason::DesiredWithinRange => Ok(()),
                    limit => write!(f, "; {} ({})", limit.message(), limit.as_str()),
                }
            }
        }
    }
}

impl Serialize for Decision {
    /// The JSON contract: `desiredReplicas`, `metricReplicas` (null where a metric failed),
    /// `recommendation` and `reason`.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        struct Proposals<'a>(&'a [Proposal]);
        impl Serialize for Proposals<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
                for proposal in self.0 {
                    seq.serialize_element(&proposal.ok())?;
                }
                seq.end()
            }
        }
        struct Display<'a>(&'a Reason);
        impl Serialize for Display<'_> {
            fn serialize<S: Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.collect_str(self.0)
            }
        }
        let mut state = serializer.serialize_struct("Decision", 4)?;
        state.serialize_field("desiredReplicas", &self.desired_replicas)?;
        state.serialize_field("metricReplicas", &Proposals(&self.proposals))?;
        state.serialize_field("recommendation", &self.recommendation)?;
        state.serialize_field("reason", &Display(&self.reason))?;
        state.end()
    }
}
