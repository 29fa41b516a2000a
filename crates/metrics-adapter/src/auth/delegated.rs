//! Where the trusted CAs and front-proxy settings come from, as k8s.io/apiserver's
//! `DelegatingAuthenticationOptions` decide it:
//!
//! - `--requestheader-client-ca-file` given → the front-proxy settings are the
//!   `--requestheader-*` flags; absent → the keys `requestheader-client-ca-file` (PEM),
//!   `requestheader-allowed-names`, `requestheader-username-headers`,
//!   `requestheader-group-headers`, `requestheader-uid-headers` and
//!   `requestheader-extra-headers-prefix` (each a JSON array
//!   of strings; empty or missing = an empty list) of the ConfigMap
//!   `kube-system/extension-apiserver-authentication`, which kube-apiserver publishes;
//! - `--client-ca-file` given → that file; absent → the ConfigMap's `client-ca-file`.
//!
//! Flags win, part by part. The ConfigMap is watched ([`follow`]: a list then a watch, with a
//! field selector on its name) and each change puts a new [`Authenticator`] in force
//! ([`SharedTrust::replace`]), so a CA rotation needs no restart; the CA files the flags name
//! are read again when they change ([`super::ca_files`]).
//!
//! **Failing closed.** A part with no good content yet (ConfigMap not read yet, missing,
//! forbidden, key absent, malformed) trusts no CA: certificates it would have vouched for get a
//! 401 whose message names the ConfigMap and the problem. Unlike k8s.io/apiserver, which refuses
//! to start when the ConfigMap cannot be read (unless `--authentication-tolerate-lookup-failure`),
//! the adapter starts anyway — health probes answer, the problem is logged as a warning at every
//! relist or retry, and the watch picks the ConfigMap up as soon as it can be read. As
//! k8s.io/apiserver's dynamic CA controllers do, content that later becomes missing or malformed
//! does **not** withdraw the last good content: it stays in force, and each bad version is
//! logged as a warning.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use rustls::server::danger::ClientCertVerifier;
use tokio::sync::oneshot;

use super::{Authenticator, FrontProxy};
use crate::options::Options;
use crate::telemetry::TlsFile;
use crate::trust::SharedTrust;
use crate::{Error, Result, tls};

/// The namespace of the ConfigMap.
pub const NAMESPACE: &str = "kube-system";
/// The name of the ConfigMap kube-apiserver publishes its authentication settings in.
pub const NAME: &str = "extension-apiserver-authentication";

/// The key of the plain client CA bundle (PEM).
pub const CLIENT_CA_KEY: &str = "client-ca-file";
/// The key of the front-proxy CA bundle (PEM).
pub const REQUESTHEADER_CA_KEY: &str = "requestheader-client-ca-file";
/// The key of the CNs allowed as front proxy (JSON array).
pub const ALLOWED_NAMES_KEY: &str = "requestheader-allowed-names";
/// The key of the user name headers (JSON array).
pub const USERNAME_HEADERS_KEY: &str = "requestheader-username-headers";
/// The key of the group headers (JSON array).
pub const GROUP_HEADERS_KEY: &str = "requestheader-group-headers";
/// The key of the UID headers (JSON array; published by kube-apiservers with the
/// `RemoteRequestHeaderUID` feature, absent before).
pub const UID_HEADERS_KEY: &str = "requestheader-uid-headers";
/// The key of the extra header prefixes (JSON array).
pub const EXTRA_HEADERS_PREFIX_KEY: &str = "requestheader-extra-headers-prefix";

/// `kube-system/extension-apiserver-authentication`, as messages name it.
fn config_map() -> String {
    format!("ConfigMap {NAMESPACE}/{NAME}")
}

/// One part of the trust: the front proxy, or the plain client CA.
#[derive(Clone)]
enum Part<T> {
    /// Given by flags; the ConfigMap is not read for it.
    Flag(T),
    /// Read from the ConfigMap: the last good content, and what is wrong now, if anything.
    Cluster {
        good: Option<T>,
        problem: Option<String>,
    },
    /// Neither a flag nor a Kubernetes connection: nothing is trusted for it.
    Absent,
}

