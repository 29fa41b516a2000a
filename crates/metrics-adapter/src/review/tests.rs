#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use test_support::kube_api::{FakeApi, ReviewFailures, ReviewFault};

const SAR: &str = "POST /apis/authorization.k8s.io/v1/subjectaccessreviews";

/// Short waits, so the tests take milliseconds.
const QUICK: ReviewPolicy = ReviewPolicy {
    budget: Duration::from_secs(5),
    first_delay: Duration::from_millis(10),
    attempts: 5,
};

fn failing(failures: ReviewFailures) -> (FakeApi, Api<SubjectAccessReview>) {
    let fake = FakeApi::default();
    fake.cluster.lock().unwrap().subject_access_review_failures = failures;
    let api = Api::all(fake.client());
    (fake, api)
}

fn attempts(fake: &FakeApi) -> usize {
    fake.lines().iter().filter(|l| l.starts_with(SAR)).count()
}

#[tokio::test]
async fn a_transient_failure_is_asked_again_until_answered() {
    let (fake, api) = failing(ReviewFailures::next(2, ReviewFault::Status(503)));
    let started = Instant::now();
    let answer = create(&api, &SubjectAccessReview::default(), QUICK).await;
    assert!(answer.unwrap().status.is_some(), "the fake's decision");
    assert_eq!(attempts(&fake), 3);
    // Waited 10 ms, then 15 ms, each lengthened by up to as much again.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(25), "{waited:?}");
}

#[tokio::test]
async fn what_k8s_io_apiserver_retries_is_retried_and_nothing_else() {
    for code in [429, 500, 503, 504] {
        let (fake, api) = failing(ReviewFailures::next(1, ReviewFault::Status(code)));
        let answer = create(&api, &SubjectAccessReview::default(), QUICK).await;
        assert!(answer.is_ok(), "{code}: {answer:?}");
        assert_eq!(attempts(&fake), 2, "{code}");
    }
    for code in [400, 401, 403, 404, 422] {
        let (fake, api) = failing(ReviewFailures::next(1, ReviewFault::Status(code)));
        let error = create(&api, &SubjectAccessReview::default(), QUICK)
            .await
            .unwrap_err();
        assert!(
            error.starts_with(&format!("the API server answered {code} ")),
            "{code}: {error}"
        );
        assert!(!error.contains("attempts"), "{code}: {error}");
        assert_eq!(attempts(&fake), 1, "{code}");
    }
}

#[tokio::test]
async fn the_attempts_are_counted_and_the_last_error_is_told() {
    let (fake, api) = failing(ReviewFailures::always(ReviewFault::Status(500)));
    let policy = ReviewPolicy {
        attempts: 3,
        ..QUICK
    };
    let error = create(&api, &SubjectAccessReview::default(), policy)
        .await
        .unwrap_err();
    assert_eq!(attempts(&fake), 3);
    assert!(error.contains("the fake fails this review"), "{error}");
    assert!(error.contains("the last of 3 attempts in"), "{error}");
}

#[tokio::test]
async fn an_api_server_that_does_not_answer_costs_the_budget_and_no_more() {
    let (fake, api) = failing(ReviewFailures::always(ReviewFault::Hang));
    let policy = ReviewPolicy {
        budget: Duration::from_millis(200),
        ..QUICK
    };
    let started = Instant::now();
    let review = SubjectAccessReview::default();
    let error = tokio::time::timeout(Duration::from_secs(5), create(&api, &review, policy))
        .await
        .expect("the budget ends the review")
        .unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(error, "no answer within 200ms (1 attempt)");
    assert_eq!(attempts(&fake), 1);
}

#[tokio::test]
async fn no_wait_is_begun_that_would_end_past_the_budget() {
    let (fake, api) = failing(ReviewFailures::always(ReviewFault::Status(503)));
    // The first wait (80–160 ms) may fit in the budget once; a second one cannot.
    let policy = ReviewPolicy {
        budget: Duration::from_millis(150),
        first_delay: Duration::from_millis(80),
        attempts: 5,
    };
    let started = Instant::now();
    let error = create(&api, &SubjectAccessReview::default(), policy)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    // The API server's own error, not a timeout.
    assert!(
        error.starts_with("the API server answered 503 ServiceUnavailable: "),
        "{error}"
    );
    assert!((1..=2).contains(&attempts(&fake)), "{}", attempts(&fake));
}

#[tokio::test]
async fn an_api_server_that_refuses_connections_is_tried_again() {
    // A loopback port nothing listens on, through kube's real HTTP client.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = kube::Config::new(format!("http://127.0.0.1:{port}").parse().unwrap());
    config.default_retry = false;
    let api: Api<SubjectAccessReview> = Api::all(kube::Client::try_from(config).unwrap());
    let policy = ReviewPolicy {
        attempts: 3,
        ..QUICK
    };
    let error = create(&api, &SubjectAccessReview::default(), policy)
        .await
        .unwrap_err();
    assert!(error.contains("the last of 3 attempts"), "{error}");
}

#[test]
fn transient_errors_are_the_api_servers_try_again_answers_and_lost_connections() {
    let api = |code: u16| {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..kube::core::Status::default()
        }))
    };
    for code in [429, 500, 503, 504] {
        assert!(is_transient(&api(code)), "{code}");
    }
    for code in [400, 401, 403, 404, 409, 422, 501] {
        assert!(!is_transient(&api(code)), "{code}");
    }
    let lost = kube::Error::Service("connection refused".into());
    assert!(is_transient(&lost));
    let garbage = kube::Error::SerdeError(serde_json::from_str::<u8>("x").unwrap_err());
    assert!(!is_transient(&garbage));
}
