//! The running adapter: flags → configuration, store client, relist task and an HTTPS accept
//! loop that authenticates each request ([`crate::auth`]) and authorizes each metric request
//! ([`crate::authz`], unless `--authorization-always-allow`) before [`crate::server`] answers
//! it.
//!
//! The Kubernetes connection ([`kube_client`]) serves three things: SubjectAccessReviews,
//! TokenReviews and the `extension-apiserver-authentication` ConfigMap. Without
//! `--authorization-always-allow` it is required; with it, the adapter also starts without one
//! (local use): certificates are then judged by the flags' CAs only, and bearer tokens are
//! refused.
//!
//! HTTP/1.1 only, and connections are never upgraded: hyper serves them without upgrade
//! support, and a request asking for one (`Upgrade` header, `CONNECT`) is answered 400 before
//! routing. Health paths (`/healthz`, `/livez`, `/readyz`) need no authentication; `/metrics`
//! needs an authenticated user allowed `get` on the non-resource URL `/metrics`.
//!
//! The store is reached through [`Coalescing`] (identical concurrent queries made once) over
//! [`Instrumented`] (calls counted for `/metrics`). With a Kubernetes connection, a label cache
//! ([`ObjectIndex`]) resolves `labelSelector`; its pod watch starts with the adapter.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, header};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use kube::Api;
use metrics_model::association::GroupResource;
use metrics_store::{Coalescing, HttpStore, Instrumented};
use rustls_pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::auth::ca_files::CaFiles;
use crate::auth::delegated::{self, DelegatedTrust};
use crate::auth::token::TokenReviewer;
use crate::auth::{Authenticator, Peer, UserInfo};
use crate::authz::{self, Authorizer};
use crate::cert_dir;
use crate::objects::ObjectIndex;
use crate::options::Options;
use crate::provider::Provider;
use crate::registry::Registry;
use crate::reload::ConfigWatch;
use crate::server::{Server, router};
use crate::serving_cert::ServingCert;
use crate::telemetry::{self, RequestMetrics, Telemetry};
use crate::tls_policy::TlsPolicy;
use crate::trust::SharedTrust;
use crate::{Config, Error, Result, defaults};

/// Paths answered without authentication.
pub const HEALTH_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// How long open connections get, beyond `--query-timeout`, to finish their requests at
/// shutdown before they are closed.
const DRAIN_MARGIN: Duration = Duration::from_secs(2);

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may wait for, then send, a request's headers (k8s.io/apiserver's
/// `ReadHeaderTimeout`); hyper's one timer bounds an idle keep-alive connection too (Go's
/// server allows 90 s idle), so a client that connects and sends nothing, or sends slowly,
/// does not hold the connection for ever.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(32);

/// How long accepting pauses after it failed for want of a resource (out of file descriptors,
/// say) before it tries again, as `axum::serve` does, instead of failing in a busy loop.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// How long the start waits for the first read of the ConfigMap before serving anyway (its
/// certificates refused until it is read).
pub const CONFIG_MAP_FIRST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Tasks that run beside the server and stop with it (or with a failed start).
#[derive(Default)]
struct Background(Vec<JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// An adapter bound to its port, its relist task running, ready to [`Adapter::serve`].
pub struct Adapter {
    listener: TcpListener,
    server: Arc<Server<Store>>,
    shutdown_delay: Duration,
    drain_timeout: Duration,
    header_read_timeout: Duration,
    trust: SharedTrust,
    serving: Arc<Serving>,
    background: Background,
}

/// What every request of every connection shares, behind one reference.
struct Serving {
    server: Arc<Server<Store>>,
    tokens: Option<Arc<TokenReviewer>>,
    authz: Option<Arc<Authorizer>>,
    app: Router,
    requests: RequestMetrics,
}

/// The store as requests and relists reach it.
type Store = Coalescing<Instrumented<HttpStore>>;

fn invalid(at: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        at: at.to_owned(),
        reason: reason.into(),
    }
}

/// The Kubernetes client: `--kubeconfig`, else `KUBECONFIG` (or `~/.kube/config`), else the
/// in-cluster service account; `needs` says what for in errors.
pub async fn kube_client(options: &Options, needs: &str) -> Result<kube::Client> {
    let mut config = match &options.kubeconfig {
        Some(path) => {
            let at = format!("--kubeconfig {}", path.display());
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| invalid(&at, format!("{needs}: {e}")))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .map_err(|e| invalid(&at, format!("{needs}: {e}")))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            invalid(
                "--kubeconfig",
                format!(
                    "{needs}, and none is configured (no --kubeconfig, no KUBECONFIG, no \
                     ~/.kube/config, not in a cluster): {e}"
                ),
            )
        })?,
    };
    // Reviews retry as k8s.io/apiserver's do, within a time budget (`review`); watches
    // retry with kube-runtime's backoff. kube's own layer (15 retries of 429/503/504, up to
    // minutes) would hold a request far past that budget.
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| invalid("--kubeconfig", format!("{needs}: {e}")))
}

