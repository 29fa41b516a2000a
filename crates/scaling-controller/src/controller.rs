//! The ScalingPolicy controller: a kube-runtime `Controller` whose [`reconcile`] reads the
//! target's `/scale`, its pods and the policy's metrics, decides with [`crate::recommend`], writes
//! `/scale` when the count changes, and reports in the policy's status.
//!
//! The shape follows kube-rs controller-rs: one free [`reconcile`] and one [`error_policy`], a
//! [`Context`] passed as `Arc` holding the client, the store, the event recorder and the clock.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use metrics_store::{HttpStore, Instrumented};

use crate::policy::ScalingPolicy;

pub mod leader;
pub mod pods;
mod readings;
mod reconcile;
pub(crate) mod status;
mod target;
pub mod telemetry;

pub use reconcile::reconcile;
pub use telemetry::ControllerMetrics;

/// The field manager of every server-side apply the controller makes.
pub const FIELD_MANAGER: &str = "sextant-controller";

/// How long to wait before retrying a policy whose reconcile failed (doubling per failure,
/// up to [`MAX_RETRY`]).
const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest back-off between retries of a failing policy.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// The controller-wide settings that come from flags, never from a ScalingPolicy.
#[derive(Debug, Clone, Default)]
pub struct ControllerConfig {
    /// Namespaces whose raw External queries may read other namespaces' series.
    pub allow_cross_namespace_queries: BTreeSet<String>,
}

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// The metrics store for raw External `query` metrics, when `--prometheus-url` is given.
    pub store: Option<Instrumented<HttpStore>>,
    /// Publishes Kubernetes Events for rescales and failures.
    pub recorder: Recorder,
    /// Flag-given settings.
    pub config: ControllerConfig,
    /// The time of a decision; a parameter so tests can fix it.
    pub clock: Box<dyn Fn() -> Timestamp + Send + Sync>,
    /// Reconcile timings, decisions, errors, desired replicas.
    pub metrics: ControllerMetrics,
    /// Every pod of the cluster, from a watch.
    pub pods: pods::PodCache,
    /// Consecutive reconcile failures per policy (namespace/name), for exponential back-off.
    failures: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl Context {
    /// A context on the wall clock; starts the pod watch, so it needs a Tokio runtime.
    pub fn new(
        client: Client,
        store: Option<Instrumented<HttpStore>>,
        config: ControllerConfig,
    ) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            pods: pods::PodCache::start(client.clone()),
            client,
            store,
            config,
            clock: Box::new(Timestamp::now),
            metrics: ControllerMetrics::default(),
            failures: Default::default(),
        }
    }

    /// Records into `metrics` (registered for export) instead of unexported ones.
    pub fn with_metrics(mut self, metrics: ControllerMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Replaces the clock, for tests that need a fixed "now".
    pub fn with_clock(mut self, clock: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    fn key(policy: &ScalingPolicy) -> String {
        format!(
            "{}/{}",
            policy.namespace().unwrap_or_default(),
            policy.name_any()
        )
    }

    /// Forgets a policy's failures after a successful reconcile.
    fn succeeded(&self, policy: &ScalingPolicy) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&Context::key(policy));
        }
    }

    /// Counts a failure and returns how long to back off: 5 s, 10 s, 20 s, … up to 5 min.
    fn failed(&self, policy: &ScalingPolicy) -> Duration {
        let count = self.failures.lock().map_or(1, |mut failures| {
            let count = failures.entry(Context::key(policy)).or_insert(0);
            *count = count.saturating_add(1);
            *count
        });
        FIRST_RETRY
            .saturating_mul(1 << count.saturating_sub(1).min(10))
            .min(MAX_RETRY)
    }
}

