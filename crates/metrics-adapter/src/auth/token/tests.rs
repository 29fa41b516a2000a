#![allow(clippy::unwrap_used)]

use super::*;
use axum::http::HeaderValue;
use serde_json::json;
use test_support::kube_api::{FakeApi, ReviewFailures, ReviewFault};

const TOKEN_REVIEWS: &str = "POST /apis/authentication.k8s.io/v1/tokenreviews";

fn with_authorization(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
    headers
}

fn reviews(fake: &FakeApi) -> usize {
    fake.lines()
        .iter()
        .filter(|l| l.starts_with(TOKEN_REVIEWS))
        .count()
}

#[test]
fn only_bearer_credentials_are_tokens() {
    assert_eq!(bearer(&with_authorization("Bearer abc")), Some("abc"));
    assert_eq!(bearer(&with_authorization("bearer abc")), Some("abc"));
    assert_eq!(bearer(&with_authorization("  Bearer abc  ")), Some("abc"));
    assert_eq!(bearer(&with_authorization("Basic YWxpY2U6eA==")), None);
    assert_eq!(bearer(&with_authorization("Bearer")), None);
    assert_eq!(bearer(&with_authorization("Bearer  abc")), None);
    assert_eq!(bearer(&HeaderMap::new()), None);
}

#[test]
fn the_cache_key_is_a_sha256_of_the_token() {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    assert_eq!(
        hash("abc")[..4],
        [0xba, 0x78, 0x16, 0xbf],
        "{:x?}",
        hash("abc")
    );
    assert_ne!(hash("abc"), hash("abd"));
}

#[tokio::test]
async fn an_authenticated_token_names_its_user_and_is_reviewed_once_per_ttl() {
    let fake = FakeApi::default();
    fake.cluster.lock().unwrap().tokens.insert(
        "t0k3n".into(),
        json!({"username": "system:serviceaccount:monitoring:hpa", "uid": "42",
               "groups": ["system:serviceaccounts"], "extra": {"scopes": ["a"]}}),
    );
    let reviewer = TokenReviewer::new(fake.client());
    let user = reviewer.authenticate("t0k3n").await.unwrap();
    assert_eq!(user.name, "system:serviceaccount:monitoring:hpa");
    assert_eq!(user.groups, ["system:serviceaccounts"]);
    assert_eq!(user.extra["scopes"], ["a"]);
    assert_eq!(reviewer.authenticate("t0k3n").await.unwrap(), user);
    assert_eq!(reviews(&fake), 1, "{:?}", fake.lines());
    let body = fake.body_of(TOKEN_REVIEWS).unwrap();
    assert_eq!(body["apiVersion"], "authentication.k8s.io/v1", "{body}");
    assert_eq!(body["kind"], "TokenReview", "{body}");
    assert_eq!(body["spec"], json!({"token": "t0k3n"}), "{body}");
}

#[tokio::test]
async fn a_rejected_token_is_401_and_the_rejection_is_cached() {
    let fake = FakeApi::default();
    let reviewer = TokenReviewer::new(fake.client());
    for _ in 0..2 {
        let error = reviewer.authenticate("unknown").await.unwrap_err();
        assert_eq!(error.status().code, Some(401), "{error}");
        let message = error.to_string();
        assert!(message.contains("invalid bearer token"), "{message}");
        assert!(message.contains("no such token"), "{message}");
    }
    assert_eq!(reviews(&fake), 1, "{:?}", fake.lines());
}

/// A fake API server knowing token `t` as bob, its TokenReviews failing as `failures` say.
fn bobs_token_failing(failures: ReviewFailures) -> FakeApi {
    let fake = FakeApi::default();
    let mut cluster = fake.cluster.lock().unwrap();
    cluster
        .tokens
        .insert("t".into(), json!({"username": "bob"}));
    cluster.token_review_failures = failures;
    drop(cluster);
    fake
}

#[tokio::test]
async fn a_failing_review_is_401_and_not_cached() {
    // The API server refuses the adapter's reviews: nothing to retry.
    let fake = bobs_token_failing(ReviewFailures::always(ReviewFault::Status(403)));
    let reviewer = TokenReviewer::new(fake.client());
    let error = reviewer.authenticate("t").await.unwrap_err();
    assert!(matches!(error, Error::TokenReviewFailed(_)), "{error}");
    assert_eq!(error.status().code, Some(401), "{error}");
    assert!(error.to_string().contains("TokenReview failed"), "{error}");
    assert_eq!(reviews(&fake), 1, "{:?}", fake.lines());
    fake.cluster.lock().unwrap().token_review_failures = ReviewFailures::none();
    assert_eq!(reviewer.authenticate("t").await.unwrap().name, "bob");
    assert_eq!(reviews(&fake), 2, "{:?}", fake.lines());
}

#[tokio::test]
async fn requests_with_one_token_arriving_while_it_is_reviewed_share_the_review() {
    let fake = bobs_token_failing(ReviewFailures::none());
    let reviewer = TokenReviewer::new(fake.client());
    // All four are sent before any answer comes back.
    let (b1, b2, b3, other) = tokio::join!(
        reviewer.authenticate("t"),
        reviewer.authenticate("t"),
        reviewer.authenticate("t"),
        reviewer.authenticate("unknown"),
    );
    for bob in [b1, b2, b3] {
        assert_eq!(bob.unwrap().name, "bob");
    }
    assert!(matches!(other, Err(Error::Unauthenticated(_))), "{other:?}");
    assert_eq!(reviews(&fake), 2, "{:?}", fake.lines());
}

#[tokio::test]
async fn a_review_the_api_server_could_not_answer_is_asked_again() {
    let fake = bobs_token_failing(ReviewFailures::next(1, ReviewFault::Status(500)));
    // k8s.io/apiserver's policy: asked again after 500 ms to 1 s.
    let reviewer = TokenReviewer::new(fake.client());
    assert_eq!(reviewer.authenticate("t").await.unwrap().name, "bob");
    assert_eq!(reviews(&fake), 2, "{:?}", fake.lines());
}

#[tokio::test]
async fn an_authenticated_review_without_a_user_name_is_refused() {
    let fake = FakeApi::default();
    fake.cluster
        .lock()
        .unwrap()
        .tokens
        .insert("t".into(), json!({"groups": ["g"]}));
    let reviewer = TokenReviewer::new(fake.client());
    let error = reviewer.authenticate("t").await.unwrap_err();
    assert!(error.to_string().contains("named no user"), "{error}");
}

#[tokio::test]
async fn a_flood_of_bogus_tokens_does_not_evict_a_token_in_use() {
    let fake = FakeApi::default();
    fake.cluster
        .lock()
        .unwrap()
        .tokens
        .insert("good".into(), json!({"username": "hpa"}));
    let reviewer = TokenReviewer::new(fake.client());
    reviewer.authenticate("good").await.unwrap();
    // More bogus tokens than any pool holds (a single pool of this size used to be cleared).
    for bogus in 0..CACHE_CAPACITY + 10 {
        assert!(
            reviewer
                .authenticate(&format!("bogus-{bogus}"))
                .await
                .is_err()
        );
    }
    let before = reviews(&fake);
    assert_eq!(reviewer.authenticate("good").await.unwrap().name, "hpa");
    assert_eq!(
        reviews(&fake),
        before,
        "the good token's verdict was still cached"
    );
}