impl<T: Clone> Part<T> {
    fn value(&self) -> Option<T> {
        match self {
            Part::Flag(value) => Some(value.clone()),
            Part::Cluster { good, .. } => good.clone(),
            Part::Absent => None,
        }
    }

    /// Records what the ConfigMap now says for this part (nothing for a flag part).
    fn update(&mut self, what: &str, read: Result<T, String>) {
        let Part::Cluster { good, problem } = self else {
            return;
        };
        match read {
            Ok(value) => {
                *good = Some(value);
                *problem = None;
            }
            Err(now) => {
                if good.is_some() {
                    tracing::warn!("{now}; keeping the last good {what} settings");
                } else {
                    tracing::warn!("{now}; {what} certificates are refused (401)");
                }
                *problem = Some(now);
            }
        }
    }

    /// Why this part trusts nothing, if it should trust something.
    fn unavailable(&self) -> Option<&str> {
        match self {
            Part::Cluster {
                good: None,
                problem,
            } => Some(problem.as_deref().unwrap_or("not read yet")),
            _ => None,
        }
    }
}

/// A flag naming a CA bundle file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaFlag {
    /// `--client-ca-file`: plain client certificates.
    ClientCa,
    /// `--requestheader-client-ca-file`: front-proxy certificates.
    RequestHeaderClientCa,
}

impl CaFlag {
    /// The file's label in the adapter's metrics.
    pub fn tls_file(self) -> TlsFile {
        match self {
            CaFlag::ClientCa => TlsFile::ClientCa,
            CaFlag::RequestHeaderClientCa => TlsFile::RequestheaderClientCa,
        }
    }

    /// The flag as written on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CaFlag::ClientCa => "--client-ca-file",
            CaFlag::RequestHeaderClientCa => "--requestheader-client-ca-file",
        }
    }
}

/// The trust the flags and the ConfigMap describe, part by part.
#[derive(Clone)]
pub struct DelegatedTrust {
    front_proxy: Part<FrontProxy>,
    client_ca: Part<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for DelegatedTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegatedTrust").finish_non_exhaustive()
    }
}

/// Header names (or prefixes) trimmed, the empty ones dropped, as k8s.io/apiserver's
/// `trimHeaders` does: an empty prefix (`--requestheader-extra-headers-prefix=X-Remote-Extra-,`)
/// would otherwise match every header.
fn header_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|name| name.trim())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The front-proxy settings of the `--requestheader-*` flags.
fn front_proxy_of_flags(options: &Options) -> Result<Option<FrontProxy>> {
    let Some(path) = &options.requestheader_client_ca_file else {
        return Ok(None);
    };
    Ok(Some(FrontProxy {
        verifier: tls::ca_verifier("--requestheader-client-ca-file", path)?,
        allowed_names: options.requestheader_allowed_names.clone(),
        username_headers: header_names(&options.requestheader_username_headers),
        group_headers: header_names(&options.requestheader_group_headers),
        uid_headers: header_names(&options.requestheader_uid_headers),
        extra_headers_prefixes: header_names(&options.requestheader_extra_headers_prefix),
        allowed_names_source: "--requestheader-allowed-names".to_owned(),
    }))
}

/// A part from a flag's value, else from the ConfigMap when there is a Kubernetes connection.
fn part<T>(flag: Option<T>, cluster: bool) -> Part<T> {
    match (flag, cluster) {
        (Some(value), _) => Part::Flag(value),
        (None, true) => Part::Cluster {
            good: None,
            problem: Some(format!("{} has not been read yet", config_map())),
        },
        (None, false) => Part::Absent,
    }
}

