//! `--tls-min-version` and `--tls-cipher-suites`, with k8s.io/apiserver's names, so manifests
//! that harden an aggregated API server (kube-prometheus passes a cipher list to
//! prometheus-adapter) carry over.
//!
//! rustls offers TLS 1.2 and 1.3 only, and for TLS 1.2 only ECDHE key exchange with AEAD
//! ciphers (AES-GCM, ChaCha20-Poly1305). So: `VersionTLS10`/`VersionTLS11` are accepted and
//! mean 1.2 (with a warning); a listed suite Go knows but rustls does not offer (CBC, RC4,
//! 3DES, RSA key exchange) is left out with a warning; a name Go does not know either is an
//! error, as it is for kube-apiserver. As in Go, TLS 1.3 suites are always offered: the list
//! restricts TLS 1.2.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use crate::Result;
use crate::tls::{self, tls_error};

/// Suites Go's `crypto/tls` knows by name (`CipherSuites()`, `InsecureCipherSuites()` and the
/// two ChaCha20 names without `_SHA256`), which kube-apiserver's flag therefore accepts.
const GO_SUITE_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_RC4_128_SHA",
];

/// The TLS 1.3 suites by Go's names: always offered, whether listed or not.
const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// The protocol versions and cipher suites every handshake may use.
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    versions: Vec<&'static SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
}

impl Default for TlsPolicy {
    /// TLS 1.2 and 1.3 with every suite rustls offers.
    fn default() -> Self {
        TlsPolicy {
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            provider: tls::provider(),
        }
    }
}

impl TlsPolicy {
    /// The policy of `--tls-min-version` (`None`: TLS 1.2) and `--tls-cipher-suites` (empty:
    /// every suite offered).
    pub fn from_flags(min_version: Option<&str>, suite_names: &[String]) -> Result<Self> {
        let versions = match min_version.unwrap_or("VersionTLS12") {
            "VersionTLS13" => vec![&rustls::version::TLS13],
            "VersionTLS12" => vec![&rustls::version::TLS13, &rustls::version::TLS12],
            old @ ("VersionTLS10" | "VersionTLS11") => {
                tracing::warn!(
                    "--tls-min-version={old}: TLS 1.0 and 1.1 are not offered; the lowest \
                     version served is TLS 1.2"
                );
                vec![&rustls::version::TLS13, &rustls::version::TLS12]
            }
            other => {
                return Err(tls_error(
                    "--tls-min-version",
                    format!(
                        "{other:?} is not one of VersionTLS10, VersionTLS11, VersionTLS12, \
                         VersionTLS13"
                    ),
                ));
            }
        };
        let mut provider = CryptoProvider::clone(&tls::provider());
        // `--tls-cipher-suites=` (empty) means the defaults, as for kube-apiserver.
        let suite_names: Vec<&str> = suite_names
            .iter()
            .map(|name| name.trim())
            .filter(|name| !name.is_empty())
            .collect();
        if !suite_names.is_empty() {
            let wanted = suite_names
                .iter()
                .map(|name| canonical_suite_name(name))
                .collect::<Result<Vec<_>>>()?;
            let offered = |suite: &SupportedCipherSuite| {
                matches!(suite, SupportedCipherSuite::Tls13(_))
                    || wanted.contains(&suite_name(suite))
            };
            for name in &wanted {
                let tls13 = TLS13_NAMES.contains(name);
                if !tls13
                    && !provider
                        .cipher_suites
                        .iter()
                        .any(|s| suite_name(s) == *name)
                {
                    tracing::warn!(
                        suite = name,
                        "--tls-cipher-suites: not offered (rustls offers ECDHE with AES-GCM or \
                         ChaCha20-Poly1305 for TLS 1.2); left out"
                    );
                }
            }
            provider.cipher_suites.retain(offered);
            let tls12_left = provider
                .cipher_suites
                .iter()
                .any(|s| matches!(s, SupportedCipherSuite::Tls12(_)));
            if !tls12_left && versions.contains(&&rustls::version::TLS12) {
                tracing::warn!(
                    "--tls-cipher-suites names no TLS 1.2 suite rustls offers: only TLS 1.3 \
                     clients can connect"
                );
            }
        }
        Ok(TlsPolicy {
            versions,
            provider: Arc::new(provider),
        })
    }

