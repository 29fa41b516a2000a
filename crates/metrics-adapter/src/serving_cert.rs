//! The serving certificate in force, read again when its files change.
//!
//! cert-manager renews the adapter's certificate (`deploy/adapter/certificates.yaml`: every 60
//! days) and the kubelet then swaps the files of the mounted Secret; an adapter that read them
//! once would serve the old certificate until it expired and the aggregator stopped trusting it.
//! Like k8s.io/apiserver's dynamic serving certificate (which watches the files and re-reads
//! them every minute), the adapter reloads them without a restart: it reads them every
//! [`CERT_POLL_INTERVAL`] (two small files; a mounted Secret changes by a symlink swap that a
//! watch on the files themselves would miss) and compares them with what it read last. A changed
//! pair whose key matches its certificate is served from the next handshake on (open connections
//! keep theirs); a pair that cannot be read or parsed, or whose key belongs to another
//! certificate (a key written before its certificate), is logged once and the previous
//! certificate keeps serving. A read that straddles the swap (the certificate changed between
//! reading it and reading the key) is dropped and read again at the next tick.
//!
//! Without the two flags the adapter serves a self-signed certificate generated at start, which
//! never changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::Result;
use crate::telemetry::{TlsFile, TlsMetrics};
use crate::tls::{self, tls_error};

/// How often the certificate and key files are read to see whether they changed.
pub const CERT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The certificate every handshake is answered with; also the TLS configuration's resolver.
pub struct ServingCert {
    current: RwLock<Arc<CertifiedKey>>,
    files: Option<Files>,
}

/// Where the pair is read from, and the bytes read last (changed bytes are parsed again).
struct Files {
    cert: PathBuf,
    key: PathBuf,
    last_read: Mutex<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ServingCert {
    /// Names the files, never their bytes: the key must not reach a log through `{:?}` of the
    /// TLS configuration that holds this resolver.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("cert_file", &self.files.as_ref().map(|files| &files.cert))
            .field("key_file", &self.files.as_ref().map(|files| &files.key))
            .finish_non_exhaustive()
    }
}

/// The pair in the two PEM texts, checked to belong together.
fn certified_key(cert: &Path, cert_pem: &[u8], key: &Path, key_pem: &[u8]) -> Result<CertifiedKey> {
    let cert_what = || format!("--tls-cert-file {}", cert.display());
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(cert_what(), e))?;
    if chain.is_empty() {
        return Err(tls_error(cert_what(), "no PEM certificate in the file"));
    }
    let private_key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| tls_error(format!("--tls-private-key-file {}", key.display()), e))?;
    CertifiedKey::from_der(chain, private_key, &tls::provider()).map_err(|e| {
        let reason = match e {
            rustls::Error::InconsistentKeys(_) => {
                format!("the key does not fit the certificate: {e}")
            }
            other => other.to_string(),
        };
        tls_error(format!("{} and {}", cert.display(), key.display()), reason)
    })
}

impl ServingCert {
    /// Reads the pair from `--tls-cert-file`/`--tls-private-key-file` when both are given,
    /// generates a self-signed one (with a warning) when both are absent.
    pub fn load(cert_file: Option<&Path>, key_file: Option<&Path>) -> Result<Self> {
        let (certified, files) = match (cert_file, key_file) {
            (Some(cert), Some(key)) => {
                let read = |path: &Path, flag: &str| {
                    std::fs::read(path)
                        .map_err(|e| tls_error(format!("{flag} {}", path.display()), e))
                };
                let (cert_pem, key_pem) = (
                    read(cert, "--tls-cert-file")?,
                    read(key, "--tls-private-key-file")?,
                );
                let certified = certified_key(cert, &cert_pem, key, &key_pem)?;
                let files = Files {
                    cert: cert.to_owned(),
                    key: key.to_owned(),
                    last_read: Mutex::new((cert_pem, key_pem)),
                };
                (certified, Some(files))
            }
            (None, None) => {
                let (chain, key) = tls::self_signed()?;
                let certified = CertifiedKey::from_der(chain, key, &tls::provider())
                    .map_err(|e| tls_error("self-signed certificate", e))?;
                (certified, None)
            }
            _ => {
                return Err(tls_error(
                    "--tls-cert-file/--tls-private-key-file",
                    "give both flags or neither",
                ));
            }
        };
        Ok(ServingCert {
            current: RwLock::new(Arc::new(certified)),
            files,
        })
    }

