//! The floor of the latency ratio: the least any server in the adapter's place can add.
//!
//! A proxy with no adapter in it: HTTPS (rustls, the adapter's serving certificate, HTTP/1.1
//! keep-alive, hyper) in front of the same Prometheus. Each request makes the direct call (the
//! same form body over the same kind of keep-alive reqwest client), reads Prometheus's whole
//! answer without decoding it, and replies with a `MetricValueList` the adapter served before,
//! written once at start. No routing, authentication, decoding, building or serializing: what
//! it costs over the direct call is the second hop, TLS, and the larger answer sent and decoded
//! by the client. Its p50 against the direct call's is the best ratio the adapter's design
//! (a server between the client and the store, answering the Kubernetes shape) can reach on
//! this machine.

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

/// What the floor proxy forwards and what it answers.
struct Forward {
    client: reqwest::Client,
    url: String,
    form: Arc<[(&'static str, String)]>,
    answer: Bytes,
}

impl Forward {
    /// The direct call, its body read whole, then the stored answer.
    async fn answer(&self) -> Response<Body> {
        let forwarded = async {
            let response = self.client.post(&self.url).form(&*self.form).send().await?;
            let status = response.status();
            response.bytes().await?;
            Ok::<_, reqwest::Error>(status)
        };
        let (status, body) = match forwarded.await {
            Ok(status) if status.is_success() => (StatusCode::OK, self.answer.clone()),
            Ok(status) => (status, Bytes::from_static(b"{}")),
            Err(_) => (StatusCode::BAD_GATEWAY, Bytes::from_static(b"{}")),
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

/// Starts the proxy: `url` and `form` are the direct call, `answer` the adapter's body.
pub async fn start(
    pki: &Pki,
    url: String,
    form: Arc<[(&'static str, String)]>,
    answer: Bytes,
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
        client: crate::client_builder().build()?,
        url,
        form,
        answer,
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
