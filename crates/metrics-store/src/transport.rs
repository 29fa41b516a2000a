//! Keep-alive HTTP/1.1 connections to the store, each driven by the request that uses it.
//!
//! A client that gives every connection a task of its own (reqwest over hyper-util's pool)
//! hands each request to that task and each answer back, a wake-up of another task (often on
//! the other core) both ways: the adapter's benchmark measured 43 µs of a 0.80 ms round trip
//! for it (`cargo bench -p metrics-adapter --bench adapter`, the floor proxies). Here a
//! request takes an idle connection out of the pool, polls the connection itself while it
//! sends and reads the whole answer, and puts it back: no task in between.
//!
//! A connection the store closed while it sat idle is noticed before it is used (it is polled
//! once), and a request a pooled connection refused unsent goes out again on another one, so a
//! store that restarted costs no failed query.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::{Request, Uri};
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::same_poll::SamePollWaker;
use crate::{Error, Result};

/// How long an idle connection is kept: under VictoriaMetrics' idle limit (1 min) and
/// Prometheus's (its 5 min read timeout), so the store is not the one closing it mid-use.
const IDLE_FOR: Duration = Duration::from_secs(50);

/// Idle connections kept at most; beyond that a returned connection is closed. Concurrent
/// requests each use one, so this is the parallelism kept warm.
const MAX_IDLE: usize = 32;

/// How long an idle connection waits before putting another back checks it is still open.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// A TCP or TLS stream, as hyper reads and writes it.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

type Io = TokioIo<Box<dyn Stream>>;

/// One connection: the handle requests are sent on and the connection state machine that a
/// request polls while it uses it (dropped once it has ended, which fails or hands back what
/// still waits on it, instead of leaving that waiting).
struct Pooled {
    sender: SendRequest<String>,
    connection: Option<Connection<Io, String>>,
    /// What the request and the connection are polled with during an exchange.
    waker: SamePollWaker,
    idle_since: Instant,
}

impl Pooled {
    /// Whether it can carry a request: young enough, and the store has not closed it (the
    /// connection is polled once, which reads a pending close).
    fn is_usable(&mut self) -> bool {
        if self.idle_since.elapsed() >= IDLE_FOR {
            return false;
        }
        let Some(connection) = self.connection.as_mut() else {
            return false;
        };
        let mut context = Context::from_waker(Waker::noop());
        Pin::new(connection).poll(&mut context).is_pending() && !self.sender.is_closed()
    }
}

/// Where the store is and how to speak to it.
pub(crate) struct Transport {
    /// The store's base URL, for error messages.
    url: String,
    /// Host name or address to connect to (no brackets around an IPv6 address).
    host: String,
    port: u16,
    /// The `Host` header.
    authority: HeaderValue,
    /// The path prefix of the base URL, without a trailing `/` (empty for none).
    base_path: String,
    /// TLS for `https://` stores: the client configuration and the name to verify.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    connect_timeout: Duration,
    /// Boxed: a connection's state (700 bytes) is taken out, moved through the exchange and put
    /// back on every request, as a pointer instead of a copy each time.
    #[allow(
        clippy::vec_box,
        reason = "moved on every request; boxed, it moves as a pointer"
    )]
    idle: Mutex<Vec<Box<Pooled>>>,
}

