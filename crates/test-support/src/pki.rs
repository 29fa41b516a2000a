//! A throwaway certificate authority for tests of TLS paths: server certificates for loopback,
//! client certificates with a chosen CN and organisations, all written as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};

use crate::{Error, Result};

/// A CA whose certificate is written to `<dir>/<name>-ca.pem`.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_path: PathBuf,
    dir: PathBuf,
}

/// PEM files of an issued certificate and its key.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_path: PathBuf,
    /// The private key, PEM (PKCS#8).
    pub key_path: PathBuf,
}

fn pki_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::Command {
        command: format!("generating {what}"),
        output: error.to_string(),
    }
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|source| Error::Io {
        what: path.display().to_string(),
        source,
    })
}

impl TestCa {
    /// Creates a CA named `name` and writes its certificate into `dir`.
    pub fn new(dir: &Path, name: &str) -> Result<Self> {
        let key = KeyPair::generate().map_err(|e| pki_error("a CA key", e))?;
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        let cert = params
            .self_signed(&key)
            .map_err(|e| pki_error("a CA certificate", e))?;
        let cert_path = dir.join(format!("{name}-ca.pem"));
        write(&cert_path, &cert.pem())?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            cert_path,
            dir: dir.to_owned(),
        })
    }

    /// The CA certificate file, for `--*-ca-file` flags.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `127.0.0.1` and `localhost`.
    pub fn server_cert(&self, name: &str) -> Result<IssuedCert> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])
            .map_err(|e| pki_error("server params", e))?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(name, params)
    }

    /// A client certificate with common name `user` and organisations `groups`, which the
    /// Kubernetes API reads as user and groups.
    pub fn client_cert(&self, user: &str, groups: &[&str]) -> Result<IssuedCert> {
        self.issue_client(user, groups, None)
    }

    /// As [`TestCa::client_cert`], valid from now for `valid_for` only (whole seconds), for
    /// tests of what happens when a certificate in use expires.
    pub fn client_cert_valid_for(
        &self,
        user: &str,
        groups: &[&str],
        valid_for: std::time::Duration,
    ) -> Result<IssuedCert> {
        self.issue_client(user, groups, Some(valid_for))
    }

    fn issue_client(
        &self,
        user: &str,
        groups: &[&str],
        valid_for: Option<std::time::Duration>,
    ) -> Result<IssuedCert> {
        let mut params = CertificateParams::default();
        if let Some(valid_for) = valid_for {
            let now = time::OffsetDateTime::now_utc();
            params.not_before = now - time::Duration::minutes(1);
            params.not_after = now + valid_for;
        }
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, user);
        for group in groups {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(&format!("client-{user}"), params)
    }

    fn issue(&self, name: &str, params: CertificateParams) -> Result<IssuedCert> {
        let key = KeyPair::generate().map_err(|e| pki_error("a key", e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| pki_error("a certificate", e))?;
        let cert_path = self.dir.join(format!("{name}.pem"));
        let key_path = self.dir.join(format!("{name}-key.pem"));
        write(&cert_path, &cert.pem())?;
        write(&key_path, &key.serialize_pem())?;
        Ok(IssuedCert {
            cert_path,
            key_path,
        })
    }
}
