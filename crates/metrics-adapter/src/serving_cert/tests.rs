#![allow(clippy::unwrap_used)]

use std::path::Path;

use test_support::pki::{IssuedCert, TestCa};

use super::*;

/// The end-entity certificate (DER) of the pair in force.
fn served(serving: &ServingCert) -> Vec<u8> {
    serving.current().cert[0].as_ref().to_vec()
}

/// The end-entity certificate (DER) in a PEM file.
fn der_of(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// Copies `from`'s certificate and key over the files the adapter serves.
fn install(from: &IssuedCert, to: &IssuedCert) {
    std::fs::copy(&from.cert_path, &to.cert_path).unwrap();
    std::fs::copy(&from.key_path, &to.key_path).unwrap();
}

#[tokio::test]
async fn a_renewed_pair_is_served_and_a_broken_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "server").unwrap();
    let files = ca.server_cert("serving").unwrap();
    let first = der_of(&files.cert_path);
    let serving = ServingCert::load(Some(&files.cert_path), Some(&files.key_path)).unwrap();
    assert!(serving.from_files());
    assert_eq!(served(&serving), first);
    assert!(!serving.check().await.unwrap(), "nothing changed");

    // A key written before its certificate: refused, the first pair keeps serving, and the
    // same bytes are not judged (nor logged) again.
    let renewed = ca.server_cert("renewed").unwrap();
    std::fs::copy(&renewed.key_path, &files.key_path).unwrap();
    let error = serving.check().await.unwrap_err();
    assert!(error.to_string().contains("does not fit"), "{error}");
    assert_eq!(served(&serving), first);
    assert!(!serving.check().await.unwrap());

    // Its certificate follows: the renewed pair is served.
    std::fs::copy(&renewed.cert_path, &files.cert_path).unwrap();
    assert!(serving.check().await.unwrap());
    assert_eq!(served(&serving), der_of(&renewed.cert_path));
    assert_ne!(served(&serving), first);
}

#[tokio::test]
async fn unreadable_or_garbled_files_keep_the_pair_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "server").unwrap();
    let files = ca.server_cert("serving").unwrap();
    let first = der_of(&files.cert_path);
    let serving = ServingCert::load(Some(&files.cert_path), Some(&files.key_path)).unwrap();

    std::fs::remove_file(&files.cert_path).unwrap();
    let error = serving.check().await.unwrap_err();
    assert!(error.to_string().contains("--tls-cert-file"), "{error}");
    assert_eq!(served(&serving), first);

    std::fs::write(&files.cert_path, "not a certificate").unwrap();
    let error = serving.check().await.unwrap_err();
    assert!(error.to_string().contains("no PEM certificate"), "{error}");
    assert_eq!(served(&serving), first);

    // Back to a good pair (another one, as a renewal writes).
    let renewed = ca.server_cert("renewed").unwrap();
    install(&renewed, &files);
    assert!(serving.check().await.unwrap());
    assert_eq!(served(&serving), der_of(&renewed.cert_path));
}

#[tokio::test]
async fn a_generated_certificate_never_changes_and_one_flag_alone_is_refused() {
    let generated = ServingCert::load(None, None).unwrap();
    assert!(!generated.from_files());
    assert!(!generated.check().await.unwrap());
    let error = ServingCert::load(Some(Path::new("/nonexistent.pem")), None).unwrap_err();
    assert!(error.to_string().contains("both"), "{error}");
    let error = ServingCert::load(
        Some(Path::new("/nonexistent.pem")),
        Some(Path::new("/nonexistent-key.pem")),
    )
    .unwrap_err();
    assert!(error.to_string().contains("/nonexistent.pem"), "{error}");
}
