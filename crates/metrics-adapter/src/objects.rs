//! The labels of the objects a custom-metrics request may describe, from watch-fed caches, so
//! `?labelSelector=` is resolved in memory instead of with a LIST per request (and the store
//! query need not name the objects: see [`crate::provider`]).
//!
//! One metadata-only watch per resource (kube-runtime's watcher over
//! `PartialObjectMetadata`, cluster-wide), started on the first request that needs it and kept
//! for the life of the process. Each cached object keeps its namespace, name and labels; the
//! annotations and `managedFields` are dropped as they arrive, so the cache holds only what
//! selection needs. A request waits for its resource's first LIST at most for what is left of
//! its deadline, and is answered 503 if it does not come.
//!
//! Resources of the core, `apps`, `batch` and `networking.k8s.io` groups are known by name;
//! any other (a custom resource) is found by API discovery on first use. Discovery and the
//! watch's start run as a task of their own, shared by the requests arriving meanwhile
//! ([`crate::single_flight`]): a request that gives up waiting leaves it running, so a slow
//! API server delays the cache instead of keeping it from ever starting.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PartialObjectMeta};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use metrics_model::Selector;
use metrics_model::association::GroupResource;

use crate::single_flight::SingleFlight;
use crate::{Error, Result};

/// The cached metadata of one object.
type Meta = PartialObjectMeta<DynamicObject>;

/// How long a custom resource's API discovery may take before its start fails (and the next
/// request tries again): client-go's discovery client timeout.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(32);

/// Resources whose group, version and kind need no discovery: `(group, version, kind, plural)`.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "pods"),
    ("", "v1", "Service", "services"),
    ("", "v1", "Namespace", "namespaces"),
    ("", "v1", "Node", "nodes"),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    ("", "v1", "PersistentVolume", "persistentvolumes"),
    ("", "v1", "Endpoints", "endpoints"),
    ("", "v1", "ReplicationController", "replicationcontrollers"),
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "ReplicaSet", "replicasets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("batch", "v1", "Job", "jobs"),
    ("batch", "v1", "CronJob", "cronjobs"),
    ("networking.k8s.io", "v1", "Ingress", "ingresses"),
];

/// The caches by resource.
type Caches = BTreeMap<GroupResource, Store<Meta>>;

/// Watch-fed label caches, one per resource, shared by every request; clones share the caches.
#[derive(Clone)]
pub struct ObjectIndex {
    client: Client,
    caches: Arc<Mutex<Caches>>,
    /// The starts of caches under way (discovery, then the watch); an error is the message
    /// of an [`Error::ObjectsUnavailable`].
    starting: Arc<SingleFlight<GroupResource, Store<Meta>>>,
}

impl std::fmt::Debug for ObjectIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let watched: Vec<String> = self
            .caches
            .lock()
            .map(|caches| caches.keys().map(ToString::to_string).collect())
            .unwrap_or_default();
        f.debug_struct("ObjectIndex")
            .field("watched", &watched)
            .finish()
    }
}

impl ObjectIndex {
    /// An index that watches resources through `client` as requests need them.
    pub fn new(client: Client) -> Self {
        ObjectIndex {
            client,
            caches: Arc::default(),
            starting: Arc::default(),
        }
    }

    /// Starts the watch of `resource` now rather than on its first request (the adapter does
    /// this for `pods` at start, so the first request does not wait for the LIST).
    pub async fn watch(&self, resource: &GroupResource) -> Result<()> {
        self.store(resource).await.map(drop)
    }