/// How an exchange on one connection ended, when it did not end with an answer.
enum Failed {
    /// The connection would not take the request, which is handed back unsent.
    Unsent(Request<String>),
    /// The request went out (or may have), and no answer came.
    Error(Error),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("url", &self.url)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// A transport to `base` (`http://` or `https://`, with an optional path prefix); `tls` is
    /// used for `https://`. Connects lazily.
    pub(crate) fn new(
        base: &str,
        tls: Option<rustls::ClientConfig>,
        connect_timeout: Duration,
    ) -> Result<Self> {
        let config = |reason: String| Error::Config(format!("store URL {base:?}: {reason}"));
        let uri: Uri = base.parse().map_err(|e| config(format!("{e}")))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(config("must start with http:// or https://".to_owned())),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| config("names no host".to_owned()))?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = match (https, tls) {
            (false, _) => None,
            (true, None) => return Err(config("an https:// store needs TLS settings".to_owned())),
            (true, Some(mut tls)) => {
                tls.alpn_protocols = vec![b"http/1.1".to_vec()];
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| config(format!("host {host:?}: {e}")))?;
                Some((TlsConnector::from(std::sync::Arc::new(tls)), name))
            }
        };
        // The Host header names the host and the port as written, never a user part.
        let host_header = match authority.port() {
            Some(port) => format!("{}:{port}", authority.host()),
            None => authority.host().to_owned(),
        };
        Ok(Transport {
            url: base.to_owned(),
            authority: HeaderValue::from_str(&host_header).map_err(|e| config(format!("{e}")))?,
            host,
            port,
            base_path: uri.path().trim_end_matches('/').to_owned(),
            tls,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// `path` (with its query, if any) under the base URL's path prefix, as a request target.
    pub(crate) fn target(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_path)
    }

    /// Sends `request` (origin-form target, body complete) and reads the whole answer:
    /// (HTTP status, body). The caller bounds the time.
    pub(crate) async fn send(&self, mut request: Request<String>) -> Result<(u16, Bytes)> {
        // A Host header of the caller's own (a configured extra header) is kept.
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| self.authority.clone());
        loop {
            let (connection, pooled) = match self.checkout() {
                Some(connection) => (connection, true),
                None => (self.connect().await?, false),
            };
            match self.exchange(connection, request).await {
                Ok(answer) => return Ok(answer),
                // A pooled connection the store closed just now: try the next one, or a new one.
                Err(Failed::Unsent(unsent)) if pooled => request = unsent,
                Err(Failed::Unsent(_)) => {
                    return Err(self.unavailable(
                        "the new connection closed before the request was sent".to_owned(),
                    ));
                }
                Err(Failed::Error(error)) => return Err(error),
            }
        }
    }

    fn unavailable(&self, reason: String) -> Error {
        Error::Unavailable {
            url: self.url.clone(),
            reason,
        }
    }

    /// The most recently used idle connection that can still carry a request.
    fn checkout(&self) -> Option<Box<Pooled>> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut connection) = idle.pop() {
            if connection.is_usable() {
                return Some(connection);
            }
        }
        None
    }

    /// Keeps `connection` for the next request; connections gone stale while they waited (too
    /// old, or closed by the store) are closed now, so none lingers under newer ones. Those
    /// idle for less than [`RECHECK_AFTER`] are kept unchecked: a busy pool is not polled
    /// whole on every answer (a connection is checked anyway when it is taken).
    fn put_back(&self, mut connection: Box<Pooled>) {
        connection.idle_since = Instant::now();
        if let Ok(mut idle) = self.idle.lock() {
            idle.retain_mut(|idle| idle.idle_since.elapsed() < RECHECK_AFTER || idle.is_usable());
            if idle.len() < MAX_IDLE {
                idle.push(connection);
            }
        }
    }

    /// A new connection: TCP (no Nagle: requests are written whole), TLS for `https://`.
    async fn connect(&self) -> Result<Box<Pooled>> {
        let within = |what: &'static str| {
            let limit = self.connect_timeout;
            move |_| {
                self.unavailable(format!(
                    "{what} {}:{} took longer than {limit:?}",
                    self.host, self.port
                ))
            }
        };
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(within("connecting to"))?
        .map_err(|e| self.unavailable(format!("connecting to {}:{}: {e}", self.host, self.port)))?;
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "cannot disable Nagle's algorithm");
        }
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                tokio::time::timeout(self.connect_timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(within("the TLS handshake with"))?
                    .map_err(|e| self.unavailable(format!("TLS with {}: {e}", self.host)))?,
            ),
        };
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.unavailable(format!("HTTP/1.1 set-up: {e}")))?;
        Ok(Box::new(Pooled {
            sender,
            connection: Some(connection),
            waker: SamePollWaker::new(),
            idle_since: Instant::now(),
        }))
    }

    /// Sends `request` on `pooled` and reads the whole answer, polling the connection all the
    /// while; a connection left in good order goes back to the pool.
    async fn exchange(
        &self,
        mut pooled: Box<Pooled>,
        request: Request<String>,
    ) -> Result<(u16, Bytes), Failed> {
        let outcome = {
            let Pooled {
                sender,
                connection,
                waker,
                ..
            } = &mut *pooled;
            let mut work = pin!(async move {
                if std::future::poll_fn(|cx| sender.poll_ready(cx))
                    .await
                    .is_err()
                {
                    return Err(Failed::Unsent(request));
                }
                let response = match sender.try_send_request(request).await {
                    Ok(response) => response,
                    Err(mut error) => {
                        return Err(match error.take_message() {
                            Some(unsent) => Failed::Unsent(unsent),
                            None => Failed::Error(self.unavailable(chain(error.error()))),
                        });
                    }
                };
                let status = response.status().as_u16();
                let body = response.into_body().collect().await.map_err(|error| {
                    Failed::Error(Error::BadResponse {
                        status,
                        reason: format!("reading the answer: {}", chain(&error)),
                    })
                })?;
                Ok((status, body.to_bytes()))
            });
            // The request and the connection hand each other the request, the answer's head and
            // each piece of its body through channels, waking the task: through `waker` those
            // wakes make the poll go round again at once (see `same_poll`).
            std::future::poll_fn(|cx| {
                waker.poll(cx, |cx| {
                    if let Poll::Ready(outcome) = work.as_mut().poll(cx) {
                        return Poll::Ready(outcome);
                    }
                    let Some(open) = connection.as_mut() else {
                        return Poll::Pending;
                    };
                    match Pin::new(open).poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(ended) => {
                            if let Err(error) = ended {
                                tracing::debug!(url = %self.url, %error, "store connection failed");
                            }
                            // Dropping the ended connection fails (or hands back unsent) what
                            // the request still waits for, unless the answer is complete.
                            *connection = None;
                            work.as_mut().poll(cx)
                        }
                    }
                })
            })
            .await
        };
        if outcome.is_ok() && pooled.connection.is_some() && !pooled.sender.is_closed() {
            self.put_back(pooled);
        }
        outcome
    }
}

/// An error with its sources, so the reason names the root cause ("connection reset").
fn chain(error: &dyn std::error::Error) -> String {
    let mut reason = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    reason
}

#[cfg(test)]
mod tests;
