//! SubjectAccessReviews and TokenReviews in the fake API server, answered from the cluster's
//! allow list and token map, or failed as [`ReviewFailures`] say (an API server that is
//! briefly unavailable, refuses the adapter, or hangs).

use http::{Method, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::{FakeApi, FakeCluster, respond, status};

/// The path of SubjectAccessReviews.
const SUBJECT_ACCESS_REVIEWS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
/// The path of TokenReviews.
const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";

/// How the fake fails a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewFault {
    /// A `Status` answer with this HTTP code and the reason the API server gives it.
    Status(u16),
    /// No answer: the request stays open until the client gives up.
    Hang,
}

/// Which reviews of one kind fail: the next `times` ones fail with `fault`, then they are
/// answered again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReviewFailures {
    fault: Option<ReviewFault>,
    times: u32,
}

impl ReviewFailures {
    /// Every review is answered.
    pub fn none() -> Self {
        ReviewFailures::default()
    }

    /// Every review fails with `fault`.
    pub fn always(fault: ReviewFault) -> Self {
        ReviewFailures::next(u32::MAX, fault)
    }

    /// The next `times` reviews fail with `fault`.
    pub fn next(times: u32, fault: ReviewFault) -> Self {
        ReviewFailures {
            fault: Some(fault),
            times,
        }
    }

    /// The fault of the review being answered, if it fails; counts it.
    fn take(&mut self) -> Option<ReviewFault> {
        if self.times == 0 {
            return None;
        }
        if self.times != u32::MAX {
            self.times -= 1;
        }
        self.fault
    }
}

/// The reason kube-apiserver's `Status` gives with `code`.
fn reason_of(code: StatusCode) -> &'static str {
    match code.as_u16() {
        403 => "Forbidden",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "Unknown",
    }
}

impl FakeApi {
    /// The failed answer to a review that is to fail (one that hangs never returns).
    pub(super) async fn review_fault(&self, method: &Method, path: &str) -> Option<Response<Body>> {
        if method != Method::POST {
            return None;
        }
        let fault = {
            let mut cluster = self.cluster.lock().ok()?;
            match path.split('?').next()? {
                SUBJECT_ACCESS_REVIEWS => cluster.subject_access_review_failures.take(),
                TOKEN_REVIEWS => cluster.token_review_failures.take(),
                _ => None,
            }
        }?;
        match fault {
            ReviewFault::Hang => std::future::pending().await,
            ReviewFault::Status(code) => {
                let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Some(status(
                    code,
                    reason_of(code),
                    format!("the fake fails this review ({code})"),
                ))
            }
        }
    }
}

impl FakeCluster {
    /// Answers a SubjectAccessReview: allowed when `allowed` holds (user, verb, resource,
    /// subresource) exactly, or (user, verb, path, "") for a non-resource review.
    pub(super) fn subject_access_review(&self, mut review: Value) -> Response<Body> {
        let spec = &review["spec"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let asked = match spec.get("nonResourceAttributes") {
            Some(path) if !path.is_null() => (
                text(&spec["user"]),
                text(&path["verb"]),
                text(&path["path"]),
                String::new(),
            ),
            _ => {
                let attributes = &spec["resourceAttributes"];
                (
                    text(&spec["user"]),
                    text(&attributes["verb"]),
                    text(&attributes["resource"]),
                    text(&attributes["subresource"]),
                )
            }
        };
        let allowed = self.allowed.contains(&asked);
        let reason = if allowed {
            format!("allowed by the fake: {asked:?}")
        } else {
            format!("no fake rule allows {asked:?}")
        };
        review["status"] = json!({"allowed": allowed, "reason": reason});
        respond(StatusCode::CREATED, &review)
    }

    /// Answers a TokenReview from the token map.
    pub(super) fn token_review(&self, mut review: Value) -> Response<Body> {
        let token = review["spec"]["token"].as_str().unwrap_or_default();
        let audiences = review["spec"]["audiences"].clone();
        review["status"] = match self.tokens.get(token) {
            Some(user) => json!({"authenticated": true, "user": user, "audiences": audiences}),
            None => json!({"authenticated": false, "user": {},
                           "error": "the fake knows no such token"}),
        };
        respond(StatusCode::CREATED, &review)
    }
}