/// The configuration `--config` names (and its text, to notice changes), else the default
/// rules with `--rate-interval`'s window.
fn load_config(options: &Options) -> Result<(Config, Option<String>)> {
    let Some(path) = &options.config else {
        let window = options.rate_interval.unwrap_or(defaults::DEFAULT_WINDOW);
        return Ok((defaults::default_config(window)?, None));
    };
    if let Some(window) = options.rate_interval {
        tracing::warn!(
            ?window,
            file = %path.display(),
            "--rate-interval applies to the default rules only; the rules of --config carry \
             their own windows"
        );
    }
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.clone(),
        source,
    })?;
    let config = Config::from_yaml(&text)
        .map_err(|error| invalid(&format!("--config {}", path.display()), error.to_string()))?;
    for warning in config.warnings() {
        tracing::warn!(file = %path.display(), "{warning}");
    }
    Ok((config, Some(text)))
}

/// `GET /metrics`: the adapter's own metrics in the OpenMetrics text format.
fn metrics_route(telemetry: Telemetry) -> axum::routing::MethodRouter {
    axum::routing::get(move || {
        let text = telemetry.encode();
        async move {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                text,
            )
        }
    })
}

impl Adapter {
    /// Checks the flags, connects to Kubernetes ([`kube_client`]; required without
    /// `--authorization-always-allow`, optional with it unless `--kubeconfig` is given), then
    /// [`Adapter::start_with`].
    pub async fn start(options: &Options) -> Result<Self> {
        options
            .check()
            .map_err(|(flag, reason)| invalid(flag, reason))?;
        let kube = if options.authorization_always_allow && options.kubeconfig.is_none() {
            match kube_client(
                options,
                "token authentication and the ConfigMap need a Kubernetes connection",
            )
            .await
            {
                Ok(client) => Some(client),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "no Kubernetes connection: bearer tokens are refused and certificates \
                         are judged by the flags' CAs only"
                    );
                    None
                }
            }
        } else {
            let needs = if options.authorization_always_allow {
                "--kubeconfig is given, so the adapter needs a Kubernetes connection"
            } else {
                "starting without --authorization-always-allow needs a Kubernetes connection \
                 for SubjectAccessReviews"
            };
            Some(kube_client(options, needs).await?)
        };
        Self::start_with(options, kube).await
    }

    /// As [`Adapter::start`], with the given Kubernetes connection (`None`: none, which
    /// requires `--authorization-always-allow`): it makes the SubjectAccessReviews (unless
    /// `--authorization-always-allow`) and TokenReviews, and serves the ConfigMap for the CAs
    /// no flag gives. Loads the configuration and TLS material, reads the ConfigMap once
    /// (waiting at most [`CONFIG_MAP_FIRST_READ_TIMEOUT`]) and keeps watching it, binds the
    /// port and starts the relist task.
    pub async fn start_with(options: &Options, kube: Option<kube::Client>) -> Result<Self> {
        options
            .check()
            .map_err(|(flag, reason)| invalid(flag, reason))?;
        if let Some(command) = &options.leading_command {
            tracing::warn!(
                argument = %command.display(),
                "ignoring a leading command among the arguments (prometheus-adapter's Helm \
                 chart passes /adapter first); only flags are taken"
            );
        }
        let authorizer = match (&kube, options.authorization_always_allow) {
            (_, true) => {
                tracing::warn!(
                    "--authorization-always-allow: every authenticated request is allowed, \
                     no SubjectAccessReview is made"
                );
                None
            }
            (Some(client), false) => Some(Arc::new(Authorizer::new(client.clone()))),
            (None, false) => {
                return Err(invalid(
                    "--authorization-always-allow",
                    "no Kubernetes connection was given and --authorization-always-allow is \
                     not set",
                ));
            }
        };
        let (config, config_text) = load_config(options)?;
        let registry = Arc::new(
            Registry::new(Arc::new(config), options.metrics_relist_interval)
                .with_lookback(options.lookback()),
        );
        let telemetry = Telemetry::new(registry.metrics());
        let delegated = DelegatedTrust::from_flags(options, kube.is_some())?;
        let (cert_file, key_file) = match (
            &options.tls_cert_file,
            &options.tls_private_key_file,
            &options.cert_dir,
        ) {
            (None, None, Some(dir)) => {
                let (cert, key) = cert_dir::serving_pair(dir)?;
                (Some(cert), Some(key))
            }
            (cert, key, _) => (cert.clone(), key.clone()),
        };
        let serving = Arc::new(ServingCert::load(
            cert_file.as_deref(),
            key_file.as_deref(),
        )?);
        let policy = TlsPolicy::from_flags(
            options.tls_min_version.as_deref(),
            &options.tls_cipher_suites,
        )?;
        let trust = SharedTrust::new(
            Arc::clone(&serving),
            Arc::new(policy),
            delegated.authenticator(),
        )?;
        let reads_config_map = delegated.reads_config_map();
        let delegated = Arc::new(Mutex::new(delegated));
        serving.record_expiry(&telemetry.tls);
        let mut background = Background::default();
        if serving.from_files() {
            background
                .0
                .push(tokio::spawn(serving.run(telemetry.tls.clone())));
        }
        if let Some(files) = CaFiles::of(options) {
            background.0.push(tokio::spawn(files.run(
                Arc::clone(&delegated),
                trust.clone(),
                telemetry.tls.clone(),
            )));
        }
        if let Some(client) = &kube
            && reads_config_map
        {
            let (first, read) = oneshot::channel();
            let api = Api::namespaced(client.clone(), delegated::NAMESPACE);
            background.0.push(tokio::spawn(delegated::follow(
                api,
                delegated,
                trust.clone(),
                first,
            )));
            if tokio::time::timeout(CONFIG_MAP_FIRST_READ_TIMEOUT, read)
                .await
                .is_err()
            {
                tracing::warn!(
                    "ConfigMap {}/{} not read within {CONFIG_MAP_FIRST_READ_TIMEOUT:?}: serving \
                     anyway, refusing the certificates it should vouch for until it is read",
                    delegated::NAMESPACE,
                    delegated::NAME
                );
            }
        }
        let http = HttpStore::new(options.store_config())?;
        let store: Arc<Store> = Arc::new(Coalescing::new(Arc::new(Instrumented::new(
            http,
            telemetry.store.clone(),
        ))));
        let deadline = options.query_timeout;
        {
            let (registry, store) = (Arc::clone(&registry), Arc::clone(&store));
            background.0.push(tokio::spawn(async move {
                registry.run(store.as_ref(), deadline).await
            }));
        }
        if let Some(path) = &options.config {
            let watch = ConfigWatch::new(path.clone(), config_text);
            let (registry, store) = (Arc::clone(&registry), Arc::clone(&store));
            background.0.push(tokio::spawn(async move {
                watch.run(&registry, store.as_ref(), deadline).await
            }));
        }
        let mut provider = Provider::new(registry, store);
        if let Some(client) = &kube {
            let objects = ObjectIndex::new(client.clone());
            objects.watch(&GroupResource::new("pods", "")).await?;
            provider = provider.with_objects(objects);
        }
        let server = Arc::new(Server::new(provider, options.query_timeout));
        let app = router(Arc::clone(&server)).route("/metrics", metrics_route(telemetry.clone()));
        let address = SocketAddr::new(options.bind_address, options.secure_port);
        let listener = listen(address).await.map_err(|e| Error::Tls {
            what: format!("listening on {address}"),
            reason: e.to_string(),
        })?;
        Ok(Adapter {
            listener,
            serving: Arc::new(Serving {
                server: Arc::clone(&server),
                tokens: kube.map(|client| Arc::new(TokenReviewer::new(client))),
                authz: authorizer,
                app,
                requests: telemetry.requests,
            }),
            server,
            shutdown_delay: options.shutdown_delay_duration,
            // A request in flight ends within its store deadline; a little more for the rest.
            drain_timeout: options.query_timeout.saturating_add(DRAIN_MARGIN),
            header_read_timeout: HEADER_READ_TIMEOUT,
            trust,
            background,
        })
    }

    /// Sets how long a connection may wait for, then send, a request's headers
    /// ([`HEADER_READ_TIMEOUT`] by default; shorter in tests).
    pub fn with_header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// The address actually bound (for `--secure-port 0`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::Tls {
            what: "the listening socket".to_owned(),
            reason: e.to_string(),
        })
    }

    /// Serves HTTPS until `shutdown` completes; then, as kube-apiserver terminates: `/readyz`
    /// fails at once while everything is still served for `--shutdown-delay-duration` (while
    /// the removal of a deleted pod's endpoint reaches its clients), then the listener closes,
    /// open connections finish the requests they are answering (at most `--query-timeout` and
    /// a little more) and close, and relisting and watching stop.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(address = ?self.listener.local_addr().ok(), "serving HTTPS");
        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let delay = self.shutdown_delay;
        let header_read_timeout = self.header_read_timeout;
        let server = Arc::clone(&self.server);
        let stop = async move {
            shutdown.await;
            server.begin_termination();
            if !delay.is_zero() {
                tracing::info!(?delay, "shutting down: not ready, still serving");
                tokio::time::sleep(delay).await;
            }
        };
        tokio::pin!(stop);
        loop {
            let accepted = tokio::select! {
                () = &mut stop => break,
                accepted = self.listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(accepted) => accepted,
                // The connection that was being accepted failed, not the listener: go on.
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?ACCEPT_RETRY_DELAY, "accept failed");
                    tokio::select! {
                        () = &mut stop => break,
                        () = tokio::time::sleep(ACCEPT_RETRY_DELAY) => continue,
                    }
                }
            };
            // Answers are written whole; do not hold their last segment back for an ACK.
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%remote, %error, "cannot disable Nagle's algorithm");
            }
            let shared = self.trust.clone();
            let serving = Arc::clone(&self.serving);
            let watcher = graceful.watcher();
            // Ended connections are reaped as new ones come, so the set stays the open ones.
            while connections.try_join_next().is_some() {}
            connections.spawn(async move {
                let trust = shared.current();
                let accept = trust.acceptor.accept(tcp);
                let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%remote, %error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%remote, "TLS handshake timed out");
                        return;
                    }
                };
                let chain = stream.get_ref().1.peer_certificates().map(<[_]>::to_vec);
                let peer = Arc::new(trust.authenticator.peer(chain.as_deref()));
                let connection = Arc::new(Connection {
                    shared,
                    expires: chain.as_deref().and_then(crate::auth::chain_expiry),
                    chain,
                    judged: Mutex::new((Arc::clone(&trust.authenticator), peer)),
                });
                let service = hyper::service::service_fn(move |request| {
                    let (serving, connection) = (Arc::clone(&serving), Arc::clone(&connection));
                    async move {
                        let started = std::time::Instant::now();
                        let api = telemetry::Api::of_path(request.uri().path());
                        let response = handle(request, &serving, &connection).await;
                        if let Ok(response) = &response {
                            serving.requests.record(
                                api,
                                response.status().as_u16(),
                                started.elapsed(),
                            );
                        }
                        response
                    }
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(error) = watcher.watch(connection).await {
                    tracing::debug!(%remote, %error, "connection ended with an error");
                }
            });
        }
        drop(self.listener);
        let open = graceful.count();
        tracing::info!(
            open,
            "listener closed; open connections finish their requests"
        );
        if tokio::time::timeout(self.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                timeout = ?self.drain_timeout,
                "connections still busy at the end of the drain are closed"
            );
        }
        connections.shutdown().await;
        // Stops relisting and watching the ConfigMap.
        drop(self.background);
    }
}

