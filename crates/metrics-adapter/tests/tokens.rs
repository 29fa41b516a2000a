//! Bearer tokens by TokenReview, over HTTPS against the fake Kubernetes API: the user reaches
//! authorization, bad tokens are 401, verdicts are cached, no connection means 401 saying so.
//!
//! The store is a closed port, so a metric request that passes authorization answers 404 or
//! 503, never 401 or 403.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::https::{METRIC, SAR, allow, count, flag, start, unauthorized};
use common::{TestResult, V2, bounded};
use serde_json::{Value, json};
use test_support::kube_api::{FakeApi, ReviewFailures, ReviewFault};
use test_support::pki::TestCa;

const TOKEN_REVIEW: &str = "POST /apis/authentication.k8s.io/v1/tokenreviews";

fn add_token(fake: &FakeApi, token: &str, user: Value) {
    fake.cluster
        .lock()
        .unwrap()
        .tokens
        .insert(token.to_owned(), user);
}

#[tokio::test]
async fn a_valid_token_reaches_the_router_and_its_uid_and_groups_go_into_the_review() -> TestResult
{
    bounded(async {
        let fake = FakeApi::default();
        let user = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";
        add_token(
            &fake,
            "hpa-token",
            json!({
                "username": user,
                "uid": "7b3c-hpa",
                "groups": ["system:serviceaccounts", "system:authenticated"],
            }),
        );
        allow(&fake, user);
        let setup = start(tempfile::tempdir()?, Some(&fake), &[]).await?;
        let anonymous = setup.client(None);
        let bearer = [("Authorization", "Bearer hpa-token")];
        let (status, body) = setup.get(&anonymous, "/apis", &bearer).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "APIGroupList", "{body}");
        let (status, body) = setup
            .get(
                &anonymous,
                &format!("{V2}/namespaces/ns1/pods/*/{METRIC}"),
                &bearer,
            )
            .await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        let review = fake.body_of(SAR).expect("a SubjectAccessReview");
        assert_eq!(review["spec"]["user"], user, "{review}");
        assert_eq!(review["spec"]["uid"], "7b3c-hpa", "{review}");
        assert_eq!(
            review["spec"]["groups"],
            json!(["system:serviceaccounts", "system:authenticated"]),
            "{review}"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_bad_token_is_a_401_status() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(tempfile::tempdir()?, Some(&fake), &[]).await?;
        let anonymous = setup.client(None);
        let message = unauthorized(
            setup
                .get(&anonymous, "/apis", &[("Authorization", "Bearer wrong")])
                .await?,
        );
        assert!(message.contains("invalid bearer token"), "{message}");

        // A TokenReview that cannot be made fails closed with a 401 too (here the API server
        // refuses the adapter's review: no retry can help).
        add_token(&fake, "right", json!({"username": "bob"}));
        fake.cluster.lock().unwrap().token_review_failures =
            ReviewFailures::always(ReviewFault::Status(403));
        let message = unauthorized(
            setup
                .get(&anonymous, "/apis", &[("Authorization", "Bearer right")])
                .await?,
        );
        assert!(message.contains("TokenReview failed"), "{message}");
        assert_eq!(count(&fake, SAR), 0, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn two_requests_with_one_token_make_one_token_review() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        add_token(&fake, "one", json!({"username": "alice"}));
        add_token(&fake, "two", json!({"username": "bob"}));
        let setup = start(
            tempfile::tempdir()?,
            Some(&fake),
            &["--authorization-always-allow".to_owned()],
        )
        .await?;
        let anonymous = setup.client(None);
        for token in [
            "Bearer one",
            "Bearer one",
            "Bearer two",
            "Bearer nobody",
            "Bearer nobody",
        ] {
            let (status, _) = setup
                .get(&anonymous, "/apis", &[("Authorization", token)])
                .await?;
            assert_eq!(status == 200, token != "Bearer nobody", "{token}: {status}");
        }
        assert_eq!(count(&fake, TOKEN_REVIEW), 3, "{:?}", fake.lines());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_token_without_a_kubernetes_connection_is_401_naming_why() -> TestResult {
    bounded(async {
        let dir = tempfile::tempdir()?;
        let clients = TestCa::new(dir.path(), "clients")?;
        let setup = start(
            dir,
            None,
            &[
                "--authorization-always-allow".to_owned(),
                flag("client-ca-file", &clients),
            ],
        )
        .await?;
        let message = unauthorized(
            setup
                .get(
                    &setup.client(None),
                    "/apis",
                    &[("Authorization", "Bearer t")],
                )
                .await?,
        );
        assert!(
            message.contains("needs a Kubernetes connection"),
            "{message}"
        );
        // Certificates from the flags' CA still work.
        let user = setup.client(Some(&clients.client_cert("bob", &[])?));
        assert_eq!(setup.get(&user, "/apis", &[]).await?.0, 200);
        Ok(())
    })
    .await
}
