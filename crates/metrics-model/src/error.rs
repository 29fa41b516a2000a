//! The one error type of `metrics-model`: every parser and validator reports through it.

/// Why a piece of metrics vocabulary could not be parsed or built.
///
/// Parse errors carry the byte position of the offending token so a caller can point at it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A label selector string did not follow the Kubernetes selector grammar.
    #[error("invalid label selector {input:?}: {reason} at byte {position}")]
    Selector {
        /// The whole selector string as given.
        input: String,
        /// Byte offset of the offending token.
        position: usize,
        /// What was wrong there.
        reason: String,
    },

    /// A `LabelSelector` object (matchLabels/matchExpressions) was not valid.
    #[error("invalid label selector: {field}: {reason}")]
    SelectorObject {
        /// The field path, e.g. `matchExpressions[1].operator`.
        field: String,
        /// What was wrong with it.
        reason: String,
    },

    /// A label key broke the Kubernetes rules for label keys.
    #[error("invalid label key {key:?}: {reason}")]
    LabelKey {
        /// The key as given.
        key: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A label value broke the Kubernetes rules for label values.
    #[error("invalid label value {value:?}: {reason}")]
    LabelValue {
        /// The value as given.
        value: String,
        /// Which rule it broke.
        reason: &'static str,
    },

    /// A quantity string did not follow the Kubernetes quantity grammar or is out of range.
    #[error("invalid quantity {input:?}: {reason} at byte {position}")]
    Quantity {
        /// The quantity string as given.
        input: String,
        /// Byte offset of the offending character.
        position: usize,
        /// What was wrong there.
        reason: &'static str,
    },

    /// A number could not become a quantity (NaN, infinite, or beyond the quantity range).
    #[error("value {value} cannot be a quantity: {reason}")]
    QuantityValue {
        /// The number as given.
        value: f64,
        /// Why it cannot be represented.
        reason: &'static str,
    },

    /// A Prometheus metric name broke `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    #[error("invalid metric name {name:?}: {reason} at byte {position}")]
    MetricName {
        /// The name as given.
        name: String,
        /// Byte offset of the offending character.
        position: usize,
        /// What was wrong there.
        reason: &'static str,
    },

    /// A Prometheus label name broke `[a-zA-Z_][a-zA-Z0-9_]*`.
    #[error("invalid Prometheus label name {name:?}: {reason} at byte {position}")]
    LabelName {
        /// The name as given.
        name: String,
        /// Byte offset of the offending character.
        position: usize,
        /// What was wrong there.
        reason: &'static str,
    },

    /// A group-resource string such as `deployments.apps` or a resource template was malformed.
    #[error("invalid resource {input:?}: {reason}")]
    Resource {
        /// The text as given.
        input: String,
        /// What was wrong with it.
        reason: String,
    },

    /// An operator-written PromQL query did not parse, or cannot be confined to one namespace.
    #[error("PromQL query {query:?}: {reason}")]
    Query {
        /// The query as given.
        query: String,
        /// The parser's message, or why the query cannot be confined.
        reason: String,
    },

    /// A Kubernetes namespace name broke the DNS-1123 label rules.
    #[error("invalid namespace name {name:?}: {reason}")]
    Namespace {
        /// The name as given.
        name: String,
        /// Which rule it broke.
        reason: &'static str,
    },
}

/// The result type of `metrics-model`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