/// One client connection: its certificate chain, judged by the trust in force, and judged
/// again when that trust changes (a rotated CA also applies to kept-alive connections) or a
/// certificate of the chain has expired.
struct Connection {
    shared: SharedTrust,
    chain: Option<Vec<CertificateDer<'static>>>,
    /// When the chain's first certificate expires: from then on every request judges it again
    /// (and it is refused), as kube-apiserver checks the chain at every request.
    expires: Option<std::time::SystemTime>,
    judged: Mutex<(Arc<Authenticator>, Arc<Peer>)>,
}

/// Listens on `address`. An unspecified address (`0.0.0.0`, the default, or `::`) listens on
/// every interface in both address families, as k8s.io/apiserver's `--bind-address` does: one
/// IPv6 socket that takes IPv4 connections too, so the adapter is reachable in IPv6-only and
/// dual-stack clusters; `0.0.0.0` falls back to IPv4 alone on a host without IPv6.
async fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    if address.ip().is_unspecified() {
        let every = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), address.port());
        match listen_dual_stack(every) {
            Ok(listener) => return Ok(listener),
            // A port in use or not ours to bind is as much IPv4's problem: said, not hidden.
            Err(error)
                if address.is_ipv4()
                    && !matches!(
                        error.kind(),
                        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::PermissionDenied
                    ) =>
            {
                tracing::warn!(%error, "cannot listen on IPv6: listening on IPv4 only");
            }
            Err(error) => return Err(error),
        }
    }
    TcpListener::bind(address).await
}

