//! The floor of the latency ratio: the least any server in the adapter's place can add.
//!
//! A proxy with no adapter in it: HTTPS (rustls, the adapter's serving certificate, HTTP/1.1
//! keep-alive, hyper) in front of the same Prometheus. Each request makes the direct call (the
//! same form body, on one keep-alive hyper connection driven inside the request, as the
//! adapter's store client does since the fifth session; a reqwest client measured 0.03–0.04 ms
//! slower) and reads Prometheus's whole answer. Then, by its [`Work`]:
//!
//! - [`Work::None`] replies with a `MetricValueList` the adapter served before, written once at
//!   start: no routing, authentication, decoding, building or serializing. What it costs over
//!   the direct call is the second hop, TLS, and the larger answer sent and decoded by the
//!   client: the best ratio the adapter's design (a server between the client and the store,
//!   answering the Kubernetes shape) can reach on this machine.
//! - [`Work::Minimal`] also does the work no adapter can skip, as cheaply as it can be written
//!   for this one request: Prometheus's answer decoded with borrowed strings, and the list
//!   written by hand (constant parts as literals, each pod's name, timestamp and value
//!   formatted in place). Still no routing, authentication, rules or general serializer.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::{BenchResult, Pki};

/// What a floor proxy does between reading Prometheus's answer and replying.
#[derive(Clone, Copy)]
pub enum Work {
    /// Nothing: the stored answer.
    None,
    /// Decode the samples and write the list for them, by hand.
    Minimal,
}

/// What the floor proxy forwards and what it answers.
struct Forward {
    /// The keep-alive connection to Prometheus (the latency bench sends one request at a time).
    connection: tokio::sync::Mutex<Option<StoreConnection>>,
    url: String,
    form: Arc<[(&'static str, String)]>,
    answer: Bytes,
    work: Work,
}

impl Forward {
    /// The direct call, its body read whole, then the answer [`Work`] makes.
    async fn answer(&self) -> Response<Body> {
        let forwarded = self.forward().await;
        let (status, body) = match (forwarded, self.work) {
            (Ok((status, _)), Work::None) if status.is_success() => {
                (StatusCode::OK, self.answer.clone())
            }
            (Ok((status, body)), Work::Minimal) if status.is_success() => match value_list(&body) {
                Ok(list) => (StatusCode::OK, Bytes::from(list)),
                Err(_) => (StatusCode::BAD_GATEWAY, Bytes::from_static(b"{}")),
            },
            (Ok((status, _)), _) => (status, Bytes::from_static(b"{}")),
            (Err(_), _) => (StatusCode::BAD_GATEWAY, Bytes::from_static(b"{}")),
        };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        response
    }
}

type StoreConnection = (
    hyper::client::conn::http1::SendRequest<String>,
    hyper::client::conn::http1::Connection<TokioIo<tokio::net::TcpStream>, String>,
);

impl Forward {
    /// The direct call on the kept connection (opened on first use), polled by this request
    /// while it sends and reads the whole answer.
    async fn forward(&self) -> BenchResult<(StatusCode, Bytes)> {
        let (authority, path) = self
            .url
            .strip_prefix("http://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or("the direct call's URL is not http://host/path")?;
        let mut slot = self.connection.lock().await;
        if slot.is_none() {
            let tcp = tokio::net::TcpStream::connect(authority).await?;
            tcp.set_nodelay(true)?;
            *slot = Some(hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?);
        }
        let Some((sender, connection)) = slot.as_mut() else {
            return Err("no connection".into());
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.form.iter())
            .finish();
        let request = Request::post(format!("/{path}"))
            .header(hyper::header::HOST, authority)
            .header(
                hyper::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)?;
        let exchange = async {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body()).await?;
            Ok::<_, crate::BoxError>((status, body.to_bytes()))
        };
        let outcome = tokio::select! {
            biased;
            result = exchange => result,
            ended = connection => Err(format!("the connection to Prometheus ended: {ended:?}").into()),
        };
        if outcome.is_err() {
            // A failed exchange leaves the connection in no state to reuse.
            *slot = None;
        }
        outcome
    }
}

/// The running proxy; dropping it stops accepting.
pub struct Floor {
    /// Its HTTPS port on 127.0.0.1.
    pub port: u16,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Floor {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Starts a proxy: `url` and `form` are the direct call, `answer` the adapter's body.
pub async fn start(
    pki: &Pki,
    url: String,
    form: Arc<[(&'static str, String)]>,
    answer: Bytes,
    work: Work,
) -> BenchResult<Floor> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(
        CertificateDer::pem_file_iter(&pki.serving.cert_path)?.collect::<Result<Vec<_>, _>>()?,
        PrivateKeyDer::from_pem_file(&pki.serving.key_path)?,
    )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let forward = Arc::new(Forward {
        connection: tokio::sync::Mutex::new(None),
        url,
        form,
        answer,
        work,
    });
    let accept = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let forward = Arc::clone(&forward);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |_: Request<Incoming>| {
                    let forward = Arc::clone(&forward);
                    async move { Ok::<_, Infallible>(forward.answer().await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(Floor { port, accept })
}

/// Prometheus's instant answer, only what the list needs, strings borrowed from the body.
#[derive(serde::Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    data: AnswerData<'a>,
}

#[derive(serde::Deserialize)]
struct AnswerData<'a> {
    #[serde(borrow)]
    result: Vec<Element<'a>>,
}

#[derive(serde::Deserialize)]
struct Element<'a> {
    #[serde(borrow)]
    metric: PodLabel<'a>,
    #[serde(borrow)]
    value: (f64, &'a str),
}

#[derive(serde::Deserialize)]
struct PodLabel<'a> {
    pod: &'a str,
}

/// The `MetricValueList` for `ns7`'s pods, written by hand from Prometheus's `body`; the same
/// bytes the adapter writes for the same samples.
fn value_list(body: &[u8]) -> BenchResult<Vec<u8>> {
    use std::io::Write;
    let answer: Answer<'_> = serde_json::from_slice(body)?;
    let elements = answer.data.result;
    let mut out = Vec::with_capacity(256 * elements.len() + 256);
    out.extend_from_slice(
        br#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2","metadata":{},"items":["#,
    );
    for (index, element) in elements.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"describedObject":{"apiVersion":"/v1","kind":"Pod","name":"#);
        serde_json::to_writer(&mut out, element.metric.pod)?;
        out.extend_from_slice(
            br#","namespace":"ns7"},"metric":{"name":"http_requests_per_second","selector":null},"timestamp":"#,
        );
        let time = jiff::Timestamp::from_millisecond((element.value.0 * 1e3).round() as i64)?;
        let civil = jiff::tz::Offset::UTC.to_datetime(time);
        write!(
            out,
            r#""{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z","windowSeconds":120,"value":"{}"}}"#,
            civil.year(),
            civil.month(),
            civil.day(),
            civil.hour(),
            civil.minute(),
            civil.second(),
            metrics_model::Quantity::from_f64(element.value.1.parse()?)?,
        )?;
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}
