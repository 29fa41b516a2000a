//! How SubjectAccessReviews ([`crate::authz`]) and TokenReviews ([`crate::auth::token`]) are
//! posted, as k8s.io/apiserver's delegating authorizer and authenticator post theirs, so an API
//! server that is briefly unavailable costs a retry instead of a failed HPA request, and one
//! that hangs holds a request for at most [`ReviewPolicy::budget`]:
//!
//! - a failure that says "try again" — the connection lost or refused, 429, 500, 503, 504
//!   (k8s.io/apiserver's `DefaultShouldRetry`, plus 503 as kube-rs's own retry policy has it) —
//!   is retried after 500 ms, then 1.5 times longer each time, each wait lengthened by up to
//!   as much again at random (so the replicas' retries spread), at most five attempts in all
//!   (k8s.io/apiserver's `DefaultRetryBackoffWithInitialDelay(500ms)`);
//! - any other failure (403: the adapter may not create reviews; an answer that does not
//!   decode) ends the review at once;
//! - the attempts and the waits between them all fit in the budget (10 s, k8s.io/apiserver's
//!   timeout for delegated reviews); a wait that would end past it is not begun.
//!
//! The adapter's Kubernetes client does not retry by itself ([`crate::serve::kube_client`]),
//! so this is the one retry policy on the path of a request.

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use kube::Api;
use kube::api::PostParams;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

/// How long a review may take, retries included, and how it retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewPolicy {
    /// Every attempt and wait of one review fits in this.
    pub budget: Duration,
    /// The wait before the first retry (each next one 1.5 times longer, plus jitter).
    pub first_delay: Duration,
    /// The most attempts, the first included.
    pub attempts: usize,
}

impl Default for ReviewPolicy {
    /// k8s.io/apiserver's: 10 s, 500 ms, five attempts.
    fn default() -> Self {
        ReviewPolicy {
            budget: Duration::from_secs(10),
            first_delay: Duration::from_millis(500),
            attempts: 5,
        }
    }
}

/// How one attempt ended, when it did not succeed.
#[derive(Debug)]
enum Attempt {
    Failed(kube::Error),
    OutOfTime,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // The `Status` said in a line (kube's own text repeats it as `Debug`).
            Attempt::Failed(kube::Error::Api(status)) => write!(
                f,
                "the API server answered {} {}: {}",
                status.code, status.reason, status.message
            ),
            Attempt::Failed(error) => write!(f, "{error}"),
            Attempt::OutOfTime => f.write_str("no answer"),
        }
    }
}

/// Whether `error` says the same review may succeed if asked again.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 503 | 504),
        // The connection failed (refused, reset, closed before the answer).
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Creates `review` through `api` under `policy`; `Err` says what the last attempt met and,
/// when there were several, how many and in how long.
pub async fn create<K>(api: &Api<K>, review: &K, policy: ReviewPolicy) -> Result<K, String>
where
    K: Clone + Debug + DeserializeOwned + Serialize,
{
    let started = Instant::now();
    let deadline = started + policy.budget;
    let attempts = AtomicUsize::new(0);
    let attempt = || {
        attempts.fetch_add(1, Ordering::Relaxed);
        async move {
            match tokio::time::timeout_at(deadline, api.create(&PostParams::default(), review))
                .await
            {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(error)) => Err(Attempt::Failed(error)),
                Err(_) => Err(Attempt::OutOfTime),
            }
        }
    };
    let backoff = ExponentialBuilder::new()
        .with_min_delay(policy.first_delay)
        .with_factor(1.5)
        .with_jitter()
        .without_max_delay()
        .with_max_times(policy.attempts.saturating_sub(1));
    let answer = attempt
        .retry(backoff)
        .when(|ended| matches!(ended, Attempt::Failed(error) if is_transient(error)))
        .adjust(|_, delay| delay.filter(|delay| Instant::now() + *delay < deadline))
        .notify(|ended, delay| {
            tracing::debug!(error = %ended, ?delay, "a review failed; asking again");
        })
        .await;
    answer.map_err(|ended| {
        let made = attempts.load(Ordering::Relaxed);
        match ended {
            Attempt::OutOfTime => format!(
                "no answer within {:?} ({made} attempt{})",
                policy.budget,
                if made == 1 { "" } else { "s" }
            ),
            failed if made > 1 => format!(
                "{failed} (the last of {made} attempts in {:.1} s)",
                started.elapsed().as_secs_f64()
            ),
            failed => failed.to_string(),
        }
    })
}

#[cfg(test)]
mod tests;
