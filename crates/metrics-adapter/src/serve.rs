//! The running adapter: flags → configuration, store client, relist task and an HTTPS accept
//! loop that authenticates each request ([`crate::auth`]) and authorizes each metric request
//! ([`crate::authz`], unless `--authorization-always-allow`) before the [`crate::server`]
//! router sees it.
//!
//! HTTP/1.1 only, and connections are never upgraded: hyper serves them without upgrade
//! support, and a request asking for one (`Upgrade` header, `CONNECT`) is answered 400 before
//! routing. Health paths (`/healthz`, `/livez`, `/readyz`) need no authentication; `/metrics`
//! needs an authenticated user (any: it names no namespace, object or metric).
//!
//! The store is reached through [`Coalescing`] (identical concurrent queries made once) over
//! [`Instrumented`] (calls counted for `/metrics`). With a Kubernetes connection, a label cache
//! ([`ObjectIndex`]) resolves `labelSelector`; its pod watch starts with the adapter.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, Response, header};
use axum::response::IntoResponse;
use hyper_util::rt::TokioIo;
use metrics_model::association::GroupResource;
use metrics_store::{Coalescing, HttpStore, Instrumented};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::auth::{Authenticator, FrontProxy, Peer, UserInfo};
use crate::authz::{self, Authorizer};
use crate::objects::ObjectIndex;
use crate::options::Options;
use crate::provider::Provider;
use crate::registry::Registry;
use crate::reload::ConfigWatch;
use crate::server::{Server, router};
use crate::telemetry::{RequestMetrics, Telemetry};
use crate::{Config, Error, Result, defaults, tls};

/// Paths answered without authentication.
pub const HEALTH_PATHS: &[&str] = &["/healthz", "/livez", "/readyz"];

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// An adapter bound to its port, its relist task running, ready to [`Adapter::serve`].
pub struct Adapter {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    auth: Arc<Authenticator>,
    authz: Option<Arc<Authorizer>>,
    app: Router,
    requests: RequestMetrics,
    tasks: Vec<JoinHandle<()>>,
}

/// The store as requests and relists reach it.
type Store = Coalescing<Instrumented<HttpStore>>;

fn invalid(at: &str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        at: at.to_owned(),
        reason: reason.into(),
    }
}

/// The authenticator the flags describe (front proxy and client CA, each optional).
pub fn authenticator(options: &Options) -> Result<Authenticator> {
    let front_proxy = match &options.requestheader_client_ca_file {
        Some(path) => Some(FrontProxy {
            verifier: tls::ca_verifier("--requestheader-client-ca-file", path)?,
            allowed_names: options.requestheader_allowed_names.clone(),
            username_headers: options.requestheader_username_headers.clone(),
            group_headers: options.requestheader_group_headers.clone(),
            extra_headers_prefixes: options.requestheader_extra_headers_prefix.clone(),
        }),
        None => None,
    };
    let client_ca = match &options.client_ca_file {
        Some(path) => Some(tls::ca_verifier("--client-ca-file", path)?),
        None => None,
    };
    if front_proxy.is_none() && client_ca.is_none() {
        tracing::warn!(
            "neither --requestheader-client-ca-file nor --client-ca-file is set: \
             every request except the health probes will be refused (401)"
        );
    }
    Ok(Authenticator::new(front_proxy, client_ca))
}

