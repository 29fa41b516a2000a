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
        extra_headers_prefixes: vec!["X-Remote-Extra-".into()],
    }
}

#[test]
fn front_proxy_headers_name_user_groups_and_extras() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Authenticator::new(Some(front_proxy(dir.path())), None);
    let mut headers = HeaderMap::new();
    headers.insert("x-remote-user", HeaderValue::from_static("alice"));
    headers.append("x-remote-group", HeaderValue::from_static("dev"));
    headers.append("x-remote-group", HeaderValue::from_static("ops"));
    headers.insert("x-remote-extra-scopes", HeaderValue::from_static("a"));
    let user = auth
        .authenticate(&Peer::FrontProxy("aggregator".into()), &headers)
        .unwrap();
    assert_eq!(user.name, "alice");
    assert_eq!(user.groups, ["dev", "ops"]);
    assert_eq!(user.extra["scopes"], ["a"]);
}

#[test]
fn front_proxy_without_user_header_and_anonymous_are_401() {
    let dir = tempfile::tempdir().unwrap();
    let auth = Authenticator::new(Some(front_proxy(dir.path())), None);
    let error = auth
        .authenticate(&Peer::FrontProxy("aggregator".into()), &HeaderMap::new())
        .unwrap_err();
    assert_eq!(error.status().code, Some(401), "{error}");
    let mut bearer = HeaderMap::new();
    bearer.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
    let error = auth.authenticate(&Peer::Anonymous, &bearer).unwrap_err();
    assert!(error.to_string().contains("bearer"), "{error}");
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
        })
    );
    let stranger = der(other.client_cert("eve", &[]).unwrap());
    assert!(matches!(auth.peer(Some(&stranger)), Peer::Rejected(_)));
}
