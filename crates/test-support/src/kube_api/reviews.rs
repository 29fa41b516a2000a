//! SubjectAccessReviews and TokenReviews in the fake API server, answered from the cluster's
//! allow list and token map.

use http::{Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::{FakeCluster, respond, status};

impl FakeCluster {
    /// Answers a SubjectAccessReview: allowed when `allowed` holds (user, verb, resource,
    /// subresource) exactly, or (user, verb, path, "") for a non-resource review.
    pub(super) fn subject_access_review(&self, mut review: Value) -> Response<Body> {
        if self.fail_subject_access_reviews {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the authorizer is failing".to_owned(),
            );
        }
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
        if self.fail_token_reviews {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the token authenticator is failing".to_owned(),
            );
        }
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