/// An IPv6 listening socket on `address` that accepts IPv4 connections too (`IPV6_V6ONLY`
/// off), with the options tokio's own `bind` sets.
fn listen_dual_stack(address: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Whether an accept error is the failed connection's own (reset or aborted before it was
/// accepted), as `axum::serve` tells them from the listener's: those are skipped at once.
fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

impl Connection {
    /// The authenticator in force and what it makes of this connection's certificate.
    fn peer(&self) -> (Arc<Authenticator>, Arc<Peer>) {
        let now = Arc::clone(&self.shared.current().authenticator);
        let Ok(mut judged) = self.judged.lock() else {
            let peer = Arc::new(now.peer(self.chain.as_deref()));
            return (now, peer);
        };
        let expired = self
            .expires
            .is_some_and(|expires| std::time::SystemTime::now() > expires);
        if !Arc::ptr_eq(&judged.0, &now) || expired {
            let peer = Arc::new(now.peer(self.chain.as_deref()));
            *judged = (now, peer);
        }
        (Arc::clone(&judged.0), Arc::clone(&judged.1))
    }
}

/// Whether a request asks to switch protocols.
fn wants_upgrade<B>(request: &Request<B>) -> bool {
    request.method() == Method::CONNECT || request.headers().contains_key(header::UPGRADE)
}

/// Authorizes a metric request at the raw `path` (other paths are not reviewed), reading it as
/// the router does ([`authz::decoded_path`]).
async fn authorize(authz: Option<&Authorizer>, user: &UserInfo, path: &str) -> Result<()> {
    let path = authz::decoded_path(path)?;
    if let Some(authz) = authz
        && let Some(attributes) = authz::attributes(&path)
    {
        return authz.authorize(user, &attributes).await;
    }
    // Fail closed: nothing below a metrics API version is served without attributes.
    if authz::below_metrics_version(&path) && !authz::is_metric_request(&path) {
        return Err(Error::NoRoute {
            path: path.into_owned(),
        });
    }
    Ok(())
}

/// Refuses upgrades, authenticates and authorizes (except health paths), then answers
/// ([`crate::server::dispatch`]).
async fn handle<B>(
    mut request: Request<B>,
    serving: &Serving,
    connection: &Connection,
) -> std::result::Result<Response<Body>, Infallible>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let arrived = crate::server::Arrived(std::time::Instant::now());
    if wants_upgrade(&request) {
        let asked = request
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("CONNECT")
            .to_owned();
        return Ok(Error::Upgrade(asked).into_response());
    }
    if !HEALTH_PATHS.contains(&request.uri().path()) {
        let (authenticator, peer) = connection.peer();
        let authenticated = authenticator
            .authenticate(&peer, request.headers(), serving.tokens.as_deref())
            .await;
        match authenticated {
            Ok(user) => {
                tracing::debug!(user = %user.name, path = %request.uri().path(), "authenticated");
                let path = request.uri().path();
                if let Err(error) = authorize(serving.authz.as_deref(), &user, path).await {
                    tracing::info!(%error, user = %user.name, %path, "request not authorized");
                    return Ok(error.into_response());
                }
                // As k8s.io/apiserver does: the credential and the identity headers go no
                // further than authentication.
                request.headers_mut().remove(header::AUTHORIZATION);
                authenticator.clear_identity_headers(request.headers_mut());
                // The store query gets what authentication and authorization left.
                request.extensions_mut().insert(arrived);
            }
            Err(error) => {
                tracing::info!(%error, path = %request.uri().path(), "unauthenticated request");
                return Ok(error.into_response());
            }
        }
    }
    Ok(crate::server::dispatch(&serving.server, &serving.app, request).await)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_default_rules_rate_counters_over_rate_interval() {
        let windows = |flags: &[String]| {
            let (config, text) = load_config(&crate::options::for_tests(flags)).unwrap();
            assert!(text.is_none(), "no file");
            config
                .rules()
                .iter()
                .filter_map(|rule| rule.window())
                .collect::<Vec<_>>()
        };
        let two_minutes = Duration::from_secs(120);
        assert_eq!(windows(&[]), [two_minutes, two_minutes]);
        let five_minutes = Duration::from_secs(300);
        assert_eq!(
            windows(&["--rate-interval=5m".to_owned()]),
            [five_minutes, five_minutes]
        );
    }
}
