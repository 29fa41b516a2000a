#![allow(clippy::unwrap_used)]

use super::*;
use crate::auth::Peer;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use test_support::pki::TestCa;

use crate::options::for_tests as options;

fn chain(cert: &test_support::pki::IssuedCert) -> Vec<CertificateDer<'static>> {
    vec![CertificateDer::from_pem_file(&cert.cert_path).unwrap()]
}

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_config_map_front_proxy_settings_replace_the_request_header_flags() {
    let dir = tempfile::tempdir().unwrap();
    let front = TestCa::new(dir.path(), "front").unwrap();
    let mut trust = DelegatedTrust::from_flags(&options(&[]), true).unwrap();
    assert!(trust.reads_config_map());
    trust.apply(Some(&data(&[
        (REQUESTHEADER_CA_KEY, front.cert_pem()),
        (ALLOWED_NAMES_KEY, r#"["front-proxy-client"]"#),
        (USERNAME_HEADERS_KEY, r#"["X-Forwarded-User"]"#),
        (GROUP_HEADERS_KEY, ""),
        (UID_HEADERS_KEY, r#"["X-Remote-Uid"]"#),
    ])));
    let auth = trust.authenticator();
    let allowed = chain(&front.client_cert("front-proxy-client", &[]).unwrap());
    assert_eq!(
        auth.peer(Some(&allowed)),
        Peer::FrontProxy("front-proxy-client".into())
    );
    let other = chain(&front.client_cert("someone-else", &[]).unwrap());
    let Peer::Rejected(reason) = auth.peer(Some(&other)) else {
        panic!("not rejected");
    };
    assert!(
        reason.contains("requestheader-allowed-names") && reason.contains(NAME),
        "{reason}"
    );
    let front_proxy = auth.front_proxy.as_ref().unwrap();
    assert_eq!(front_proxy.username_headers, ["X-Forwarded-User"]);
    assert!(front_proxy.group_headers.is_empty());
    assert_eq!(front_proxy.uid_headers, ["X-Remote-Uid"]);
    assert!(front_proxy.extra_headers_prefixes.is_empty());
    // No client-ca-file in the ConfigMap: plain client certificates are refused, saying why.
    let stranger = TestCa::new(dir.path(), "stranger").unwrap();
    let stranger = chain(&stranger.client_cert("bob", &[]).unwrap());
    let Peer::Rejected(reason) = auth.peer(Some(&stranger)) else {
        panic!("not rejected");
    };
    assert!(reason.contains("has no client-ca-file"), "{reason}");
}

#[test]
fn flags_win_over_the_config_map() {
    let dir = tempfile::tempdir().unwrap();
    let flagged = TestCa::new(dir.path(), "flagged").unwrap();
    let published = TestCa::new(dir.path(), "published").unwrap();
    let flag = format!("--client-ca-file={}", flagged.cert_path().display());
    let mut trust = DelegatedTrust::from_flags(&options(&[flag]), true).unwrap();
    assert!(
        trust.reads_config_map(),
        "the front proxy still comes from it"
    );
    trust.apply(Some(&data(&[(CLIENT_CA_KEY, published.cert_pem())])));
    let auth = trust.authenticator();
    let by_flag = chain(&flagged.client_cert("bob", &[]).unwrap());
    assert!(matches!(auth.peer(Some(&by_flag)), Peer::User(_)));
    let by_config_map = chain(&published.client_cert("eve", &[]).unwrap());
    assert!(matches!(auth.peer(Some(&by_config_map)), Peer::Rejected(_)));

    let both = [
        flag_of("--client-ca-file", &flagged),
        flag_of("--requestheader-client-ca-file", &flagged),
    ];
    assert!(
        !DelegatedTrust::from_flags(&options(&both), true)
            .unwrap()
            .reads_config_map()
    );
}

fn flag_of(flag: &str, ca: &TestCa) -> String {
    format!("{flag}={}", ca.cert_path().display())
}

#[test]
fn without_a_connection_the_config_map_is_not_read() {
    let trust = DelegatedTrust::from_flags(&options(&[]), false).unwrap();
    assert!(!trust.reads_config_map());
    assert!(!trust.authenticator().trusts_any_ca());
}

#[test]
fn nothing_is_trusted_before_a_good_read_and_refusals_name_the_config_map() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "some").unwrap();
    let cert = chain(&ca.client_cert("bob", &[]).unwrap());
    let mut trust = DelegatedTrust::from_flags(&options(&[]), true).unwrap();
    let reason = |trust: &DelegatedTrust| match trust.authenticator().peer(Some(&cert)) {
        Peer::Rejected(reason) => reason,
        other => panic!("{other:?}"),
    };
    assert!(
        reason(&trust).contains("has not been read yet"),
        "{}",
        reason(&trust)
    );
    trust.apply(None);
    let missing = reason(&trust);
    assert!(
        missing.contains("ConfigMap kube-system/extension-apiserver-authentication does not exist"),
        "{missing}"
    );
    trust.unreadable("configmaps is forbidden");
    assert!(reason(&trust).contains("cannot be read: configmaps is forbidden"));
}

#[test]
fn malformed_content_keeps_the_last_good_content() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestCa::new(dir.path(), "old").unwrap();
    let mut trust = DelegatedTrust::from_flags(&options(&[]), true).unwrap();
    trust.apply(Some(&data(&[(CLIENT_CA_KEY, old.cert_pem())])));
    let cert = chain(&old.client_cert("bob", &[]).unwrap());
    assert!(matches!(
        trust.authenticator().peer(Some(&cert)),
        Peer::User(_)
    ));
    for bad in [
        data(&[(CLIENT_CA_KEY, "not PEM at all")]),
        data(&[]),
        data(&[(
            CLIENT_CA_KEY,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )]),
    ] {
        trust.apply(Some(&bad));
        assert!(
            matches!(trust.authenticator().peer(Some(&cert)), Peer::User(_)),
            "{bad:?}"
        );
    }
    trust.apply(None);
    trust.unreadable("gone");
    assert!(matches!(
        trust.authenticator().peer(Some(&cert)),
        Peer::User(_)
    ));
}

#[test]
fn list_keys_must_be_json_arrays_of_strings() {
    assert_eq!(
        strings(
            &data(&[(ALLOWED_NAMES_KEY, r#"["a","b"]"#)]),
            ALLOWED_NAMES_KEY
        )
        .unwrap(),
        ["a", "b"]
    );
    assert!(strings(&data(&[]), ALLOWED_NAMES_KEY).unwrap().is_empty());
    for bad in ["a,b", r#"[1]"#, r#"{"a":1}"#] {
        let error = strings(&data(&[(ALLOWED_NAMES_KEY, bad)]), ALLOWED_NAMES_KEY).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("key requestheader-allowed-names") && message.contains(NAME),
            "{message}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let front = TestCa::new(dir.path(), "front").unwrap();
    let error = front_proxy_of(&data(&[
        (REQUESTHEADER_CA_KEY, front.cert_pem()),
        (GROUP_HEADERS_KEY, "X-Remote-Group"),
    ]))
    .err()
    .unwrap();
    assert!(error.contains(GROUP_HEADERS_KEY), "{error}");
}

#[test]
fn empty_header_names_are_dropped_so_no_prefix_matches_every_header() {
    let names =
        |list: &[&str]| header_names(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    assert_eq!(names(&["X-Remote-Extra-", ""]), ["X-Remote-Extra-"]);
    assert_eq!(names(&[" X-Remote-User ", "  "]), ["X-Remote-User"]);
    assert!(names(&[""]).is_empty());
}
