#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use axum::http::HeaderValue;
use rustls_pki_types::pem::PemObject;
use test_support::pki::TestCa;

fn front_proxy(dir: &std::path::Path) -> FrontProxy {
    let ca = TestCa::new(dir, "front").unwrap();
    FrontProxy {
        verifier: crate::tls::ca_verifier("--requestheader-client-ca-file", ca.cert_path())
            .unwrap(),
        allowed_names: vec!["aggregator".into()],
        username_headers: vec!["X-Remote-User".into()],
        group_headers: vec!["X-Remote-Group".into()],
        uid_headers: vec!["X-Remote-Uid".into()],
        extra_headers_prefixes: vec!["X-Remote-Extra-".into()],
        allowed_names_source: "--requestheader-allowed-names".into(),
    }
}

#[tokio::test]
async fn front_proxy_headers_name_user_groups_and_extras() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Authenticator::new(Some(front_proxy(dir.path())), None);
    let mut headers = HeaderMap::new();
    headers.insert("x-remote-user", HeaderValue::from_static("alice"));
    headers.append("x-remote-group", HeaderValue::from_static("dev"));
    headers.append("x-remote-group", HeaderValue::from_static("ops"));
    headers.insert("x-remote-extra-scopes", HeaderValue::from_static("a"));
    headers.insert("x-remote-uid", HeaderValue::from_static("uid-7"));
    // Keys are percent-decoded as k8s.io/apiserver does; malformed encodings are kept as sent.
    headers.insert(
        "x-remote-extra-acme.com%2fproject",
        HeaderValue::from_static("p1"),
    );
    headers.insert("x-remote-extra-odd%zz", HeaderValue::from_static("x"));
    headers.insert("x-remote-extra-caf%c3%a9", HeaderValue::from_static("y"));
    headers.insert("x-remote-extra-bad%ff", HeaderValue::from_static("z"));
    let user = auth
        .authenticate(&Peer::FrontProxy("aggregator".into()), &headers, None)
        .await
        .unwrap();
    assert_eq!(user.name, "alice");
    assert_eq!(user.groups, ["dev", "ops", AUTHENTICATED_GROUP]);
    assert_eq!(user.uid.as_deref(), Some("uid-7"));
    assert_eq!(user.extra["scopes"], ["a"]);
    assert_eq!(user.extra["acme.com/project"], ["p1"]);
    assert_eq!(user.extra["odd%zz"], ["x"]);
    assert_eq!(user.extra["café"], ["y"]);
    assert_eq!(user.extra["bad\u{fffd}"], ["z"]);
    assert_eq!(user.extra.len(), 5);

    // The anonymous user a front proxy passes on is not made an authenticated one.
    let mut anonymous = HeaderMap::new();
    anonymous.insert(
        "x-remote-user",
        HeaderValue::from_static("system:anonymous"),
    );
    anonymous.insert(
        "x-remote-group",
        HeaderValue::from_static("system:unauthenticated"),
    );
    let user = auth
        .authenticate(&Peer::FrontProxy("aggregator".into()), &anonymous, None)
        .await
        .unwrap();
    assert_eq!(user.groups, ["system:unauthenticated"]);
}

#[test]
fn identity_headers_are_cleared_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Authenticator::new(Some(front_proxy(dir.path())), None);
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-remote-user", "alice"),
        ("x-remote-group", "dev"),
        ("x-remote-uid", "7"),
        ("x-remote-extra-scopes", "a"),
        ("x-remote-extra-acme.com%2fproject", "p"),
        ("x-remote-other", "kept"),
        ("accept", "application/json"),
    ] {
        headers.append(name, HeaderValue::from_static(value));
    }
    headers.append("x-remote-group", HeaderValue::from_static("ops"));
    auth.clear_identity_headers(&mut headers);
    let mut left: Vec<&str> = headers.keys().map(|name| name.as_str()).collect();
    left.sort_unstable();
    assert_eq!(left, ["accept", "x-remote-other"]);
    // Without a front proxy there is nothing to clear.
    let mut untouched = HeaderMap::new();
    untouched.insert("x-remote-user", HeaderValue::from_static("alice"));
    Authenticator::new(None, None).clear_identity_headers(&mut untouched);
    assert_eq!(untouched.len(), 1);
}

