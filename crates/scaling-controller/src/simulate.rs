//! `sextant-controller simulate`: replays a ScalingPolicy over a metric history and reports what
//! the replicas would have been, as a summary and a chart, with no cluster.
//!
//! The pipeline is one module per step:
//! - [`plan`] reads and validates the policy YAML into what the simulation needs;
//! - [`history`] holds the metric history on a regular time grid, read from a data file
//!   ([`history::parse_csv`], [`history::parse_json`]), the bundled [`sample`], or a store
//!   ([`store`]);
//! - [`engine`] steps through the history calling the controller's own [`crate::recommend`]
//!   with the history the controller keeps in its status, under a stated load model;
//! - [`summary`] condenses each run into the figures of `docs/simulate.md`;
//! - [`chart`] draws the runs as SVG or PNG;
//! - [`cli`] wires them behind the command line.

pub mod chart;
pub mod cli;
pub mod engine;
pub mod history;
pub mod plan;
pub mod sample;
pub mod store;
pub mod summary;

pub use engine::{Run, SimulationOptions, StepRecord, simulate};
pub use history::History;
pub use plan::Plan;
pub use summary::Summary;

/// Why a simulation could not run; every variant names the input and the place at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The policy file is not a ScalingPolicy document (YAML syntax or shape).
    #[error("{path}: not a ScalingPolicy: {reason}")]
    PolicyShape {
        /// The policy file.
        path: String,
        /// The YAML reader's account, with its line and column.
        reason: String,
    },
    /// The policy parses but fails the checks the API server would make.
    #[error("{path}: invalid policy: {field}: {reason}")]
    InvalidPolicy {
        /// The policy file.
        path: String,
        /// The offending field, e.g. `spec.metrics[0].pods.target.type`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A data file has a malformed, unordered, irregular or non-numeric entry.
    #[error("{place}: {reason}")]
    Data {
        /// `file:line` for CSV, `file: metrics.<name>[index]` for JSON.
        place: String,
        /// What is wrong there.
        reason: String,
    },
    /// The history has no column for one of the policy's metrics.
    #[error(
        "{origin} has no data for metric {index} ({key}); name a column {key:?} or \"metrics[{index}]\" (it has: {available})"
    )]
    MissingColumn {
        /// Where the history came from.
        origin: String,
        /// The metric's index in the policy.
        index: usize,
        /// The column name the metric is looked up by.
        key: String,
        /// The columns the history has.
        available: String,
    },
    /// The metrics store could not answer a range query.
    #[error("range query for {key} ({query}) failed: {source}")]
    Store {
        /// The metric's column name.
        key: String,
        /// The PromQL sent.
        query: String,
        /// The store client's error (it names the store's URL where it was unreachable).
        #[source]
        source: metrics_store::Error,
    },
    /// A range query answered with no series at all.
    #[error(
        "range query for {key} returned nothing between {start} and {end}: {query} (check the metric name, or pass --query {key}=PROMQL)"
    )]
    EmptyRange {
        /// The metric's column name.
        key: String,
        /// The PromQL sent.
        query: String,
        /// The range's start.
        start: String,
        /// The range's end.
        end: String,
    },
    /// The decision core rejected a step's snapshot (a bug in the simulation's inputs).
    #[error("{policy}: step at {at}: {source}")]
    Decision {
        /// The policy's name.
        policy: String,
        /// The step's time.
        at: String,
        /// The decision core's error.
        #[source]
        source: Box<crate::Error>,
    },
    /// The chart could not be drawn or encoded.
    #[error("chart {path}: {reason}")]
    Chart {
        /// The chart file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The command line asks for something that cannot be done.
    #[error("{0}")]
    Usage(String),
}

/// The result type of the simulation, defaulting to [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
