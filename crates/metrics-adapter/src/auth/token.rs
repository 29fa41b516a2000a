//! Bearer tokens, checked as k8s.io/apiserver's delegating authenticator checks them: one
//! `authentication.k8s.io/v1` TokenReview posted to kube-apiserver, whose answer names the user.
//!
//! - `Authorization: Bearer <token>` (scheme case-insensitive, as k8s.io/apiserver reads it) is
//!   the only form read; any other `Authorization` header authenticates nobody.
//! - `status.authenticated: true` → the user, groups and extra of `status.user`;
//!   `false` → 401 "invalid bearer token" with the reviewer's `status.error`.
//! - A review that cannot be made (API down, error answer), once retried and bounded in time as
//!   [`crate::review`] says → 401 as well ([`Error::TokenReviewFailed`]), as k8s.io/apiserver
//!   answers a failed token authentication, and a warning is logged. Failures are not cached.
//! - Verdicts are cached for [`AUTHENTICATED_TTL`] / [`REJECTED_TTL`] (k8s.io/apiserver's
//!   default `--authentication-token-webhook-cache-ttl` is 10 s for both), keyed by the
//!   SHA-256 of the token — the token itself is never kept nor logged — at most
//!   [`CACHE_CAPACITY`] authenticated and, apart, [`REJECTED_CAPACITY`] rejected ones, so
//!   bogus tokens cannot push out the ones in use.
//! - Requests with one token arriving while its review is under way wait for that review
//!   ([`crate::single_flight`], as k8s.io/apiserver's token cache does), so an expired verdict
//!   costs one review, not one per request in flight.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Api;

use super::UserInfo;
use crate::cache::ExpiringCache;
use crate::review::{self, ReviewPolicy};
use crate::single_flight::SingleFlight;
use crate::{Error, Result};

/// How long an authenticated token's user is reused.
pub const AUTHENTICATED_TTL: Duration = Duration::from_secs(10);

/// How long a rejected token stays rejected without asking again.
pub const REJECTED_TTL: Duration = Duration::from_secs(10);

/// The most authenticated tokens kept; when full, the least recently used goes.
pub const CACHE_CAPACITY: usize = 10_000;

/// The most rejected tokens kept, apart from the authenticated ones, so a flood of bogus
/// tokens only ever evicts other bogus tokens.
pub const REJECTED_CAPACITY: usize = 1_000;

/// The SHA-256 of a token: what the cache is keyed by, so no token stays in memory.
type TokenHash = [u8; 32];

/// What a TokenReview said about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Authenticated(UserInfo),
    Rejected(String),
}

/// The token of an `Authorization: Bearer <token>` header, if the request carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Reviews bearer tokens with TokenReviews and caches the verdicts.
pub struct TokenReviewer {
    api: Api<TokenReview>,
    verdicts: Arc<Verdicts>,
    reviewing: SingleFlight<TokenHash, Verdict>,
    policy: ReviewPolicy,
}

/// The verdicts remembered, apart by outcome.
struct Verdicts {
    authenticated: ExpiringCache<TokenHash, UserInfo>,
    rejected: ExpiringCache<TokenHash, String>,
}

impl Verdicts {
    /// Remembers `verdict` on the token of `key` for its TTL.
    fn remember(&self, key: TokenHash, verdict: &Verdict) {
        match verdict {
            Verdict::Authenticated(user) => {
                self.authenticated
                    .insert(key, user.clone(), AUTHENTICATED_TTL);
            }
            Verdict::Rejected(reason) => {
                self.rejected.insert(key, reason.clone(), REJECTED_TTL);
            }
        }
    }
}

impl std::fmt::Debug for TokenReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenReviewer").finish_non_exhaustive()
    }
}

/// The TokenReview asking who `token` belongs to (no audiences: the API server's own).
pub fn review(token: &str) -> TokenReview {
    TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            audiences: None,
        },
        ..TokenReview::default()
    }
}

fn hash(token: &str) -> TokenHash {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut hash = [0; 32];
    hash.copy_from_slice(digest.as_ref());
    hash
}

impl TokenReviewer {
    /// A reviewer posting its TokenReviews through `client`.
    pub fn new(client: kube::Client) -> Self {
        TokenReviewer {
            api: Api::all(client),
            verdicts: Arc::new(Verdicts {
                authenticated: ExpiringCache::new(CACHE_CAPACITY),
                rejected: ExpiringCache::new(REJECTED_CAPACITY),
            }),
            reviewing: SingleFlight::default(),
            policy: ReviewPolicy::default(),
        }
    }

    /// Posts reviews under `policy` instead of k8s.io/apiserver's ([`ReviewPolicy::default`]).
    pub fn with_review_policy(mut self, policy: ReviewPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The user `token` belongs to, or a 401 error saying why there is none.
    pub async fn authenticate(&self, token: &str) -> Result<UserInfo> {
        let key = hash(token);
        if let Some(user) = self.verdicts.authenticated.get(&key) {
            return Ok(user);
        }
        if let Some(reason) = self.verdicts.rejected.get(&key) {
            return Err(Error::Unauthenticated(reason));
        }
        let verdict = self
            .reviewing
            .run(&key, || {
                let (api, policy) = (self.api.clone(), self.policy);
                let (verdicts, token) = (Arc::clone(&self.verdicts), token.to_owned());
                async move {
                    let verdict = ask(&api, &token, policy).await?;
                    verdicts.remember(key, &verdict);
                    Ok(verdict)
                }
            })
            .await
            .map_err(Error::TokenReviewFailed)
            .inspect_err(|error| {
                tracing::warn!(%error, "bearer token refused: the TokenReview failed");
            })?;
        match verdict {
            Verdict::Authenticated(user) => Ok(user),
            Verdict::Rejected(reason) => Err(Error::Unauthenticated(reason)),
        }
    }
}

/// Posts the review of `token`; an error says why it could not be made.
async fn ask(
    api: &Api<TokenReview>,
    token: &str,
    policy: ReviewPolicy,
) -> std::result::Result<Verdict, String> {
    let answer = review::create(api, &review(token), policy).await?;
    let status = answer.status.unwrap_or_default();
    let user = status.user.unwrap_or_default();
    let name = user.username.unwrap_or_default();
    Ok(match status.authenticated {
        Some(true) if !name.is_empty() => Verdict::Authenticated(UserInfo {
            name,
            groups: user.groups.unwrap_or_default(),
            extra: user.extra.unwrap_or_default(),
            uid: user.uid.filter(|uid| !uid.is_empty()),
        }),
        Some(true) => Verdict::Rejected(
            "invalid bearer token: the TokenReview authenticated it but named no user".into(),
        ),
        _ => Verdict::Rejected(match status.error.filter(|e| !e.is_empty()) {
            Some(error) => format!("invalid bearer token: {error}"),
            None => "invalid bearer token".to_owned(),
        }),
    })
}

#[cfg(test)]
mod tests;