#[tokio::test]
async fn front_proxy_without_user_header_and_anonymous_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Authenticator::new(Some(front_proxy(dir.path())), None);
    let error = auth
        .authenticate(
            &Peer::FrontProxy("aggregator".into()),
            &HeaderMap::new(),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error.status().code, Some(401), "{error}");
    let mut bearer = HeaderMap::new();
    bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
    let error = auth
        .authenticate(&Peer::Anonymous, &bearer, None)
        .await
        .unwrap_err();
    assert_eq!(error.status().code, Some(401), "{error}");
    assert!(
        error.to_string().contains("needs a Kubernetes connection"),
        "{error}"
    );
    let mut basic = HeaderMap::new();
    basic.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Basic eDp5"),
    );
    let error = auth
        .authenticate(&Peer::Anonymous, &basic, None)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not a bearer token"), "{error}");
    assert_eq!(auth.peer(None), Peer::Anonymous);
}

#[test]
fn chains_are_judged_per_ca() {
    let dir = tempfile::tempdir().unwrap();
    let front = front_proxy(dir.path());
    let client_ca = TestCa::new(dir.path(), "clients").unwrap();
    let other = TestCa::new(dir.path(), "other").unwrap();
    let auth = Authenticator::new(
        Some(front),
        Some(crate::tls::ca_verifier("--client-ca-file", client_ca.cert_path()).unwrap()),
    );
    let der = |cert: test_support::pki::IssuedCert| {
        vec![CertificateDer::from_pem_file(&cert.cert_path).unwrap()]
    };
    // One O only: rcgen's DistinguishedName keeps one value per attribute type, so TestCa
    // cannot issue a certificate with several O values.
    let user = der(client_ca.client_cert("bob", &["team-a"]).unwrap());
    assert_eq!(
        auth.peer(Some(&user)),
        Peer::User(UserInfo {
            name: "bob".into(),
            groups: vec!["team-a".into()],
            extra: BTreeMap::new(),
            uid: None,
        })
    );
    let stranger = der(other.client_cert("eve", &[]).unwrap());
    assert!(matches!(auth.peer(Some(&stranger)), Peer::Rejected(_)));
}

#[test]
fn refusals_say_which_ca_is_unavailable_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "some").unwrap();
    let auth = Authenticator::new(None, None).unavailable("no CA is trusted yet: gone");
    assert!(!auth.trusts_any_ca());
    let chain =
        vec![CertificateDer::from_pem_file(ca.client_cert("bob", &[]).unwrap().cert_path).unwrap()];
    let Peer::Rejected(reason) = auth.peer(Some(&chain)) else {
        panic!("not rejected");
    };
    assert!(reason.ends_with("; no CA is trusted yet: gone"), "{reason}");
}

#[tokio::test]
async fn a_token_is_tried_when_the_certificate_authenticates_nobody() {
    let fake = test_support::kube_api::FakeApi::default();
    fake.cluster.lock().unwrap().tokens.insert(
        "good".into(),
        serde_json::json!({"username": "carol", "groups": ["ops"]}),
    );
    let tokens = token::TokenReviewer::new(fake.client());
    let auth = Authenticator::new(None, None);
    let rejected = Peer::Rejected("the client certificate of \"x\" does not chain".into());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer good"),
    );
    let user = auth
        .authenticate(&rejected, &headers, Some(&tokens))
        .await
        .unwrap();
    assert_eq!(
        (user.name.as_str(), user.groups.as_slice()),
        (
            "carol",
            &["ops".to_owned(), AUTHENTICATED_GROUP.to_owned()][..]
        )
    );
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_static("Bearer bad"),
    );
    let error = auth
        .authenticate(&rejected, &headers, Some(&tokens))
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("invalid bearer token"), "{message}");
    assert!(message.contains("does not chain"), "{message}");
}
