//! How to reach the store: the `--prometheus-*` flags of both binaries, as one struct.

use std::path::PathBuf;
use std::time::Duration;

/// GET or POST for queries. POST (the default) keeps long selectors out of URL limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueryMethod {
    /// Parameters in the URL.
    Get,
    /// Parameters as a form body.
    #[default]
    Post,
}

/// HTTP basic authentication, the password read from a file so it stays out of process lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// The user name.
    pub username: String,
    /// A file holding the password (trailing newline ignored).
    pub password_file: PathBuf,
}

/// Everything needed to build an [`crate::HttpStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept).
    pub url: String,
    /// A file holding a bearer token, re-read every minute so rotated tokens are picked up.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// CA certificates (PEM) to trust instead of the system's.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// Extra headers on every request (e.g. `X-Scope-OrgID` for Mimir tenants).
    pub headers: Vec<(String, String)>,
    /// GET or POST.
    pub method: QueryMethod,
    /// How long to wait to connect.
    pub connect_timeout: Duration,
}

impl StoreConfig {
    /// A plain configuration for `url`: POST, system trust roots, no credentials.
    pub fn new(url: impl Into<String>) -> Self {
        StoreConfig {
            url: url.into(),
            bearer_token_file: None,
            basic_auth: None,
            ca_file: None,
            client_cert: None,
            headers: Vec::new(),
            method: QueryMethod::Post,
            connect_timeout: Duration::from_secs(5),
        }
    }
}
