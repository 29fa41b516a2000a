//! TLS for the adapter: the server's configuration around the serving certificate
//! ([`crate::serving_cert`]; a self-signed pair is generated here when no files are given, and
//! for [`crate::cert_dir`]), and
//! the client-certificate CAs
//! (`--requestheader-client-ca-file`, `--client-ca-file`, or the PEM bundles of the
//! `extension-apiserver-authentication` ConfigMap).
//!
//! Client certificates are *requested, never required*, and at the TLS level only their proof of
//! possession (the handshake signature) is checked: any chain is let through the handshake, as
//! k8s.io/apiserver does with Go's `RequestClientCert`. The chain is verified afterwards, in
//! [`crate::auth`], against each CA separately with its own [`WebPkiClientVerifier`], so the
//! adapter knows *which* CA vouched for the certificate (front proxy or plain client), and a
//! certificate from an unknown CA is answered with a 401 `Status` rather than a TLS alert.
//!
//! The certificate request hints the trusted CAs' subjects. A configuration is built per trust
//! ([`crate::trust`]), so the hints follow a CA rotation: Go clients only send a certificate
//! whose issuer is hinted.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ResolvesServerCert, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};

use crate::tls_policy::TlsPolicy;
use crate::{Error, Result};

/// The crypto provider of every TLS object the adapter builds (ring).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A TLS set-up error about `what` (a flag and its file, or a step).
pub(crate) fn tls_error(what: impl Into<String>, reason: impl std::fmt::Display) -> Error {
    Error::Tls {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// Reads every certificate of a PEM file; `flag` names the flag in errors.
fn read_certs(flag: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let what = || format!("{flag} {}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(what(), e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(what(), e))?;
    if certs.is_empty() {
        return Err(tls_error(what(), "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// A verifier of client chains against the CA bundle at `path` (a `--*-client-ca-file`).
pub fn ca_verifier(flag: &str, path: &Path) -> Result<Arc<dyn ClientCertVerifier>> {
    verifier_of(
        &format!("{flag} {}", path.display()),
        read_certs(flag, path)?,
    )
}

/// A verifier of client chains against a PEM CA bundle held in memory (a ConfigMap key);
/// `what` names where it came from in errors.
pub fn ca_verifier_from_pem(what: &str, pem: &[u8]) -> Result<Arc<dyn ClientCertVerifier>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_error(what, e))?;
    if certs.is_empty() {
        return Err(tls_error(what, "no PEM certificate in the bundle"));
    }
    verifier_of(what, certs)
}

/// A webpki client verifier trusting `certs` as roots.
fn verifier_of(
    what: &str,
    certs: Vec<CertificateDer<'static>>,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| tls_error(what, e))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| tls_error(what, e))
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, generated when neither
/// `--tls-cert-file` nor `--tls-private-key-file` is given (with a warning).
pub fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    tracing::warn!(
        "no --tls-cert-file/--tls-private-key-file: serving a self-signed certificate \
         generated at start; clients cannot verify it"
    );
    let generated = generate()?;
    let key = PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der());
    Ok((vec![generated.cert.der().clone()], key.into()))
}

/// A self-signed pair as [`self_signed`] makes, as PEM texts (certificate, key) to be written to
/// `--cert-dir`.
pub fn self_signed_pem() -> Result<(String, String)> {
    let generated = generate()?;
    Ok((generated.cert.pem(), generated.signing_key.serialize_pem()))
}

/// A certificate for `localhost` and `127.0.0.1`, signed by its own key.
fn generate() -> Result<rcgen::CertifiedKey<rcgen::KeyPair>> {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    rcgen::generate_simple_self_signed(names).map_err(|e| tls_error("self-signed certificate", e))
}

/// The server's TLS configuration: the certificate `serving` resolves (see
/// [`crate::serving_cert`]), the versions and suites `policy` allows, HTTP/1.1 only, client certificates requested from clients (hinting
/// `hint_cas`' subjects) but optional, and checked at the TLS level only for proof of
/// possession (see the module documentation).
pub fn server_config(
    serving: Arc<dyn ResolvesServerCert>,
    hint_cas: &[Arc<dyn ClientCertVerifier>],
    policy: &TlsPolicy,
) -> Result<Arc<ServerConfig>> {
    let provider = policy.provider();
    let verifier = RequestClientCert {
        hints: hint_cas
            .iter()
            .flat_map(|v| v.root_hint_subjects().iter().cloned())
            .collect(),
        provider: Arc::clone(&provider),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(policy.versions())
        .map_err(|e| tls_error("TLS configuration", e))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(serving);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Requests a client certificate, accepts any chain, and verifies the handshake signature made
/// with its key; the chain is judged later by [`crate::auth`].
#[derive(Debug)]
struct RequestClientCert {
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for RequestClientCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