/// What a failed reconcile does next: retry with a per-policy exponential back-off.
pub fn error_policy(policy: Arc<ScalingPolicy>, error: &crate::Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.failed(&policy);
    ctx.metrics.errors.inc();
    tracing::warn!(policy = %Context::key(&policy), %error, ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// What `sextant-controller run` was told on its command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A kubeconfig file; else `KUBECONFIG`, else the in-cluster configuration.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The store for raw External queries.
    pub prometheus_url: Option<String>,
    /// Namespaces whose raw queries may read across namespaces.
    pub allow_cross_namespace_queries: Vec<String>,
    /// Where `/metrics` is served.
    pub metrics_address: std::net::SocketAddr,
    /// Where `/healthz` and `/readyz` are served.
    pub health_address: std::net::SocketAddr,
    /// The namespace of the leader-election Lease, or `None` to run without leader election
    /// (a single replica).
    pub leader_election_namespace: Option<String>,
}

/// Connects to the cluster (and the store, if given) and runs the controller until SIGTERM.
pub async fn start(options: RunOptions) -> Result<(), String> {
    let client = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            let config = kube::Config::from_custom_kubeconfig(
                kubeconfig,
                &kube::config::KubeConfigOptions::default(),
            )
            .await
            .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            Client::try_from(config).map_err(|e| e.to_string())?
        }
        None => Client::try_default()
            .await
            .map_err(|e| format!("no Kubernetes configuration (KUBECONFIG or in-cluster): {e}"))?,
    };
    let mut registry = prometheus_client::registry::Registry::default();
    let store = match &options.prometheus_url {
        Some(url) => {
            let store = HttpStore::new(metrics_store::StoreConfig::new(url.clone()))
                .map_err(|e| e.to_string())?;
            let metrics = metrics_store::StoreMetrics::register(
                registry.sub_registry_with_prefix("sextant_controller"),
            );
            Some(Instrumented::new(store, metrics))
        }
        None => None,
    };
    let metrics = ControllerMetrics::register(&mut registry);
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server = telemetry::serve(
        options.metrics_address,
        options.health_address,
        Arc::new(registry),
        ready.clone(),
    );
    tokio::spawn(async move {
        if let Err(error) = server.await {
            tracing::error!(%error, "the metrics and probe server stopped");
        }
    });
    Api::<ScalingPolicy>::all(client.clone())
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(|e| format!("cannot list ScalingPolicies (is crds/scalingpolicies.sextant.io.yaml applied?): {e}"))?;
    ready.store(true, std::sync::atomic::Ordering::Relaxed);
    let config = ControllerConfig {
        allow_cross_namespace_queries: options.allow_cross_namespace_queries.into_iter().collect(),
    };
    let ctx = Arc::new(Context::new(client.clone(), store, config).with_metrics(metrics));
    let Some(namespace) = options.leader_election_namespace else {
        run(ctx, shutdown_signal()).await;
        return Ok(());
    };
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("sextant-controller-{}", std::process::id()));
    let elector = leader::LeaderElector::new(client, &namespace, identity.clone());
    tracing::info!(%identity, %namespace, "waiting to lead");
    elector.acquire().await.map_err(|e| e.to_string())?;
    tracing::info!(%identity, "leading");
    lead(ctx, &elector, shutdown_signal()).await
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Runs the controller as the leader until `shutdown` (then finishes the reconciles in flight
/// and releases the Lease, so a successor takes over at once) or until the Lease is lost.
pub async fn lead(
    ctx: Arc<Context>,
    elector: &leader::LeaderElector,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), String> {
    tokio::select! {
        () = run(ctx, shutdown) => {
            elector.release().await.map_err(|e| e.to_string())?;
            Ok(())
        }
        () = elector.keep_renewing() => Err("lost the leader Lease; exiting so that only the new leader scales".to_owned()),
    }
}

/// Runs the controller until `shutdown` completes; the reconciles in flight then finish before
/// this returns.
pub async fn run(ctx: Arc<Context>, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
    let policies = Api::<ScalingPolicy>::all(ctx.client.clone());
    Controller::new(policies, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((policy, _)) => tracing::debug!(policy = %policy, "reconciled"),
                Err(error) => tracing::debug!(%error, "reconcile did not complete"),
            }
        })
        .await;
}

#[cfg(test)]
mod tests;
