//! Authentication delegated to the cluster, over HTTPS against the fake Kubernetes API: bearer
//! tokens by TokenReview (the user reaches authorization, bad tokens are 401, verdicts are
//! cached, no connection means 401 saying so), and the CAs and front-proxy settings of the
//! `extension-apiserver-authentication` ConfigMap (honoured, rotated without a restart, and
//! failing closed when it is missing or forbidden).
//!
//! The store is a closed port, so a metric request that passes authorization answers 404 or
//! 503, never 401 or 403.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use metrics_adapter::options::Options;
use metrics_adapter::serve::Adapter;
use rustls::RootCertStore;
use rustls::pki_types::ServerName;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use test_support::kube_api::FakeApi;
use test_support::pki::{IssuedCert, TestCa};
use tokio::task::JoinHandle;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const V2: &str = "/apis/custom.metrics.k8s.io/v1beta2";
const METRIC: &str = "http_requests_per_second";
const SAR: &str = "POST /apis/authorization.k8s.io/v1/subjectaccessreviews";
const TOKEN_REVIEW: &str = "POST /apis/authentication.k8s.io/v1/tokenreviews";
const NAMESPACE: &str = "kube-system";
const NAME: &str = "extension-apiserver-authentication";
const FRONT_PROXY_CN: &str = "front-proxy-client";
/// How long a ConfigMap change may take to be in force.
const PROPAGATION: Duration = Duration::from_secs(20);

async fn bounded(body: impl Future<Output = TestResult>) -> TestResult {
    tokio::time::timeout(Duration::from_secs(60), body).await?
}

/// A running adapter; `dir` also holds the tests' CAs.
struct Setup {
    dir: tempfile::TempDir,
    server: TestCa,
    url: String,
    port: u16,
    task: JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an adapter with `flags` (besides serving and store flags), talking to `fake` if
/// given, with no Kubernetes connection otherwise.
async fn start(
    dir: tempfile::TempDir,
    fake: Option<&FakeApi>,
    flags: &[String],
) -> Result<Setup, Box<dyn std::error::Error>> {
    let server = TestCa::new(dir.path(), "server")?;
    let serving = server.server_cert("serving")?;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        format!("http://{}", listener.local_addr()?)
    };
    let mut args = vec![
        "sextant-adapter".to_owned(),
        "--secure-port=0".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--tls-cert-file={}", serving.cert_path.display()),
        format!("--tls-private-key-file={}", serving.key_path.display()),
        format!("--prometheus-url={closed}"),
        "--query-timeout=2s".to_owned(),
    ];
    args.extend_from_slice(flags);
    let options = Options::try_parse_from(args)?;
    let adapter = Adapter::start_with(&options, fake.map(FakeApi::client)).await?;
    let port = adapter.local_addr()?.port();
    let task = tokio::spawn(adapter.serve(std::future::pending()));
    Ok(Setup {
        dir,
        server,
        url: format!("https://127.0.0.1:{port}"),
        port,
        task,
    })
}

impl Setup {
    fn ca(&self, name: &str) -> TestCa {
        TestCa::new(self.dir.path(), name).unwrap()
    }

    /// A client trusting the server's CA, presenting `cert` if given.
    fn client(&self, cert: Option<&IssuedCert>) -> reqwest::Client {
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(self.roots());
        let config = match cert {
            Some(cert) => builder
                .with_client_auth_cert(
                    CertificateDer::pem_file_iter(&cert.cert_path)
                        .unwrap()
                        .collect::<Result<Vec<_>, _>>()
                        .unwrap(),
                    PrivateKeyDer::from_pem_file(&cert.key_path).unwrap(),
                )
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(self.server.cert_path()).unwrap())
            .unwrap();
        roots
    }

    /// GETs `path` with `headers`: the status and the JSON body (Null if not JSON).
    async fn get(
        &self,
        client: &reqwest::Client,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Value), Box<dyn std::error::Error>> {
        let mut request = client.get(format!("{}{path}", self.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// GETs `/apis` with new clients presenting `cert` until the answer is `code`, for at most
    /// [`PROPAGATION`]; the last answer.
    async fn until(&self, cert: &IssuedCert, code: u16) -> (u16, Value) {
        let deadline = Instant::now() + PROPAGATION;
        loop {
            let answer = self
                .get(&self.client(Some(cert)), "/apis", &[])
                .await
                .unwrap();
            if answer.0 == code || Instant::now() > deadline {
                return answer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Asserts a 401 `Status` body and returns its message.
fn unauthorized(answer: (u16, Value)) -> String {
    let (status, body) = answer;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], 401, "{body}");
    body["message"].as_str().unwrap_or_default().to_owned()
}

fn count(fake: &FakeApi, prefix: &str) -> usize {
    fake.lines()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .count()
}

fn allow(fake: &FakeApi, user: &str) {
    fake.cluster.lock().unwrap().allowed.push((
        user.to_owned(),
        "list".to_owned(),
        "pods".to_owned(),
        METRIC.to_owned(),
    ));
}

fn add_token(fake: &FakeApi, token: &str, user: Value) {
    fake.cluster
        .lock()
        .unwrap()
        .tokens
        .insert(token.to_owned(), user);
}

fn publish(fake: &FakeApi, data: &[(&str, &str)]) {
    fake.cluster
        .lock()
        .unwrap()
        .put_config_map(NAMESPACE, NAME, data);
}

fn flag(name: &str, ca: &TestCa) -> String {
    format!("--{name}={}", ca.cert_path().display())
}

#[tokio::test]
async fn a_valid_token_reaches_the_router_and_its_groups_go_into_the_review() -> TestResult {
    bounded(async {
        let fake = FakeApi::default();
        let user = "system:serviceaccount:kube-system:horizontal-pod-autoscaler";
        add_token(
            &fake,
            "hpa-token",
            json!({"username": user, "groups": ["system:serviceaccounts", "system:authenticated"]}),
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

        // A TokenReview that cannot be made fails closed with a 401 too.
        add_token(&fake, "right", json!({"username": "bob"}));
        fake.cluster.lock().unwrap().fail_token_reviews = true;
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
                    ("X-Forwarded-Extra-Scopes", "read"),
                    ("X-Remote-User", "mallory"),
                ],
            )
            .await?;
        assert!(status == 404 || status == 503, "{status}: {body}");
        let review = fake.body_of(SAR).expect("a SubjectAccessReview");
        assert_eq!(review["spec"]["user"], "alice", "{review}");
        assert_eq!(review["spec"]["groups"], json!(["dev"]), "{review}");
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
