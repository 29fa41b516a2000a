//! Authentication of API requests, as k8s.io/apiserver does it for an aggregated API server:
//!
//! - a **front-proxy** client certificate (chaining to the request-header CA, with a CN in the
//!   allowed names, any CN when that list is empty) vouches for the user named in the request
//!   headers (`X-Remote-User`, `X-Remote-Group`, `X-Remote-Extra-*` by default);
//! - a plain **client certificate** chaining to the client CA is the user its CN names, in the
//!   groups its O values name;
//! - failing both, an `Authorization: Bearer` **token** is the user a TokenReview says it is
//!   ([`token`]);
//! - anything else (no credentials, another CA, a front-proxy CN not allowed, a front-proxy
//!   certificate without a user header, a token the review rejects) is a 401 `Status`.
//!
//! Whoever is authenticated is also in the group `system:authenticated`, as k8s.io/apiserver
//! adds it to every authenticated user but the anonymous one a front proxy may pass on.
//!
//! Where the CAs and header names come from — the `--requestheader-*` / `--client-ca-file`
//! flags, else the `extension-apiserver-authentication` ConfigMap, re-read when it changes — is
//! [`delegated`]. An [`Authenticator`] is one immutable snapshot of that trust; the one in
//! force is swapped as a whole ([`crate::trust`]).
//!
//! The certificate is judged once per connection ([`Authenticator::peer`]), again when the
//! trust changes, and at every request once a certificate the client sent has expired
//! ([`chain_expiry`]); the headers and token once per request ([`Authenticator::authenticate`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use rustls::server::danger::ClientCertVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::{Error, Result};

pub mod ca_files;
pub mod delegated;
pub mod token;

use token::TokenReviewer;

/// The front-proxy (request header) settings: the CA, allowed CNs and header names.
#[derive(Debug, Clone)]
pub struct FrontProxy {
    /// Verifies chains against the request-header CA (the flag's file or the ConfigMap's key).
    pub verifier: Arc<dyn ClientCertVerifier>,
    /// CNs allowed to act as front proxy; empty = any CN the CA signed.
    pub allowed_names: Vec<String>,
    /// Headers carrying the user name; the first present wins.
    pub username_headers: Vec<String>,
    /// Headers carrying groups; every value of each counts.
    pub group_headers: Vec<String>,
    /// Headers carrying the user's UID; the first present wins (none: no UID).
    pub uid_headers: Vec<String>,
    /// Prefixes of headers carrying extra attributes (`X-Remote-Extra-<key>`).
    pub extra_headers_prefixes: Vec<String>,
    /// Where the allowed names come from, as refusals name it (`--requestheader-allowed-names`,
    /// or the ConfigMap key).
    pub allowed_names_source: String,
}

/// Who a request is made for, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    /// The user name.
    pub name: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// Extra attributes: from a front proxy's headers (keys lowercased and percent-decoded)
    /// or a TokenReview.
    pub extra: BTreeMap<String, Vec<String>>,
    /// The user's unique id, when a TokenReview or a front proxy's UID header gave one;
    /// passed on to SubjectAccessReviews.
    pub uid: Option<String>,
}

/// The group every authenticated user is in (`user.AllAuthenticated` in k8s.io/apiserver).
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// The user kube-apiserver names an anonymous request (`user.Anonymous`); a front proxy passes
/// it on when the cluster allows anonymous requests.
pub const ANONYMOUS_USER: &str = "system:anonymous";

/// The group of anonymous requests (`user.AllUnauthenticated`).
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// What a connection's client certificate established, judged once per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// No client certificate was presented.
    Anonymous,
    /// An allowed front proxy, identified by its CN; the user comes from the headers.
    FrontProxy(String),
    /// A user authenticated by a `--client-ca-file` certificate.
    User(UserInfo),
    /// A certificate that authenticates nobody, and why.
    Rejected(String),
}

/// Judges client certificates and request headers (see the module documentation).
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    front_proxy: Option<FrontProxy>,
    client_ca: Option<Arc<dyn ClientCertVerifier>>,
    unavailable: Vec<String>,
}

/// The subject's CN and O values of a DER certificate; of several CNs the last, as Go's
/// `pkix.Name.CommonName` (which kube-apiserver reads) keeps the last.
fn subject(cert: &CertificateDer<'_>) -> Option<(String, Vec<String>)> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let subject = parsed.subject();
    let cn = subject
        .iter_common_name()
        .last()
        .and_then(|cn| cn.as_str().ok())?
        .to_owned();
    let orgs = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_owned))
        .collect();
    Some((cn, orgs))
}

