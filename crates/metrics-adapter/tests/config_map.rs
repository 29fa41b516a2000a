//! The CAs and front-proxy settings of the `extension-apiserver-authentication` ConfigMap, over
//! HTTPS against the fake Kubernetes API: honoured when no flag gives them, rotated without a
//! restart (handshake hints included), and failing closed when it is missing or forbidden.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::https::{METRIC, PROPAGATION, SAR, allow, start, unauthorized};
use common::{TestResult, V2, bounded};
use rustls::pki_types::ServerName;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;
use test_support::kube_api::FakeApi;
use test_support::pki::TestCa;

const NAMESPACE: &str = "kube-system";
const NAME: &str = "extension-apiserver-authentication";
const FRONT_PROXY_CN: &str = "front-proxy-client";

fn publish(fake: &FakeApi, data: &[(&str, &str)]) {
    fake.cluster
        .lock()
        .unwrap()
        .put_config_map(NAMESPACE, NAME, data);
}

#[tokio::test]
async fn the_config_map_front_proxy_ca_authenticates_allowed_names_with_its_headers() -> TestResult
{
    bounded(async {
        let fake = FakeApi::default();
        let dir = tempfile::tempdir()?;
        let front = TestCa::new(dir.path(), "front")?;
        let clients = TestCa::new(dir.path(), "clients")?;
        publish(
            &fake,
            &[
                ("requestheader-client-ca-file", front.cert_pem()),
                ("requestheader-allowed-names", r#"["front-proxy-client"]"#),
                ("requestheader-username-headers", r#"["X-Forwarded-User"]"#),
                ("requestheader-group-headers", r#"["X-Forwarded-Group"]"#),
                ("requestheader-uid-headers", r#"["X-Forwarded-Uid"]"#),
                (
                    "requestheader-extra-headers-prefix",
                    r#"["X-Forwarded-Extra-"]"#,
                ),
                ("client-ca-file", clients.cert_pem()),
            ],
        );
        allow(&fake, "alice");
        let setup = start(dir, Some(&fake), &[]).await?;
        let proxy = setup.client(Some(&front.client_cert(FRONT_PROXY_CN, &[])?));
        let (status, body) = setup
            .get(
                &proxy,
                &format!("{V2}/namespaces/ns1/pods/*/{METRIC}"),
                &[
                    ("X-Forwarded-User", "alice"),
                    ("X-Forwarded-Group", "dev"),
                    ("X-Forwarded-Uid", "uid-alice"),
                    ("X-Forwarded-Extra-Scopes", "read"),
                    ("X-Remote-User", "mallory"),
                ],
            )
            .await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        let review = fake.body_of(SAR).expect("a SubjectAccessReview");
        assert_eq!(review["spec"]["user"], "alice", "{review}");
        assert_eq!(
            review["spec"]["groups"],
            json!(["dev", "system:authenticated"]),
            "{review}"
        );
        assert_eq!(review["spec"]["uid"], "uid-alice", "{review}");
        assert_eq!(
            review["spec"]["extra"],
            json!({"scopes": ["read"]}),
            "{review}"
        );

        // The flags' default header names are not the ConfigMap's.
        let message = unauthorized(
            setup
                .get(&proxy, "/apis", &[("X-Remote-User", "alice")])
                .await?,
        );
        assert!(message.contains("X-Forwarded-User"), "{message}");

        // Another CN from the same CA is no front proxy.
        let stranger = setup.client(Some(&front.client_cert("not-the-proxy", &[])?));
        let message = unauthorized(
            setup
                .get(&stranger, "/apis", &[("X-Forwarded-User", "alice")])
                .await?,
        );
        assert!(message.contains("requestheader-allowed-names"), "{message}");
        assert!(message.contains(NAME), "{message}");

        // The ConfigMap's client-ca-file authenticates plain client certificates.
        let bob = setup.client(Some(&clients.client_cert("bob", &[])?));
        assert_eq!(setup.get(&bob, "/apis", &[]).await?.0, 200);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_ca_rotated_in_the_config_map_is_trusted_and_the_old_one_refused() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let dir = tempfile::tempdir()?;
        let old = TestCa::new(dir.path(), "clients-old")?;
        publish(&fake, &[("client-ca-file", old.cert_pem())]);
        let setup = start(
            dir,
            Some(&fake),
            &["--authorization-always-allow".to_owned()],
        )
        .await?;
        let old_cert = old.client_cert("bob", &[])?;
        let kept_alive = setup.client(Some(&old_cert));
        assert_eq!(setup.get(&kept_alive, "/apis", &[]).await?.0, 200);

        let new = setup.ca("clients-new");
        // Another name: issued certificates are files named after the user.
        let new_cert = new.client_cert("carol", &[])?;
        publish(&fake, &[("client-ca-file", new.cert_pem())]);
        let (status, body) = setup.until(&new_cert, 200).await;
        assert_eq!(
            status, 200,
            "the new CA is not trusted within {PROPAGATION:?}: {body}"
        );
        let message = unauthorized(
            setup
                .get(&setup.client(Some(&old_cert)), "/apis", &[])
                .await?,
        );
        assert!(message.contains("does not chain"), "{message}");
        // A connection opened before the rotation is judged again.
        unauthorized(setup.get(&kept_alive, "/apis", &[]).await?);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_missing_or_forbidden_config_map_fails_closed_until_it_can_be_read() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let setup = start(
            tempfile::tempdir()?,
            Some(&fake),
            &["--authorization-always-allow".to_owned()],
        )
        .await?;
        let clients = setup.ca("clients");
        let front = setup.ca("front");
        let bob = clients.client_cert("bob", &[])?;
        let proxy = front.client_cert(FRONT_PROXY_CN, &[])?;
        for cert in [&bob, &proxy] {
            let message = unauthorized(
                setup
                    .get(
                        &setup.client(Some(cert)),
                        "/apis",
                        &[("X-Remote-User", "alice")],
                    )
                    .await?,
            );
            assert!(
                message.contains(
                    "ConfigMap kube-system/extension-apiserver-authentication does not exist"
                ),
                "{message}"
            );
        }

        // Published but forbidden: still refused, now saying it cannot be read.
        fake.cluster.lock().unwrap().forbid_config_maps = true;
        publish(&fake, &[("client-ca-file", clients.cert_pem())]);
        let deadline = Instant::now() + PROPAGATION;
        loop {
            let message = unauthorized(setup.get(&setup.client(Some(&bob)), "/apis", &[]).await?);
            if message.contains("cannot be read") {
                assert!(message.contains(NAME), "{message}");
                break;
            }
            assert!(Instant::now() < deadline, "{message}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // Once it can be read, its CA is trusted.
        fake.cluster.lock().unwrap().forbid_config_maps = false;
        let (status, body) = setup.until(&bob, 200).await;
        assert_eq!(status, 200, "{body}");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_forbidden_config_map_at_start_is_401_naming_it() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let dir = tempfile::tempdir()?;
        let clients = TestCa::new(dir.path(), "clients")?;
        publish(&fake, &[("client-ca-file", clients.cert_pem())]);
        fake.cluster.lock().unwrap().forbid_config_maps = true;
        let setup = start(
            dir,
            Some(&fake),
            &["--authorization-always-allow".to_owned()],
        )
        .await?;
        let bob = setup.client(Some(&clients.client_cert("bob", &[])?));
        let message = unauthorized(setup.get(&bob, "/apis", &[]).await?);
        assert!(message.contains("cannot be read"), "{message}");
        assert!(message.contains(NAME), "{message}");
        let (status, body) = setup.get(&setup.client(None), "/healthz", &[]).await?;
        assert_eq!(status, 200, "{body}");
        Ok(())
    })
    .await
}

/// Records the CA subjects a server hints in its certificate request, presenting no certificate.
#[derive(Debug, Default)]
struct HintRecorder(Mutex<Vec<Vec<u8>>>);

impl rustls::client::ResolvesClientCert for HintRecorder {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        *self.0.lock().unwrap() = root_hint_subjects.iter().map(|s| s.to_vec()).collect();
        None
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The DER subject of a CA, as a certificate request hints it.
fn subject_of(ca: &TestCa) -> Vec<u8> {
    let der = CertificateDer::from_pem_file(ca.cert_path()).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    cert.subject().as_raw().to_vec()
}

#[tokio::test]
async fn the_handshake_hints_the_config_map_cas_in_force() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let dir = tempfile::tempdir()?;
        let old = TestCa::new(dir.path(), "front-old")?;
        publish(&fake, &[("requestheader-client-ca-file", old.cert_pem())]);
        let setup = start(
            dir,
            Some(&fake),
            &["--authorization-always-allow".to_owned()],
        )
        .await?;
        let hints = || async {
            let recorder = Arc::new(HintRecorder::default());
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(setup.roots())
            .with_client_cert_resolver(recorder.clone());
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", setup.port))
                .await
                .unwrap();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            connector
                .connect(ServerName::try_from("localhost").unwrap(), tcp)
                .await
                .unwrap();
            recorder.0.lock().unwrap().clone()
        };
        assert_eq!(hints().await, [subject_of(&old)]);

        let new = setup.ca("front-new");
        publish(&fake, &[("requestheader-client-ca-file", new.cert_pem())]);
        let deadline = Instant::now() + PROPAGATION;
        while hints().await != [subject_of(&new)] {
            assert!(
                Instant::now() < deadline,
                "the hints did not follow the rotation"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    })
    .await
}