    /// The crypto provider holding the allowed cipher suites.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        Arc::clone(&self.provider)
    }

    /// The allowed protocol versions.
    pub fn versions(&self) -> &[&'static SupportedProtocolVersion] {
        &self.versions
    }
}

/// A suite's IANA name, as Go and kube-apiserver write it (rustls prefixes TLS 1.3 ones
/// `TLS13_`).
fn suite_name(suite: &SupportedCipherSuite) -> &'static str {
    suite.suite().as_str().unwrap_or("unnamed")
}

/// The IANA name `name` stands for (Go's two ChaCha20 names without `_SHA256` included), or an
/// error if Go does not know it either.
fn canonical_suite_name(name: &str) -> Result<&'static str> {
    let name = name.trim();
    let known = GO_SUITE_NAMES
        .iter()
        .find(|known| **known == name)
        .ok_or_else(|| {
            tls_error(
                "--tls-cipher-suites",
                format!("{name:?} is not a cipher suite name Go or kube-apiserver knows"),
            )
        })?;
    Ok(match *known {
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        other => other,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn names(policy: &TlsPolicy) -> Vec<&'static str> {
        policy
            .provider
            .cipher_suites
            .iter()
            .map(suite_name)
            .collect()
    }

    #[test]
    fn defaults_offer_tls12_and_13_with_every_suite() {
        let policy = TlsPolicy::from_flags(None, &[]).unwrap();
        assert_eq!(policy.versions().len(), 2);
        assert_eq!(names(&policy), names(&TlsPolicy::default()));
        assert!(names(&policy).contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
    }

    #[test]
    fn a_kube_prometheus_list_keeps_its_aead_suites_and_every_tls13_one() {
        let list: Vec<String> = [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_AES_128_GCM_SHA256",
        ]
        .map(str::to_owned)
        .to_vec();
        let kept = names(&TlsPolicy::from_flags(Some("VersionTLS12"), &list).unwrap());
        assert!(kept.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"));
        assert!(kept.contains(&"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"));
        assert!(!kept.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"));
        assert!(!kept.contains(&"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"));
        for tls13 in [
            "TLS13_AES_128_GCM_SHA256",
            "TLS13_AES_256_GCM_SHA384",
            "TLS13_CHACHA20_POLY1305_SHA256",
        ] {
            assert!(kept.contains(&tls13), "{tls13} missing from {kept:?}");
        }
    }

    #[test]
    fn versions_by_kube_apiserver_name() {
        let only13 = TlsPolicy::from_flags(Some("VersionTLS13"), &[]).unwrap();
        assert_eq!(only13.versions(), [&rustls::version::TLS13]);
        let old = TlsPolicy::from_flags(Some("VersionTLS10"), &[]).unwrap();
        assert_eq!(old.versions().len(), 2);
        let error = TlsPolicy::from_flags(Some("TLS1.3"), &[]).unwrap_err();
        assert!(error.to_string().contains("--tls-min-version"), "{error}");
    }

    #[test]
    fn an_empty_list_means_the_defaults() {
        let empty = TlsPolicy::from_flags(None, &[String::new()]).unwrap();
        assert_eq!(names(&empty), names(&TlsPolicy::default()));
    }

    #[test]
    fn an_unknown_suite_name_is_an_error_naming_it() {
        let error = TlsPolicy::from_flags(None, &["TLS_MADE_UP_SHA256".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("--tls-cipher-suites") && error.contains("TLS_MADE_UP"),
            "{error}"
        );
    }
}
