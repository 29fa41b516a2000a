#![allow(clippy::unwrap_used)]

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use test_support::pki::{IssuedCert, TestCa};

use super::*;
use crate::auth::Peer;
use crate::options::for_tests as options;
use crate::serving_cert::ServingCert;

/// The trust of `options` (no Kubernetes connection), in force, and its CA files.
fn watched(options: &Options) -> (Mutex<DelegatedTrust>, SharedTrust, CaFiles) {
    let delegated = DelegatedTrust::from_flags(options, false).unwrap();
    let shared = SharedTrust::new(
        Arc::new(ServingCert::load(None, None).unwrap()),
        Arc::default(),
        delegated.authenticator(),
    )
    .unwrap();
    (Mutex::new(delegated), shared, CaFiles::of(options).unwrap())
}

/// What the trust in force makes of `cert`.
fn judged(shared: &SharedTrust, cert: &IssuedCert) -> Peer {
    let chain = vec![CertificateDer::from_pem_file(&cert.cert_path).unwrap()];
    shared.current().authenticator.peer(Some(&chain))
}

fn is_user(peer: &Peer, name: &str) -> bool {
    matches!(peer, Peer::User(user) if user.name == name)
}

#[tokio::test]
async fn a_rotated_client_ca_file_authenticates_the_new_ca_and_garbage_keeps_the_last_good() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestCa::new(dir.path(), "old").unwrap();
    let new = TestCa::new(dir.path(), "new").unwrap();
    let file = dir.path().join("client-ca.pem");
    std::fs::write(&file, old.cert_pem()).unwrap();
    let (delegated, shared, mut files) =
        watched(&options(&[format!("--client-ca-file={}", file.display())]));
    let (alice, bob) = (
        old.client_cert("alice", &[]).unwrap(),
        new.client_cert("bob", &[]).unwrap(),
    );

    // The first check puts the file's bundle in force (it is what the flag already gave).
    let (applied, errors) = files.check(&delegated, &shared).await;
    assert_eq!((applied, errors.len()), (vec![CaFlag::ClientCa], 0));
    assert!(is_user(&judged(&shared, &alice), "alice"));
    assert!(matches!(judged(&shared, &bob), Peer::Rejected(_)));
    let (applied, errors) = files.check(&delegated, &shared).await;
    assert!(applied.is_empty() && errors.is_empty(), "nothing changed");

    // Rotation: the new CA authenticates, the old one no longer does.
    std::fs::write(&file, new.cert_pem()).unwrap();
    let (applied, _) = files.check(&delegated, &shared).await;
    assert_eq!(applied, [CaFlag::ClientCa]);
    assert!(is_user(&judged(&shared, &bob), "bob"));
    assert!(matches!(judged(&shared, &alice), Peer::Rejected(_)));

    // A garbled file is an error once; the last good bundle stays in force.
    std::fs::write(&file, "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    let (applied, errors) = files.check(&delegated, &shared).await;
    assert!(applied.is_empty());
    assert_eq!(errors.len(), 1);
    let (flag, error) = &errors[0];
    assert_eq!(*flag, CaFlag::ClientCa);
    assert!(error.to_string().contains("--client-ca-file"), "{error}");
    assert!(is_user(&judged(&shared, &bob), "bob"));
    let (_, errors) = files.check(&delegated, &shared).await;
    assert!(errors.is_empty(), "the same bytes are not judged again");

    // A missing file is an error at every check; still the last good bundle.
    std::fs::remove_file(&file).unwrap();
    let (_, errors) = files.check(&delegated, &shared).await;
    assert_eq!(errors.len(), 1);
    assert!(is_user(&judged(&shared, &bob), "bob"));
}

#[tokio::test]
async fn a_rotated_front_proxy_ca_keeps_the_request_header_flags() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestCa::new(dir.path(), "old").unwrap();
    let new = TestCa::new(dir.path(), "new").unwrap();
    let file = dir.path().join("front-proxy-ca.pem");
    std::fs::write(&file, old.cert_pem()).unwrap();
    let options = options(&[
        format!("--requestheader-client-ca-file={}", file.display()),
        "--requestheader-allowed-names=front-proxy-client".to_owned(),
    ]);
    let (delegated, shared, mut files) = watched(&options);
    files.check(&delegated, &shared).await;

    std::fs::write(&file, new.cert_pem()).unwrap();
    let (applied, _) = files.check(&delegated, &shared).await;
    assert_eq!(applied, [CaFlag::RequestHeaderClientCa]);
    let proxy = new.client_cert("front-proxy-client", &[]).unwrap();
    assert_eq!(
        judged(&shared, &proxy),
        Peer::FrontProxy("front-proxy-client".into())
    );
    // The allowed names are still the flag's.
    let Peer::Rejected(reason) = judged(&shared, &new.client_cert("intruder", &[]).unwrap()) else {
        panic!("a CN outside --requestheader-allowed-names was accepted");
    };
    assert!(reason.contains("--requestheader-allowed-names"), "{reason}");
    assert!(CaFiles::of(&self::options(&[])).is_none());
}