    /// The names of the objects of `resource` (in `namespace`, for namespaced resources) whose
    /// labels `selector` matches; waits at most `deadline` for the resource's API discovery
    /// (a resource not known by table) and first LIST together.
    pub async fn select(
        &self,
        resource: &GroupResource,
        namespace: Option<&str>,
        selector: &Selector,
        deadline: Duration,
    ) -> Result<Vec<String>> {
        let started = tokio::time::Instant::now();
        let store = tokio::time::timeout(deadline, self.store(resource))
            .await
            .map_err(|_| discovery_timed_out(resource, deadline))??;
        let left = deadline.saturating_sub(started.elapsed());
        let synced = tokio::time::timeout(left, store.wait_until_ready()).await;
        if !matches!(synced, Ok(Ok(()))) {
            return Err(Error::ObjectsUnavailable(format!(
                "the label cache of {resource} has not completed its first list yet \
                 (is the adapter allowed to list and watch {resource}?)"
            )));
        }
        // Filtered under the store's read lock; only the names of the matches are copied.
        let mut names: Vec<String> = store
            .state_filter(|object| {
                namespace.is_none_or(|ns| object.metadata.namespace.as_deref() == Some(ns))
                    && selector.matches(object.metadata.labels.as_ref().unwrap_or(&EMPTY))
            })
            .iter()
            .filter_map(|object| object.metadata.name.clone())
            .collect();
        names.sort_unstable();
        Ok(names)
    }

    /// The cache of `resource`, its watch started if this is the first time it is asked for:
    /// by a task of its own, which the requests asking meanwhile share and which goes on when
    /// they give up. A start that fails is forgotten, so the next request tries again.
    async fn store(&self, resource: &GroupResource) -> Result<Store<Meta>> {
        if let Some(store) = self.lock()?.get(resource) {
            return Ok(store.clone());
        }
        self.starting
            .run(resource, || {
                let (index, resource) = (self.clone(), resource.clone());
                async move { index.start(resource).await.map_err(message) }
            })
            .await
            .map_err(Error::ObjectsUnavailable)
    }

    /// Starts `resource`'s cache, unless a start that ended a moment ago did: discovery, then
    /// the watch, recorded as watched.
    async fn start(&self, resource: GroupResource) -> Result<Store<Meta>> {
        if let Some(store) = self.lock()?.get(&resource) {
            return Ok(store.clone());
        }
        let discovered =
            tokio::time::timeout(DISCOVERY_TIMEOUT, api_resource(&self.client, &resource))
                .await
                .map_err(|_| discovery_timed_out(&resource, DISCOVERY_TIMEOUT))??;
        let store = start_watch(self.client.clone(), &resource, discovered);
        self.lock()?.insert(resource, store.clone());
        Ok(store)
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Caches>> {
        self.caches
            .lock()
            .map_err(|_| Error::ObjectsUnavailable("the label cache lock is poisoned".to_owned()))
    }
}

/// The 503 of a `labelSelector` whose resource's discovery took longer than `waited`.
fn discovery_timed_out(resource: &GroupResource, waited: Duration) -> Error {
    Error::ObjectsUnavailable(format!(
        "cannot resolve labelSelector for {resource}: the API server's discovery did not \
         answer within {waited:?}"
    ))
}

/// The message of `error` as an [`Error::ObjectsUnavailable`] carries it.
fn message(error: Error) -> String {
    match error {
        Error::ObjectsUnavailable(reason) => reason,
        other => other.to_string(),
    }
}

/// No labels at all.
static EMPTY: BTreeMap<String, String> = BTreeMap::new();

/// Spawns the metadata watch of one resource feeding a reflector store, and returns the store.
fn start_watch(client: Client, resource: &GroupResource, api_resource: ApiResource) -> Store<Meta> {
    let writer = reflector::store::Writer::<Meta>::new(api_resource.clone());
    let store = writer.as_reader();
    let api = Api::<Meta>::all_with(client, &api_resource);
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default().any_semantic())
            .modify(|object: &mut Meta| {
                // Only namespace, name and labels are ever read.
                object.metadata.annotations = None;
                object.metadata.managed_fields = None;
                object.metadata.owner_references = None;
                object.metadata.finalizers = None;
            })
            .default_backoff(),
    );
    let resource = resource.to_string();
    tokio::spawn(async move {
        stream
            .for_each(|event| {
                if let Err(error) = event {
                    tracing::warn!(%resource, %error, "label watch failed; resuming");
                }
                std::future::ready(())
            })
            .await;
    });
    store
}