impl DelegatedTrust {
    /// The trust of the flags; parts they leave out come from the ConfigMap when `cluster`
    /// (a Kubernetes connection exists), else are not trusted at all (with a warning).
    pub fn from_flags(options: &Options, cluster: bool) -> Result<Self> {
        let client_ca = match &options.client_ca_file {
            Some(path) => Some(tls::ca_verifier("--client-ca-file", path)?),
            None => None,
        };
        let trust = DelegatedTrust {
            front_proxy: part(front_proxy_of_flags(options)?, cluster),
            client_ca: part(client_ca, cluster),
        };
        if matches!(trust.front_proxy, Part::Absent) {
            tracing::warn!(
                "no --requestheader-client-ca-file, and no Kubernetes connection to read {} \
                 from {}: front-proxy certificates are refused (401)",
                REQUESTHEADER_CA_KEY,
                config_map()
            );
        }
        if matches!(trust.client_ca, Part::Absent) {
            tracing::warn!(
                "no --client-ca-file, and no Kubernetes connection to read {} from {}: \
                 client certificates are refused (401)",
                CLIENT_CA_KEY,
                config_map()
            );
        }
        Ok(trust)
    }

    /// Whether some part comes from the ConfigMap, which then has to be watched.
    pub fn reads_config_map(&self) -> bool {
        matches!(self.front_proxy, Part::Cluster { .. })
            || matches!(self.client_ca, Part::Cluster { .. })
    }

    /// The authenticator this trust describes; parts without good content say why in its
    /// refusals.
    pub fn authenticator(&self) -> Authenticator {
        let mut authenticator =
            Authenticator::new(self.front_proxy.value(), self.client_ca.value());
        match (self.front_proxy.unavailable(), self.client_ca.unavailable()) {
            (Some(front), Some(client)) if front == client => {
                authenticator = authenticator.unavailable(format!("no CA is trusted yet: {front}"));
            }
            (front, client) => {
                if let Some(front) = front {
                    authenticator = authenticator
                        .unavailable(format!("no front-proxy CA is trusted yet: {front}"));
                }
                if let Some(client) = client {
                    authenticator =
                        authenticator.unavailable(format!("no client CA is trusted yet: {client}"));
                }
            }
        }
        authenticator
    }

    /// Puts a re-read bundle of `flag`'s file in force (nothing if that part is not the
    /// flag's).
    pub fn set_flag_ca(&mut self, flag: CaFlag, verifier: Arc<dyn ClientCertVerifier>) {
        match (flag, &mut self.client_ca, &mut self.front_proxy) {
            (CaFlag::ClientCa, Part::Flag(client_ca), _) => *client_ca = verifier,
            (CaFlag::RequestHeaderClientCa, _, Part::Flag(front_proxy)) => {
                front_proxy.verifier = verifier;
            }
            _ => {}
        }
    }

    /// Takes in the ConfigMap's data (`None`: the ConfigMap does not exist).
    pub fn apply(&mut self, data: Option<&BTreeMap<String, String>>) {
        let missing = || format!("{} does not exist", config_map());
        self.front_proxy.update(
            "front-proxy",
            match data {
                Some(data) => front_proxy_of(data),
                None => Err(missing()),
            },
        );
        self.client_ca.update(
            "client-CA",
            match data {
                Some(data) => client_ca_of(data),
                None => Err(missing()),
            },
        );
    }

    /// Records that the ConfigMap could not be read.
    pub fn unreadable(&mut self, error: &str) {
        let problem = format!("{} cannot be read: {error}", config_map());
        self.front_proxy.update("front-proxy", Err(problem.clone()));
        self.client_ca.update("client-CA", Err(problem));
    }
}

/// Where a key's value is, for errors.
fn at(key: &str) -> String {
    format!("{} key {key}", config_map())
}

/// The PEM bundle under `key`, or why there is none.
fn bundle<'a>(data: &'a BTreeMap<String, String>, key: &str) -> Result<&'a str, String> {
    data.get(key)
        .map(String::as_str)
        .filter(|pem| !pem.trim().is_empty())
        .ok_or_else(|| format!("{} has no {key}", config_map()))
}

/// A list key: a JSON array of strings; empty or missing = an empty list.
fn strings(data: &BTreeMap<String, String>, key: &str) -> Result<Vec<String>> {
    match data.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| Error::AuthenticationConfig {
            at: at(key),
            reason: format!("not a JSON array of strings: {e}"),
        }),
    }
}

