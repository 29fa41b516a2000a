#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn request_attributes_follow_the_request_info() {
    let one =
        attributes("/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns1/pods/web-1/rps").unwrap();
    assert_eq!(
        (
            one.verb.as_str(),
            one.namespace.as_str(),
            one.resource.as_str()
        ),
        ("get", "ns1", "pods")
    );
    assert_eq!(
        (one.name.as_str(), one.subresource.as_str()),
        ("web-1", "rps")
    );
    let many = attributes("/apis/custom.metrics.k8s.io/v1beta1/namespaces/ns1/pods/*/rps").unwrap();
    assert_eq!((many.verb.as_str(), many.name.as_str()), ("list", ""));
    assert_eq!(many.full_resource(), "pods/rps");
    let node = attributes("/apis/custom.metrics.k8s.io/v1beta2/nodes/n1/load").unwrap();
    assert_eq!(
        (node.namespace.as_str(), node.resource.as_str()),
        ("", "nodes")
    );
    let ns = attributes("/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns1/metrics/m").unwrap();
    assert_eq!(
        (
            ns.namespace.as_str(),
            ns.resource.as_str(),
            ns.name.as_str()
        ),
        ("ns1", "namespaces", "ns1")
    );
    let external =
        attributes("/apis/external.metrics.k8s.io/v1beta1/namespaces/ns1/queue").unwrap();
    assert_eq!(
        (
            external.verb.as_str(),
            external.group.as_str(),
            external.resource.as_str()
        ),
        ("list", "external.metrics.k8s.io", "queue")
    );
    assert_eq!(external.subresource, "");
    for discovery in [
        "/apis",
        "/apis/custom.metrics.k8s.io",
        "/apis/custom.metrics.k8s.io/v1beta2",
        "/apis/external.metrics.k8s.io/v1beta1",
        "/openapi/v2",
    ] {
        assert_eq!(attributes(discovery), None, "{discovery}");
    }
    let metrics = attributes("/metrics").unwrap();
    assert_eq!(
        (metrics.verb.as_str(), metrics.path.as_str()),
        ("get", "/metrics")
    );
    assert_eq!(metrics.full_resource(), "/metrics");
}

#[test]
fn the_review_carries_user_uid_groups_and_extra() {
    let user = UserInfo {
        name: "alice".to_owned(),
        groups: vec!["dev".to_owned()],
        extra: [("scopes".to_owned(), vec!["a".to_owned(), "b".to_owned()])].into(),
        uid: Some("uid-1".to_owned()),
    };
    let attributes =
        attributes("/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns1/pods/*/rps").unwrap();
    let body = serde_json::to_value(review(&user, &attributes)).unwrap();
    assert_eq!(
        body["spec"],
        serde_json::json!({
            "user": "alice",
            "uid": "uid-1",
            "groups": ["dev"],
            "extra": {"scopes": ["a", "b"]},
            "resourceAttributes": {"verb": "list", "group": "custom.metrics.k8s.io",
                "version": "v1beta2", "namespace": "ns1", "resource": "pods", "subresource": "rps"},
        })
    );
}

#[tokio::test]
async fn requests_arriving_while_their_review_is_under_way_share_it() {
    let fake = test_support::kube_api::FakeApi::default();
    fake.cluster.lock().unwrap().allowed.push((
        "alice".to_owned(),
        "list".to_owned(),
        "pods".to_owned(),
        "rps".to_owned(),
    ));
    let authorizer = Authorizer::new(fake.client());
    let alice = UserInfo {
        name: "alice".to_owned(),
        ..UserInfo::default()
    };
    let bob = UserInfo {
        name: "bob".to_owned(),
        ..UserInfo::default()
    };
    let rps = attributes("/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns1/pods/*/rps").unwrap();
    // All five are sent before any answer comes back.
    let (a1, a2, a3, a4, b) = tokio::join!(
        authorizer.authorize(&alice, &rps),
        authorizer.authorize(&alice, &rps),
        authorizer.authorize(&alice, &rps),
        authorizer.authorize(&alice, &rps),
        authorizer.authorize(&bob, &rps),
    );
    assert!(a1.is_ok() && a2.is_ok() && a3.is_ok() && a4.is_ok());
    assert!(matches!(b, Err(Error::Forbidden { .. })), "{b:?}");
    let reviews = fake
        .lines()
        .iter()
        .filter(|line| line.starts_with("POST /apis/authorization.k8s.io/v1/subjectaccessreviews"))
        .count();
    assert_eq!(reviews, 2, "one for alice's four requests, one for bob's");
}

#[tokio::test]
async fn the_cache_is_bounded() {
    let fake = test_support::kube_api::FakeApi::default();
    let authorizer = Authorizer::new(fake.client());
    let attributes =
        attributes("/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns1/pods/*/rps").unwrap();
    for i in 0..CACHE_CAPACITY + 5 {
        let key: Key = (
            format!("user-{i}"),
            None,
            vec![],
            vec![],
            attributes.clone(),
        );
        remember(&authorizer.cache, key, Decision::Allowed);
        assert!(authorizer.cache.len() <= CACHE_CAPACITY);
    }
    assert!(!authorizer.cache.is_empty());
}

#[test]
fn paths_are_decoded_segment_by_segment_and_an_encoded_slash_is_refused() {
    let v2 = "/apis/custom.metrics.k8s.io/v1beta2";
    assert_eq!(
        decoded_path(&format!("{v2}/namespaces/ns1/pods/%2A/m%3Arate")).unwrap(),
        format!("{v2}/namespaces/ns1/pods/*/m:rate")
    );
    let plain = format!("{v2}/namespaces/ns1/pods/*/m");
    assert_eq!(decoded_path(&plain).unwrap(), plain);
    let longest = format!("/{}", "a".repeat(MAX_PATH_LENGTH - 1));
    assert_eq!(decoded_path(&longest).unwrap(), longest);
    let message = decoded_path(&format!("{longest}b"))
        .unwrap_err()
        .to_string();
    assert!(message.ends_with("longer than 2048 bytes"), "{message}");
    for raw in [
        format!("{v2}/namespaces%2Fns2/pods/*/m"),
        format!("{v2}/namespaces/ns1/pods/a%2fb/m"),
        format!("{v2}/namespaces/ns1/pods/%C3%28/m"),
        format!("{v2}/namespaces/ns1/pods/{}/m", "a".repeat(MAX_PATH_LENGTH)),
    ] {
        let Err(error) = decoded_path(&raw) else {
            panic!("{raw} should be refused");
        };
        assert_eq!(error.status().code, Some(400), "{raw}: {error}");
    }
}