/// When the first of the certificates a client sent (`chain`) stops being valid: a
/// connection's certificate is judged when the connection opens, and must be judged again
/// once this has passed.
pub fn chain_expiry(chain: &[CertificateDer<'_>]) -> Option<std::time::SystemTime> {
    chain
        .iter()
        .filter_map(|cert| {
            let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
            let seconds = u64::try_from(parsed.validity().not_after.timestamp()).ok()?;
            Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        })
        .min()
}

impl Authenticator {
    /// An authenticator trusting the given front proxy and client CA (each optional).
    pub fn new(
        front_proxy: Option<FrontProxy>,
        client_ca: Option<Arc<dyn ClientCertVerifier>>,
    ) -> Self {
        Authenticator {
            front_proxy,
            client_ca,
            unavailable: Vec::new(),
        }
    }

    /// Notes a CA that should be trusted but is not available, and why; refused certificates
    /// are told so.
    pub fn unavailable(mut self, why: impl Into<String>) -> Self {
        self.unavailable.push(why.into());
        self
    }

    /// Removes the headers a front proxy names the user with (user, group, UID, extra), as
    /// k8s.io/apiserver clears them once a request is authenticated: nothing after
    /// authentication can read an identity from them.
    pub fn clear_identity_headers(&self, headers: &mut HeaderMap) {
        let Some(front) = &self.front_proxy else {
            return;
        };
        for name in front
            .username_headers
            .iter()
            .chain(&front.group_headers)
            .chain(&front.uid_headers)
        {
            headers.remove(name.as_str());
        }
        let extras: Vec<_> = headers
            .keys()
            .filter(|name| {
                front.extra_headers_prefixes.iter().any(|prefix| {
                    name.as_str()
                        .get(..prefix.len())
                        .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
                })
            })
            .cloned()
            .collect();
        for name in extras {
            headers.remove(name);
        }
    }

    /// Whether this authenticator trusts any CA at all.
    pub fn trusts_any_ca(&self) -> bool {
        self.front_proxy.is_some() || self.client_ca.is_some()
    }

    /// The CA verifiers, to hint their subjects in the TLS handshake.
    pub fn ca_verifiers(&self) -> Vec<Arc<dyn ClientCertVerifier>> {
        self.front_proxy
            .iter()
            .map(|f| Arc::clone(&f.verifier))
            .chain(self.client_ca.iter().cloned())
            .collect()
    }

    /// Judges the chain a client presented (leaf first): which CA, if any, vouches for it.
    pub fn peer(&self, chain: Option<&[CertificateDer<'static>]>) -> Peer {
        let Some((leaf, intermediates)) = chain.and_then(|c| c.split_first()) else {
            return Peer::Anonymous;
        };
        let Some((cn, orgs)) = subject(leaf) else {
            return Peer::Rejected("the client certificate has no readable subject CN".into());
        };
        let now = UnixTime::now();
        let verified = |v: &Arc<dyn ClientCertVerifier>| {
            v.verify_client_cert(leaf, intermediates, now).is_ok()
        };
        // Whether the client CA vouches for the chain, and if not why (expired, say).
        let by_client_ca = self
            .client_ca
            .as_ref()
            .map(|v| v.verify_client_cert(leaf, intermediates, now).map(|_| ()));
        let client_ca_vouches = matches!(by_client_ca, Some(Ok(())));
        if let Some(front) = &self.front_proxy
            && verified(&front.verifier)
        {
            if front.allowed_names.is_empty() || front.allowed_names.contains(&cn) {
                return Peer::FrontProxy(cn);
            }
            if !client_ca_vouches {
                return Peer::Rejected(format!(
                    "front-proxy certificate CN {cn:?} is not in {}",
                    front.allowed_names_source
                ));
            }
        }
        if client_ca_vouches {
            // As k8s.io/apiserver's CommonNameUserConversion: no CN, no user.
            if cn.is_empty() {
                return Peer::Rejected(
                    "the client certificate's subject CN is empty: it names no user".into(),
                );
            }
            return Peer::User(UserInfo {
                name: cn,
                groups: orgs,
                extra: BTreeMap::new(),
                uid: None,
            });
        }
        let mut reason =
            format!("the client certificate of {cn:?} does not chain to a trusted client CA");
        if let Some(Err(error)) = &by_client_ca {
            reason.push_str(&format!(" ({error})"));
        }
        for why in &self.unavailable {
            reason.push_str("; ");
            reason.push_str(why);
        }
        Peer::Rejected(reason)
    }

    /// The user a request is made for — by its connection's certificate (`peer`), else by
    /// its bearer token through `tokens` (`None`: no Kubernetes connection) — or a 401 error
    /// saying why there is none.
    ///
    /// Every user it authenticates is also in [`AUTHENTICATED_GROUP`], as k8s.io/apiserver's
    /// authenticated-group adder makes them, so RBAC bindings to it apply here too; not the
    /// anonymous user ([`ANONYMOUS_USER`], or anyone in [`UNAUTHENTICATED_GROUP`]).
    pub async fn authenticate(
        &self,
        peer: &Peer,
        headers: &HeaderMap,
        tokens: Option<&TokenReviewer>,
    ) -> Result<UserInfo> {
        let mut user = self.identify(peer, headers, tokens).await?;
        // As the adder does: not for the anonymous user a front proxy may pass on.
        let anonymous = user.name == ANONYMOUS_USER
            || user
                .groups
                .iter()
                .any(|group| group == UNAUTHENTICATED_GROUP);
        if !anonymous && !user.groups.iter().any(|group| group == AUTHENTICATED_GROUP) {
            user.groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        Ok(user)
    }

    /// The user as the certificate, the headers or the token name them.
    async fn identify(
        &self,
        peer: &Peer,
        headers: &HeaderMap,
        tokens: Option<&TokenReviewer>,
    ) -> Result<UserInfo> {
        let refused = match self.by_certificate(peer, headers) {
            Ok(user) => return Ok(user),
            Err(refused) => refused,
        };
        let Some(token) = token::bearer(headers) else {
            return Err(match peer {
                Peer::Anonymous if headers.contains_key(header::AUTHORIZATION) => {
                    Error::Unauthenticated(
                        "the Authorization header is not a bearer token, and no client \
                         certificate was presented"
                            .into(),
                    )
                }
                _ => refused,
            });
        };
        let by_token = match tokens {
            Some(tokens) => tokens.authenticate(token).await,
            None => Err(Error::Unauthenticated(
                "bearer tokens are checked by TokenReview, which needs a Kubernetes connection \
                 (--kubeconfig, KUBECONFIG or in-cluster), and the adapter has none; use a \
                 client certificate"
                    .into(),
            )),
        };
        match (by_token, peer) {
            (Ok(user), _) => Ok(user),
            (Err(error), Peer::Anonymous) => Err(error),
            (Err(error), _) => Err(Error::Unauthenticated(format!(
                "{}; and the client certificate: {}",
                why_unauthenticated(&error),
                why_unauthenticated(&refused)
            ))),
        }
    }

    /// The user the connection's certificate (and, for a front proxy, the headers) name.
    fn by_certificate(&self, peer: &Peer, headers: &HeaderMap) -> Result<UserInfo> {
        match peer {
            Peer::User(user) => Ok(user.clone()),
            Peer::FrontProxy(cn) => match &self.front_proxy {
                Some(front) => from_headers(front, cn, headers),
                None => Err(Error::Unauthenticated(
                    "no front proxy is configured".into(),
                )),
            },
            Peer::Rejected(reason) => Err(Error::Unauthenticated(reason.clone())),
            Peer::Anonymous => Err(Error::Unauthenticated(
                "no client certificate was presented".into(),
            )),
        }
    }
}

/// The reason of a 401 error, without its `Unauthorized:` prefix.
fn why_unauthenticated(error: &Error) -> String {
    match error {
        Error::Unauthenticated(reason) => reason.clone(),
        Error::TokenReviewFailed(reason) => {
            format!("{TOKEN_REVIEW_FAILED}: {reason}")
        }
        other => other.to_string(),
    }
}

/// How a failed TokenReview is described in 401 answers.
pub(crate) const TOKEN_REVIEW_FAILED: &str =
    "token authentication could not be checked (TokenReview failed)";

/// An extra attribute's key from the rest of its header name, as k8s.io/apiserver reads it:
/// lowercased (header names are), then percent-decoded (`X-Remote-Extra-Acme.com%2Fproject`
/// → `acme.com/project`); kept as sent when an escape is malformed (Go's `url.PathUnescape`
/// fails then). Decoded bytes that are not UTF-8 become U+FFFD, as Go's JSON encoding of the
/// SubjectAccessReview writes them.
fn extra_key(encoded: &str) -> String {
    let well_formed = encoded
        .split('%')
        .skip(1)
        .all(|after| after.len() >= 2 && after.as_bytes()[..2].iter().all(u8::is_ascii_hexdigit));
    if !well_formed {
        return encoded.to_owned();
    }
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The user a front proxy vouches for, from the configured request headers.
fn from_headers(front: &FrontProxy, cn: &str, headers: &HeaderMap) -> Result<UserInfo> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let name = front
        .username_headers
        .iter()
        .find_map(|h| values(h).into_iter().next())
        .ok_or_else(|| {
            Error::Unauthenticated(format!(
                "front proxy {cn:?} sent no user header ({})",
                front.username_headers.join(", ")
            ))
        })?;
    let groups = front.group_headers.iter().flat_map(|h| values(h)).collect();
    let uid = front
        .uid_headers
        .iter()
        .find_map(|h| values(h).into_iter().next());
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in headers {
        let key = key.as_str();
        let Some(rest) = front.extra_headers_prefixes.iter().find_map(|prefix| {
            let prefix = prefix.to_ascii_lowercase();
            key.strip_prefix(prefix.as_str()).filter(|r| !r.is_empty())
        }) else {
            continue;
        };
        if let Ok(value) = value.to_str() {
            extra
                .entry(extra_key(rest))
                .or_default()
                .push(value.to_owned());
        }
    }
    Ok(UserInfo {
        name,
        groups,
        extra,
        uid,
    })
}

#[cfg(test)]
mod tests;
