//! The trust in force: which CAs authenticate client certificates (an [`Authenticator`]) and
//! the TLS configuration whose handshake hints those CAs' subjects. Both are replaced together
//! when the `extension-apiserver-authentication` ConfigMap or a CA file changes
//! ([`crate::auth::delegated`], [`crate::auth::ca_files`]): a Go client such as
//! kube-apiserver's aggregator sends its certificate only when its issuer is among the hinted
//! CAs, so stale hints after a CA rotation would make it send none.
//!
//! Readers take an `Arc` snapshot; a replacement never changes a snapshot already taken, so a
//! connection sees one consistent trust per judgement.

use std::sync::{Arc, RwLock};

use tokio_rustls::TlsAcceptor;

use crate::auth::Authenticator;
use crate::serving_cert::ServingCert;
use crate::tls_policy::TlsPolicy;
use crate::{Result, tls};

/// One consistent snapshot: the authenticator and the acceptor hinting its CAs.
pub struct Trust {
    /// Judges client certificates and request headers.
    pub authenticator: Arc<Authenticator>,
    /// Accepts TLS connections, hinting the authenticator's CA subjects.
    pub acceptor: TlsAcceptor,
}

/// The trust in force, shared by the accept loop, the ConfigMap watch and the CA file poller.
#[derive(Clone)]
pub struct SharedTrust {
    current: Arc<RwLock<Arc<Trust>>>,
    serving: Arc<ServingCert>,
    policy: Arc<TlsPolicy>,
}

impl std::fmt::Debug for SharedTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedTrust").finish_non_exhaustive()
    }
}

/// The trust of `authenticator`, answering handshakes with the certificate `serving` holds,
/// as `policy` allows.
fn trust(
    serving: &Arc<ServingCert>,
    policy: &TlsPolicy,
    authenticator: Authenticator,
) -> Result<Trust> {
    let config = tls::server_config(
        Arc::clone(serving) as _,
        &authenticator.ca_verifiers(),
        policy,
    )?;
    Ok(Trust {
        authenticator: Arc::new(authenticator),
        acceptor: TlsAcceptor::from(config),
    })
}

impl SharedTrust {
    /// The trust of `authenticator`, served with the certificate in force in `serving`, with
    /// the versions and suites `policy` allows (`--tls-min-version`, `--tls-cipher-suites`).
    pub fn new(
        serving: Arc<ServingCert>,
        policy: Arc<TlsPolicy>,
        authenticator: Authenticator,
    ) -> Result<Self> {
        let trust = trust(&serving, &policy, authenticator)?;
        Ok(SharedTrust {
            current: Arc::new(RwLock::new(Arc::new(trust))),
            serving,
            policy,
        })
    }

    /// The trust in force now.
    pub fn current(&self) -> Arc<Trust> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Puts `authenticator` (and a TLS configuration hinting its CAs) in force.
    pub fn replace(&self, authenticator: Authenticator) -> Result<()> {
        let trust = Arc::new(trust(&self.serving, &self.policy, authenticator)?);
        match self.current.write() {
            Ok(mut current) => *current = trust,
            Err(poisoned) => *poisoned.into_inner() = trust,
        }
        Ok(())
    }
}