/// The API resource (group, version, kind, plural) of `resource`: from [`KNOWN`], else by
/// discovery of its group's preferred version.
async fn api_resource(client: &Client, resource: &GroupResource) -> Result<ApiResource> {
    if let Some((group, version, kind, plural)) = KNOWN
        .iter()
        .find(|(g, _, _, p)| *g == resource.group && *p == resource.resource)
    {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        return Ok(ApiResource::from_gvk_with_plural(&gvk, plural));
    }
    let unavailable = |reason: String| {
        Error::ObjectsUnavailable(format!(
            "cannot resolve labelSelector for {resource}: {reason}"
        ))
    };
    let group = kube::discovery::group(client, &resource.group)
        .await
        .map_err(|e| unavailable(format!("API discovery of group {:?}: {e}", resource.group)))?;
    group
        .recommended_resources()
        .into_iter()
        .map(|(api_resource, _)| api_resource)
        .find(|api_resource| api_resource.plural == resource.resource)
        .ok_or_else(|| {
            unavailable(format!(
                "the API server serves no resource {:?} in group {:?}",
                resource.resource, resource.group
            ))
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn an_api_server_that_does_not_answer_discovery_costs_the_deadline() {
        // Connections are accepted (by the backlog) and never answered.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let index = ObjectIndex::new(client);
        let widgets = GroupResource::new("widgets", "example.com");
        let started = std::time::Instant::now();
        let selector = Selector::parse("app=web").unwrap();
        let select = index.select(&widgets, Some("ns1"), &selector, Duration::from_millis(300));
        let selected = tokio::time::timeout(Duration::from_secs(5), select)
            .await
            .expect("bounded by its deadline, not hanging");
        let took = started.elapsed();
        let Err(Error::ObjectsUnavailable(reason)) = selected else {
            panic!("{selected:?}");
        };
        assert!(reason.contains("did not answer within 300ms"), "{reason}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    /// An API server whose discovery of group `example.com` (serving `widgets`) answers after
    /// 500 ms, counting the `GET /apis` it gets, and that never answers a LIST or watch.
    async fn slow_discovery() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use axum::routing::get;
        use axum::{Router, response::IntoResponse};
        use std::sync::atomic::{AtomicUsize, Ordering};
        fn json(value: serde_json::Value) -> axum::response::Response {
            ([("content-type", "application/json")], value.to_string()).into_response()
        }
        let asked = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&asked);
        let version = serde_json::json!({"groupVersion": "example.com/v1", "version": "v1"});
        let groups = serde_json::json!({
            "kind": "APIGroupList", "apiVersion": "v1",
            "groups": [{"name": "example.com", "versions": [version], "preferredVersion": version}]
        });
        let resources = serde_json::json!({
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1",
            "resources": [{"name": "widgets", "singularName": "widget", "namespaced": true,
                           "kind": "Widget", "verbs": ["list", "watch"]}]
        });
        let app = Router::new()
            .route(
                "/apis",
                get(move || async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    json(groups)
                }),
            )
            .route(
                "/apis/example.com/v1",
                get(move || async move { json(resources) }),
            )
            .fallback(std::future::pending::<()>);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, asked)
    }

    #[tokio::test]
    async fn discovery_that_outlasts_the_requests_still_starts_the_cache_once() {
        use std::sync::atomic::Ordering;
        let (url, asked) = slow_discovery().await;
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let index = ObjectIndex::new(client);
        let widgets = GroupResource::new("widgets", "example.com");
        let selector = Selector::parse("app=web").unwrap();
        let deadline = Duration::from_millis(200);
        let (first, second) = tokio::join!(
            index.select(&widgets, Some("ns1"), &selector, deadline),
            index.select(&widgets, Some("ns1"), &selector, deadline),
        );
        for given_up in [first, second] {
            let Err(Error::ObjectsUnavailable(reason)) = given_up else {
                panic!("{given_up:?}");
            };
            assert!(reason.contains("discovery did not answer"), "{reason}");
        }
        // Both requests gave up; the discovery they shared goes on and starts the watch.
        for _ in 0..200 {
            if index.lock().unwrap().contains_key(&widgets) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(index.lock().unwrap().contains_key(&widgets));
        assert_eq!(asked.load(Ordering::SeqCst), 1, "one discovery for both");
        // The next request waits only for the first LIST (never answered here).
        let waiting = index
            .select(&widgets, Some("ns1"), &selector, deadline)
            .await;
        let Err(Error::ObjectsUnavailable(reason)) = waiting else {
            panic!("{waiting:?}");
        };
        assert!(reason.contains("first list"), "{reason}");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
    }
}