    /// Whether the pair comes from files (and so can change).
    pub fn from_files(&self) -> bool {
        self.files.is_some()
    }

    /// When the certificate in force expires (Unix seconds), for the expiry gauge; `None` if
    /// its end-entity certificate cannot be parsed.
    pub fn not_after(&self) -> Option<i64> {
        let current = self.current();
        let end_entity = current.cert.first()?;
        let (_, parsed) = x509_parser::parse_x509_certificate(end_entity.as_ref()).ok()?;
        Some(parsed.validity().not_after.timestamp())
    }

    /// Sets the expiry gauge of `metrics` to the certificate in force.
    pub fn record_expiry(&self, metrics: &TlsMetrics) {
        if let Some(not_after) = self.not_after() {
            metrics.set_serving_expiry(not_after);
        }
    }

    /// The certificate and key in force.
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Reads the files once; puts a changed, valid pair in force. `Ok(true)`: a new pair is
    /// served; `Ok(false)`: nothing changed (or the files were caught mid-swap: read again at
    /// the next call); an error: the changed pair is unusable and the previous one keeps
    /// serving (the same bytes are not judged again).
    pub async fn check(&self) -> Result<bool> {
        let Some(files) = &self.files else {
            return Ok(false);
        };
        let read = async |path: &Path, flag: &str| {
            tokio::fs::read(path)
                .await
                .map_err(|e| tls_error(format!("{flag} {}", path.display()), e))
        };
        let cert_pem = read(&files.cert, "--tls-cert-file").await?;
        let key_pem = read(&files.key, "--tls-private-key-file").await?;
        if read(&files.cert, "--tls-cert-file").await? != cert_pem {
            return Ok(false);
        }
        // Judged and put in force under the lock: two checks at once cannot leave the older
        // pair in force while the newer one counts as read.
        let mut last_read = files
            .last_read
            .lock()
            .map_err(|_| tls_error("the serving certificate", "its lock is poisoned"))?;
        if last_read.0 == cert_pem && last_read.1 == key_pem {
            return Ok(false);
        }
        let certified = certified_key(&files.cert, &cert_pem, &files.key, &key_pem);
        *last_read = (cert_pem, key_pem);
        let certified = Arc::new(certified?);
        match self.current.write() {
            Ok(mut current) => *current = certified,
            Err(poisoned) => *poisoned.into_inner() = certified,
        }
        Ok(true)
    }

    /// Checks the files every [`CERT_POLL_INTERVAL`] forever, logging what happens and
    /// recording it in `metrics` (reloads, the expiry of the certificate in force); for a
    /// background task.
    pub async fn run(self: Arc<Self>, metrics: TlsMetrics) {
        let mut ticks = tokio::time::interval(CERT_POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = None;
        loop {
            ticks.tick().await;
            match self.check().await {
                Ok(true) => {
                    failing = None;
                    metrics.record_reload(TlsFile::ServingCertificate, true);
                    self.record_expiry(&metrics);
                    tracing::info!("serving certificate reloaded; new connections get the new one");
                }
                Ok(false) => failing = None,
                Err(error) => {
                    // A missing file is reported once, not every interval.
                    let shown = error.to_string();
                    if failing.as_ref() != Some(&shown) {
                        tracing::error!(%error, "serving certificate not reloaded; serving the previous one");
                        metrics.record_reload(TlsFile::ServingCertificate, false);
                        failing = Some(shown);
                    }
                }
            }
        }
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests;