/// The Kubernetes client for SubjectAccessReviews: `--kubeconfig`, else `KUBECONFIG` (or
/// `~/.kube/config`), else the in-cluster service account.
pub async fn kube_client(options: &Options) -> Result<kube::Client> {
    let needs = "starting without --authorization-always-allow needs a Kubernetes connection \
                 for SubjectAccessReviews";
    let config = match &options.kubeconfig {
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
    kube::Client::try_from(config).map_err(|e| invalid("--kubeconfig", format!("{needs}: {e}")))
}

/// The configuration `--config` names (and its text, to notice changes), else the defaults.
fn load_config(options: &Options) -> Result<(Config, Option<String>)> {
    let Some(path) = &options.config else {
        return Ok((defaults::default_config(defaults::DEFAULT_WINDOW)?, None));
    };
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

impl Adapter {
    /// Checks the flags, loads the configuration and TLS material, binds the port and starts the
    /// relist task. Without `--authorization-always-allow` it needs a working Kubernetes
    /// configuration ([`kube_client`]) for SubjectAccessReviews.
    pub async fn start(options: &Options) -> Result<Self> {
        let (authorizer, client) = if options.authorization_always_allow {
            let client = match kube_client(options).await {
                Ok(client) => Some(client),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "no Kubernetes connection: requests with a labelSelector will be answered 503"
                    );
                    None
                }
            };
            (None, client)
        } else {
            let client = kube_client(options).await?;
            (Some(Authorizer::new(client.clone())), Some(client))
        };
        Self::start_in_cluster(options, authorizer, client).await
    }

    /// As [`Adapter::start`], with the given authorizer (`None` allows every authenticated
    /// request and requires `--authorization-always-allow`) and no Kubernetes connection.
    pub async fn start_with(options: &Options, authorizer: Option<Authorizer>) -> Result<Self> {
        Self::start_in_cluster(options, authorizer, None).await
    }

    /// As [`Adapter::start_with`], resolving `labelSelector` through `client`'s watches.
    pub async fn start_in_cluster(
        options: &Options,
        authorizer: Option<Authorizer>,
        client: Option<kube::Client>,
    ) -> Result<Self> {
        if authorizer.is_none() {
            if !options.authorization_always_allow {
                return Err(invalid(
                    "--authorization-always-allow",
                    "no authorizer was given and --authorization-always-allow is not set",
                ));
            }
            tracing::warn!(
                "--authorization-always-allow: every authenticated request is allowed, \
                 no SubjectAccessReview is made"
            );
        }
        let (config, config_text) = load_config(options)?;
        let auth = authenticator(options)?;
        let (chain, key) = tls::server_identity(
            options.tls_cert_file.as_deref(),
            options.tls_private_key_file.as_deref(),
        )?;
        let tls_config = tls::server_config(chain, key, &auth.ca_verifiers())?;
        let registry = Arc::new(Registry::new(
            Arc::new(config),
            options.metrics_relist_interval,
        ));
        let telemetry = Telemetry::new(registry.metrics());
        let http = HttpStore::new(options.store_config())?;
        let store: Arc<Store> = Arc::new(Coalescing::new(Arc::new(Instrumented::new(
            http,
            telemetry.store.clone(),
        ))));
        let address = SocketAddr::new(options.bind_address, options.secure_port);
        let listener = TcpListener::bind(address).await.map_err(|e| Error::Tls {
            what: format!("listening on {address}"),
            reason: e.to_string(),
        })?;
        let deadline = options.query_timeout;
        let mut tasks = Vec::new();
        tasks.push({
            let (registry, store) = (Arc::clone(&registry), Arc::clone(&store));
            tokio::spawn(async move { registry.run(store.as_ref(), deadline).await })
        });
        if let Some(path) = &options.config {
            let watch = ConfigWatch::new(path.clone(), config_text);
            let (registry, store) = (Arc::clone(&registry), Arc::clone(&store));
            tasks.push(tokio::spawn(async move {
                watch.run(&registry, store.as_ref(), deadline).await
            }));
        }
        let mut provider = Provider::new(registry, store);
        if let Some(client) = client {
            let objects = ObjectIndex::new(client);
            objects.watch(&GroupResource::new("pods", "")).await?;
            provider = provider.with_objects(objects);
        }
        let server = Arc::new(Server::new(provider, options.query_timeout));
        let metrics_text = telemetry.clone();
        let app = router(server).route(
            "/metrics",
            axum::routing::get(move || {
                let text = metrics_text.encode();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        text,
                    )
                }
            }),
        );
        Ok(Adapter {
            listener,
            acceptor: TlsAcceptor::from(tls_config),
            auth: Arc::new(auth),
            authz: authorizer.map(Arc::new),
            app,
            requests: telemetry.requests,
            tasks,
        })
    }

    /// The address actually bound (for `--secure-port 0`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener.local_addr().map_err(|e| Error::Tls {
            what: "the listening socket".to_owned(),
            reason: e.to_string(),
        })
    }

    /// Serves HTTPS until `shutdown` completes, then stops accepting and stops relisting.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        tracing::info!(address = ?self.listener.local_addr().ok(), "serving HTTPS");
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => accepted,
            };
            let (tcp, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            };
            let acceptor = self.acceptor.clone();
            let auth = Arc::clone(&self.auth);
            let authz = self.authz.clone();
            let app = self.app.clone();
            let requests = self.requests.clone();
            tokio::spawn(async move {
                let stream =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
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
                let peer = Arc::new(auth.peer(stream.get_ref().1.peer_certificates()));
                let service = hyper::service::service_fn(move |request| {
                    let guard = Guard {
                        auth: Arc::clone(&auth),
                        authz: authz.clone(),
                        peer: Arc::clone(&peer),
                    };
                    let (app, requests) = (app.clone(), requests.clone());
                    async move {
                        let started = std::time::Instant::now();
                        let path = request.uri().path().to_owned();
                        let response = handle(request, app, guard).await;
                        if let Ok(response) = &response {
                            requests.record(&path, response.status().as_u16(), started.elapsed());
                        }
                        response
                    }
                });
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%remote, %error, "connection ended with an error");
                }
            });
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Whether a request asks to switch protocols.
fn wants_upgrade<B>(request: &Request<B>) -> bool {
    request.method() == Method::CONNECT || request.headers().contains_key(header::UPGRADE)
}

/// What judges a request on one connection: authentication, the peer, authorization.
struct Guard {
    auth: Arc<Authenticator>,
    authz: Option<Arc<Authorizer>>,
    peer: Arc<Peer>,
}

/// Authorizes a metric request (other paths are not reviewed).
async fn authorize(authz: Option<&Authorizer>, user: &UserInfo, path: &str) -> Result<()> {
    match (authz, authz::attributes(path)) {
        (Some(authz), Some(attributes)) => authz.authorize(user, &attributes).await,
        _ => Ok(()),
    }
}

/// Refuses upgrades, authenticates and authorizes (except health paths), then routes.
async fn handle<B>(
    request: Request<B>,
    mut app: Router,
    guard: Guard,
) -> std::result::Result<Response<Body>, Infallible>
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    if wants_upgrade(&request) {
        let asked = request
            .headers()
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("CONNECT")
            .to_owned();
        return Ok(Error::Upgrade(asked).into_response());
    }
    let mut request = request.map(Body::new);
    if !HEALTH_PATHS.contains(&request.uri().path()) {
        match guard.auth.authenticate(&guard.peer, request.headers()) {
            Ok(user) => {
                tracing::debug!(user = %user.name, path = %request.uri().path(), "authenticated");
                let path = request.uri().path();
                if let Err(error) = authorize(guard.authz.as_deref(), &user, path).await {
                    tracing::info!(%error, user = %user.name, %path, "request not authorized");
                    return Ok(error.into_response());
                }
                request.extensions_mut().insert(user);
            }
            Err(error) => {
                tracing::info!(%error, path = %request.uri().path(), "unauthenticated request");
                return Ok(error.into_response());
            }
        }
    }
    app.call(request).await
}
