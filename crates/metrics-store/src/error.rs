//! The one error type of the store client: each variant is a different thing for an operator
//! to do, and maps to a different API answer (503, 504, 502, 400).

use std::time::Duration;

/// Why a store call failed (cloneable, so one failed query can answer every caller waiting
/// on it).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The store could not be reached (refused, unresolvable, reset): answer 503.
    #[error("metrics store at {url} is unavailable: {reason}")]
    Unavailable {
        /// The store's base URL.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The store did not answer within the deadline: answer 504.
    #[error("metrics store did not answer within {deadline:?}")]
    Timeout {
        /// The deadline that passed.
        deadline: Duration,
    },
    /// The store answered, but not with a Prometheus API response: answer 502.
    #[error(
        "metrics store answered HTTP {status} with something that is not a Prometheus API response: {reason}"
    )]
    BadResponse {
        /// The HTTP status code.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The store rejected or failed the query (`status: error`), e.g. a PromQL syntax error.
    #[error("metrics store rejected the query ({error_type}): {message}")]
    Query {
        /// The store's `errorType` (`bad_data`, `execution`, …).
        error_type: String,
        /// The store's `error` message.
        message: String,
    },
    /// The client's own configuration cannot be used (unreadable CA, key or token file).
    #[error("metrics store client configuration: {0}")]
    Config(String),
}

/// The result type of the store client.
pub type Result<T, E = Error> = std::result::Result<T, E>;
