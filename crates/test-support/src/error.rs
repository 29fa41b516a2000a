//! The one error type of the test harness.

/// Why a store could not be started, loaded or queried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's binary is not on PATH.
    #[error("`{binary}` is not installed (Debian package `{package}`)")]
    Missing {
        /// The binary looked for.
        binary: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },
    /// Writing the data directory or input files failed.
    #[error("preparing {what}: {source}")]
    Io {
        /// What was being prepared.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A helper command (such as `promtool`) failed.
    #[error("`{command}` failed: {output}")]
    Command {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
    /// The server exited or did not become ready in time.
    #[error("{binary} did not become ready: {log}")]
    NotReady {
        /// Which server.
        binary: &'static str,
        /// The end of its log.
        log: String,
    },
    /// An HTTP call to the store failed.
    #[error("HTTP call to the store failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// The result type of the test harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;
