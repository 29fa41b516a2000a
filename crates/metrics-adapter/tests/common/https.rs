//! The adapter over HTTPS for the tests of delegated authentication: started with flags and,
//! optionally, the fake Kubernetes API as its connection; clients with or without a client
//! certificate; 401 assertions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use metrics_adapter::options::Options;
use metrics_adapter::serve::Adapter;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use test_support::kube_api::FakeApi;
use test_support::pki::{IssuedCert, TestCa};
use tokio::task::JoinHandle;

pub const METRIC: &str = "http_requests_per_second";
pub const SAR: &str = "POST /apis/authorization.k8s.io/v1/subjectaccessreviews";
/// How long a ConfigMap change may take to be in force.
pub const PROPAGATION: Duration = Duration::from_secs(20);

/// A running adapter; `dir` also holds the tests' CAs.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub server: TestCa,
    pub url: String,
    pub port: u16,
    task: JoinHandle<()>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts an adapter with `flags` (besides serving and store flags), talking to `fake` if
/// given, with no Kubernetes connection otherwise.
pub async fn start(
    dir: tempfile::TempDir,
    fake: Option<&FakeApi>,
    flags: &[String],
) -> Result<Setup, Box<dyn std::error::Error>> {
    start_with_store(dir, fake, flags, None).await
}

/// As [`start`], with the store at `store_url` (a closed port when `None`).
pub async fn start_with_store(
    dir: tempfile::TempDir,
    fake: Option<&FakeApi>,
    flags: &[String],
    store_url: Option<String>,
) -> Result<Setup, Box<dyn std::error::Error>> {
    start_until(dir, fake, flags, store_url, std::future::pending()).await
}

/// As [`start_with_store`], serving until `shutdown` completes.
pub async fn start_until(
    dir: tempfile::TempDir,
    fake: Option<&FakeApi>,
    flags: &[String],
    store_url: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Setup, Box<dyn std::error::Error>> {
    let server = TestCa::new(dir.path(), "server")?;
    let serving = server.server_cert("serving")?;
    let closed = match store_url {
        Some(url) => url,
        None => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("http://{}", listener.local_addr()?)
        }
    };
    let mut args = vec![
        "sextant-adapter".to_owned(),
        "--secure-port=0".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--tls-cert-file={}", serving.cert_path.display()),
        format!("--tls-private-key-file={}", serving.key_path.display()),
        format!("--prometheus-url={closed}"),
    ];
    if !flags.iter().any(|flag| flag.starts_with("--query-timeout")) {
        args.push("--query-timeout=2s".to_owned());
    }
    args.extend_from_slice(flags);
    let options = Options::try_parse_from(args)?;
    let adapter = Adapter::start_with(&options, fake.map(FakeApi::client)).await?;
    let port = adapter.local_addr()?.port();
    let task = tokio::spawn(adapter.serve(shutdown));
    Ok(Setup {
        dir,
        server,
        url: format!("https://127.0.0.1:{port}"),
        port,
        task,
    })
}

impl Setup {
    /// Whether `serve` has returned (after its shutdown).
    pub fn stopped(&self) -> bool {
        self.task.is_finished()
    }

    pub fn ca(&self, name: &str) -> TestCa {
        TestCa::new(self.dir.path(), name).unwrap()
    }

    /// A client trusting the server's CA, presenting `cert` if given.
    pub fn client(&self, cert: Option<&IssuedCert>) -> reqwest::Client {
        client_trusting(self.roots(), cert)
    }

    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(self.server.cert_path()).unwrap())
            .unwrap();
        roots
    }

    /// GETs `path` with `headers`: the status and the JSON body (Null if not JSON).
    pub async fn get(
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
    pub async fn until(&self, cert: &IssuedCert, code: u16) -> (u16, Value) {
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

/// A client (no redirects) trusting `roots`, presenting `cert` if given.
pub fn client_trusting(roots: RootCertStore, cert: Option<&IssuedCert>) -> reqwest::Client {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
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
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Asserts a 401 `Status` body and returns its message.
pub fn unauthorized(answer: (u16, Value)) -> String {
    let (status, body) = answer;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["code"], 401, "{body}");
    body["message"].as_str().unwrap_or_default().to_owned()
}

pub fn count(fake: &FakeApi, prefix: &str) -> usize {
    fake.lines()
        .iter()
        .filter(|l| l.starts_with(prefix))
        .count()
}

pub fn allow(fake: &FakeApi, user: &str) {
    fake.cluster.lock().unwrap().allowed.push((
        user.to_owned(),
        "list".to_owned(),
        "pods".to_owned(),
        METRIC.to_owned(),
    ));
}

pub fn flag(name: &str, ca: &TestCa) -> String {
    format!("--{name}={}", ca.cert_path().display())
}
