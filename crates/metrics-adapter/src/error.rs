//! The one error type of the adapter library: configuration that cannot be loaded, and
//! requests that cannot become a query.

use std::path::PathBuf;

/// Why a configuration could not be loaded or a request could not be turned into a query.
///
/// Configuration errors name where the problem is as a path into the YAML (`rules[2].name.matches`)
/// so an operator can fix the file without guessing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("cannot read adapter configuration {}: {source}", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },

    /// The configuration is not YAML of the expected shape (the message carries the path of the
    /// offending field, and its line and column).
    #[error("invalid adapter configuration: {source}")]
    Yaml {
        /// The parser's error.
        #[from]
        source: yaml_serde::Error,
    },

    /// A regular expression in the configuration does not compile.
    #[error("{at}: invalid regex {pattern:?}: {source}")]
    Regex {
        /// Where in the configuration, e.g. `rules[2].name.matches`.
        at: String,
        /// The expression as written.
        pattern: String,
        /// The regex engine's complaint.
        source: Box<regex::Error>,
    },

    /// A `metricsQuery` template uses something other than the supported `<<.Field>>` actions.
    #[error("{at}: {reason}")]
    Template {
        /// Where in the configuration, e.g. `externalRules[0].metricsQuery`.
        at: String,
        /// What is wrong with the template.
        reason: String,
    },

    /// A configuration value is present but unusable (empty, or not a valid name or resource).
    #[error("{at}: {reason}")]
    Invalid {
        /// Where in the configuration, e.g. `rules[1].resources.overrides.pod_name`.
        at: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// A request value could not be expressed in PromQL (for example a label selector key that
    /// is not a Prometheus label name).
    #[error("{context}: {source}")]
    Request {
        /// Which part of the request.
        context: String,
        /// The vocabulary crate's error.
        source: metrics_model::Error,
    },

    /// A request names a resource that the rule does not map to any series label.
    #[error("rule {rule} does not associate resource {resource} with a series label")]
    UnmappedResource {
        /// The rule, e.g. `rules[0]`.
        rule: String,
        /// The resource, e.g. `deployments.apps`.
        resource: String,
    },
}

/// The result type of the adapter library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
