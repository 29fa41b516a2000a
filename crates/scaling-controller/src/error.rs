//! The one error type of the scaling-controller library: every way a decision, a reading or a
//! reconcile can fail.

use std::io;

/// Why a snapshot could not be read or decided; each variant names its source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not JSON, or not of the snapshot's shape (a required field is missing or a
    /// field has the wrong JSON type). `recommend` exits 2 on this.
    #[error("malformed snapshot: {0}")]
    Malformed(#[source] serde_json::Error),

    /// The input could not be read at all.
    #[error("cannot read the snapshot: {0}")]
    Read(#[source] io::Error),

    /// A field has the right shape but a value the HPA API would reject (out of range,
    /// inconsistent with another field, or not one of the allowed names).
    #[error("invalid snapshot: {field}: {reason}")]
    Invalid {
        /// JSON path of the offending field, e.g. `metrics[2].target.type`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A quantity string does not parse as a Kubernetes quantity.
    #[error("invalid snapshot: {field}: {source}")]
    Quantity {
        /// JSON path of the offending field.
        field: String,
        /// The parser's account of the problem.
        #[source]
        source: metrics_model::Error,
    },

    /// A timestamp is not RFC 3339.
    #[error("invalid snapshot: {field}: not an RFC 3339 timestamp: {source}")]
    Timestamp {
        /// JSON path of the offending field.
        field: String,
        /// The parser's account of the problem.
        #[source]
        source: jiff::Error,
    },

    /// The snapshot lists no metrics, so there is nothing to compute a proposal from.
    #[error("no metrics: at least one metric is required to compute a replica count")]
    NoMetrics,

    /// Every metric failed, so no replica count can be computed (the HPA's
    /// "invalid metrics (n invalid out of n)").
    #[error("invalid metrics ({count} invalid out of {count}): {details}")]
    AllMetricsFailed {
        /// How many metrics there were (all of them failed).
        count: usize,
        /// Each metric's failure, in order.
        details: String,
    },

    /// The decision could not be written out.
    #[error("cannot write the decision: {0}")]
    Write(#[source] io::Error),

    /// The policy's workload does not exist or has no scale subresource (a condition, not a
    /// crash loop).
    #[error("target {target} cannot be scaled: {reason}")]
    TargetNotFound {
        /// `Kind/name` of the workload.
        target: String,
        /// What the API server said.
        reason: String,
    },

    /// A call to the Kubernetes API failed.
    #[error("{action}: {source}")]
    Kube {
        /// What the controller was doing.
        action: &'static str,
        /// The client's error.
        #[source]
        source: kube::Error,
    },

    /// A metric could not be read (the message names the metric and the cause).
    #[error("{0}")]
    Metric(String),
}

/// The crate's result type, defaulting to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Invalid`] for `field`, the common case of snapshot validation.
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