/// The front-proxy settings of the ConfigMap's data.
fn front_proxy_of(data: &BTreeMap<String, String>) -> Result<FrontProxy, String> {
    let pem = bundle(data, REQUESTHEADER_CA_KEY)?;
    let read = || -> Result<FrontProxy> {
        Ok(FrontProxy {
            verifier: tls::ca_verifier_from_pem(&at(REQUESTHEADER_CA_KEY), pem.as_bytes())?,
            allowed_names: strings(data, ALLOWED_NAMES_KEY)?,
            username_headers: header_names(&strings(data, USERNAME_HEADERS_KEY)?),
            group_headers: header_names(&strings(data, GROUP_HEADERS_KEY)?),
            uid_headers: header_names(&strings(data, UID_HEADERS_KEY)?),
            extra_headers_prefixes: header_names(&strings(data, EXTRA_HEADERS_PREFIX_KEY)?),
            allowed_names_source: at(ALLOWED_NAMES_KEY),
        })
    };
    read().map_err(|e| e.to_string())
}

/// The plain client CA of the ConfigMap's data.
fn client_ca_of(data: &BTreeMap<String, String>) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let pem = bundle(data, CLIENT_CA_KEY)?;
    tls::ca_verifier_from_pem(&at(CLIENT_CA_KEY), pem.as_bytes()).map_err(|e| e.to_string())
}

/// Watches the ConfigMap through `api` (namespace [`NAMESPACE`]) and puts each new version's
/// trust in force in `shared`; `first` is told once the first read succeeded or failed.
/// Runs until aborted; errors are retried with kube-runtime's default backoff.
pub async fn follow(
    api: Api<ConfigMap>,
    trust: Arc<Mutex<DelegatedTrust>>,
    shared: SharedTrust,
    first: oneshot::Sender<()>,
) {
    let config = watcher::Config::default().fields(&format!("metadata.name={NAME}"));
    let events = watcher::watcher(api, config).default_backoff();
    futures::pin_mut!(events);
    let mut first = Some(first);
    let mut listed = false;
    let mut last: Option<Option<BTreeMap<String, String>>> = None;
    while let Some(event) = events.next().await {
        let seen = match event {
            Ok(Event::Init) => {
                listed = false;
                continue;
            }
            Ok(Event::InitApply(object) | Event::Apply(object)) => {
                if object.metadata.name.as_deref() != Some(NAME) {
                    continue;
                }
                listed = true;
                Some(object.data.unwrap_or_default())
            }
            Ok(Event::InitDone) if listed => {
                tell(&mut first);
                continue;
            }
            Ok(Event::InitDone | Event::Delete(_)) => None,
            Err(error) => {
                update(&trust, &shared, |trust| {
                    trust.unreadable(&error.to_string())
                });
                last = None;
                tell(&mut first);
                continue;
            }
        };
        if seen.is_none() || last.as_ref() != Some(&seen) {
            update(&trust, &shared, |trust| trust.apply(seen.as_ref()));
            if seen.is_some() {
                tracing::info!("authentication settings read from {}", config_map());
            }
        }
        last = Some(seen);
        tell(&mut first);
    }
}

/// Tells the starter, once, that the first read is over.
fn tell(first: &mut Option<oneshot::Sender<()>>) {
    if let Some(first) = first.take() {
        // The starter may have stopped waiting; nothing to do then.
        let _ = first.send(());
    }
}

/// Changes the trust and puts it in force, under its lock, so two sources (the ConfigMap and
/// the CA files) never put an older version in force after a newer one.
pub fn update(
    trust: &Mutex<DelegatedTrust>,
    shared: &SharedTrust,
    change: impl FnOnce(&mut DelegatedTrust),
) {
    let mut trust = match trust.lock() {
        Ok(trust) => trust,
        Err(poisoned) => poisoned.into_inner(),
    };
    change(&mut trust);
    if let Err(error) = shared.replace(trust.authenticator()) {
        tracing::error!(%error, "cannot put the new authentication settings in force");
    }
}

#[cfg(test)]
mod tests;
