//! A fake Kubernetes API server for controller and adapter tests and benchmarks: it answers the
//! calls Sextant makes from an in-memory cluster, with the API server's semantics where they
//! matter (label and field selectors, resourceVersion preconditions, 404 and 409 Status bodies,
//! watches that resume from a resourceVersion), and records every request (method, path with
//! query, body) so a test can assert the traffic call by call.
//!
//! ConfigMaps are the one kind whose watches report changes: a watch is answered, as a long
//! poll, with the events after its `resourceVersion` as soon as there are some (then the
//! response ends and the client watches again, as after an API server's watch timeout). Other
//! watches stay open with nothing to report.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

mod config_maps;
mod reviews;

pub use reviews::{ReviewFailures, ReviewFault};

/// One request as the client sent it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The HTTP method.
    pub method: Method,
    /// The path with its query string.
    pub path: String,
    /// The JSON body, if there was one.
    pub body: Option<Value>,
}

impl Call {
    /// `"GET /api/v1/..."`, for compact assertions on the sequence of calls.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A namespace and a name.
pub type Key = (String, String);

/// What the fake cluster holds.
#[derive(Debug, Clone, Default)]
pub struct FakeCluster {
    /// `/scale` of each workload by namespace and name, whatever its resource.
    pub scales: BTreeMap<Key, Value>,
    /// Pods by namespace; LISTs filter them with the request's `labelSelector`.
    pub pods: BTreeMap<String, Vec<Value>>,
    /// HorizontalPodAutoscalers by namespace.
    pub hpas: BTreeMap<String, Vec<Value>>,
    /// ScalingPolicies; a status apply replaces the stored status.
    pub policies: BTreeMap<Key, Value>,
    /// Answers of the metrics APIs by path (without query string).
    pub metrics: BTreeMap<String, Value>,
    /// Leases (coordination.k8s.io/v1).
    pub leases: BTreeMap<Key, Value>,
    /// Discovery documents (`APIResourceList`) by `group/version`, for `GET /apis/GROUP/VERSION`.
    pub discovery: BTreeMap<String, Value>,
    /// Who may do what, as `(user, verb, resource, subresource)`: a SubjectAccessReview is
    /// allowed when an entry matches its user and resource attributes exactly.
    pub allowed: Vec<(String, String, String, String)>,
    /// How SubjectAccessReviews fail, if they do ([`ReviewFailures::none`] by default).
    pub subject_access_review_failures: ReviewFailures,
    /// Bearer tokens a TokenReview authenticates: token → the review's `status.user`
    /// (`{"username": …, "groups": […], "extra": {…}}`); other tokens are not authenticated.
    pub tokens: BTreeMap<String, Value>,
    /// How TokenReviews fail, if they do ([`ReviewFailures::none`] by default).
    pub token_review_failures: ReviewFailures,
    /// ConfigMaps by namespace and name. Change them with [`FakeCluster::put_config_map`] and
    /// [`FakeCluster::delete_config_map`], so that watches see the change.
    pub config_maps: BTreeMap<Key, Value>,
    /// Makes every ConfigMap GET, LIST and WATCH fail with a 403 `Status`, as RBAC does when
    /// the caller may not read them.
    pub forbid_config_maps: bool,
    /// Every ConfigMap change as (resourceVersion, namespace, name, watch event), in order.
    config_map_events: Vec<(u64, String, String, Value)>,
    /// The last resourceVersion given to a ConfigMap.
    resource_version: u64,
    /// Simulates another writer: every scale's resourceVersion changes once a metric is read.
    pub race_scale_after_metrics: bool,
}

/// The fake server: the cluster plus the log of calls.
#[derive(Clone)]
pub struct FakeApi {
    /// The cluster state, shared with the serving task.
    pub cluster: Arc<Mutex<FakeCluster>>,
    calls: Arc<Mutex<Vec<Call>>>,
    record: bool,
}

impl Default for FakeApi {
    fn default() -> Self {
        FakeApi {
            cluster: Arc::default(),
            calls: Arc::default(),
            record: true,
        }
    }
}

fn respond(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *response.status_mut() = status;
    response
}

fn status(code: StatusCode, reason: &str, message: String) -> Response<Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "reason": reason, "message": message, "code": code.as_u16()});
    respond(code, &body)
}

fn not_found(what: &str) -> Response<Body> {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!("{what} not found"),
    )
}

fn conflict() -> Response<Body> {
    status(
        StatusCode::CONFLICT,
        "Conflict",
        "the object has been modified; please apply your changes to the latest version".to_owned(),
    )
}

fn list(kind: &str, api_version: &str, items: &[Value]) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items})
}

fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object["metadata"]["labels"]
        .as_object()
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn bump(version: &Value) -> Value {
    json!(
        (version
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1)
        .to_string()
    )
}

impl FakeApi {
    /// A fake that keeps no log of calls, for benchmarks that make millions of them.
    pub fn without_call_log() -> Self {
        FakeApi {
            record: false,
            ..FakeApi::default()
        }
    }

    /// A kube client whose every request this fake answers; requires a Tokio runtime.
    pub fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let fake = fake.clone();
                tokio::spawn(async move { send.send_response(fake.answer(request).await) });
            }
        });
        kube::Client::new(service, "default")
    }

    /// The calls so far, as `METHOD path` lines.
    pub fn lines(&self) -> Vec<String> {
        self.calls
            .lock()
            .map(|calls| calls.iter().map(Call::line).collect())
            .unwrap_or_default()
    }

    /// The body of the first call whose line starts with `prefix`.
    pub fn body_of(&self, prefix: &str) -> Option<Value> {
        let calls = self.calls.lock().ok()?;
        calls
            .iter()
            .find(|c| c.line().starts_with(prefix))
            .and_then(|c| c.body.clone())
    }

    /// The bodies of every call whose line starts with `prefix`, in order.
    pub fn calls_to(&self, prefix: &str) -> Vec<Value> {
        self.calls
            .lock()
            .map(|calls| {
                calls
                    .iter()
                    .filter(|c| c.line().starts_with(prefix))
                    .filter_map(|c| c.body.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Answers one request from the cluster state.
    pub async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
        // kube's metadata-only watches ask for `PartialObjectMetadataList` by Accept header.
        let metadata_only = request
            .headers()
            .get(http::header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("as=PartialObjectMetadataList"));
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let bytes = request
            .into_body()
            .collect_bytes()
            .await
            .unwrap_or_default();
        let body = serde_json::from_slice::<Value>(&bytes).ok();
        if self.record
            && let Ok(mut calls) = self.calls.lock()
        {
            calls.push(Call {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
            });
        }
        if let Some(answer) = self.config_maps(&method, &path).await {
            return answer;
        }
        if let Some(answer) = self.review_fault(&method, &path).await {
            return answer;
        }
        if query_param(&path, "watch").is_some_and(|w| w == "true" || w == "1") {
            // A watch with nothing to report stays open, as the API server's does; the client
            // gives up on it when it is dropped.
            std::future::pending::<()>().await;
        }
        let Ok(mut cluster) = self.cluster.lock() else {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "poisoned".to_owned(),
            );
        };
        let bare = path.split('?').next().unwrap_or_default();
        if let Some(answer) = cluster.metrics.get(bare).cloned() {
            if cluster.race_scale_after_metrics {
                for scale in cluster.scales.values_mut() {
                    scale["metadata"]["resourceVersion"] =
                        bump(&scale["metadata"]["resourceVersion"]);
                }
            }
            return respond(StatusCode::OK, &answer);
        }
        let segments: Vec<&str> = bare.trim_start_matches('/').split('/').collect();
        let key = |ns: &str, name: &str| (ns.to_owned(), name.to_owned());
        match (method, segments.as_slice()) {
            (Method::GET, ["apis", group, version]) => {
                match cluster.discovery.get(&format!("{group}/{version}")) {
                    Some(document) => respond(StatusCode::OK, document),
                    None => not_found(&format!("{group}/{version}")),
                }
            }
            (Method::GET, ["apis", _, _, "namespaces", ns, resource, name, "scale"]) => {
                match cluster.scales.get(&key(ns, name)) {
                    Some(scale) => respond(StatusCode::OK, scale),
                    None => not_found(&format!("{resource} {name:?}")),
                }
            }
            (Method::PATCH, ["apis", _, _, "namespaces", ns, _, name, "scale"]) => {
                let Some(scale) = cluster.scales.get_mut(&key(ns, name)) else {
                    return not_found(&format!("deployments.apps {name:?}"));
                };
                let sent = body
                    .as_ref()
                    .map(|b| b["metadata"]["resourceVersion"].clone())
                    .unwrap_or(Value::Null);
                if !sent.is_null() && sent != scale["metadata"]["resourceVersion"] {
                    return conflict();
                }
                if let Some(replicas) = body.as_ref().and_then(|b| b["spec"]["replicas"].as_i64()) {
                    scale["spec"]["replicas"] = json!(replicas);
                    scale["metadata"]["resourceVersion"] =
                        bump(&scale["metadata"]["resourceVersion"]);
                }
                respond(StatusCode::OK, scale)
            }
            (Method::GET, ["api", "v1", "namespaces", ns, "pods"]) => {
                let selector = query_param(&path, "labelSelector").unwrap_or_default();
                let Ok(selector) = metrics_model::Selector::parse(&selector) else {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        format!("unable to parse requirement: {selector}"),
                    );
                };
                let pods: Vec<Value> = cluster
                    .pods
                    .get(*ns)
                    .into_iter()
                    .flatten()
                    .filter(|pod| selector.matches(&labels_of(pod)))
                    .cloned()
                    .collect();
                respond(StatusCode::OK, &list("PodList", "v1", &pods))
            }
            (Method::GET, ["apis", "sextant.io", "v1alpha1", "scalingpolicies"]) => {
                // The initial LIST of the controller's cluster-wide watch of ScalingPolicies.
                let policies: Vec<Value> = cluster.policies.values().cloned().collect();
                respond(
                    StatusCode::OK,
                    &list("ScalingPolicyList", "sextant.io/v1alpha1", &policies),
                )
            }
            (Method::GET, ["api", "v1", "pods"]) => {
                // The initial LIST of a cluster-wide pod watch (reflector), whole or metadata only.
                let pods: Vec<Value> = cluster.pods.values().flatten().cloned().collect();
                if metadata_only {
                    let metas: Vec<Value> = pods
                        .iter()
                        .map(|pod| {
                            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                          "metadata": pod["metadata"]})
                        })
                        .collect();
                    return respond(
                        StatusCode::OK,
                        &list("PartialObjectMetadataList", "meta.k8s.io/v1", &metas),
                    );
                }
                respond(StatusCode::OK, &list("PodList", "v1", &pods))
            }
            (
                Method::GET,
                [
                    "apis",
                    "autoscaling",
                    "v2",
                    "namespaces",
                    ns,
                    "horizontalpodautoscalers",
                ],
            ) => {
                let hpas = cluster.hpas.get(*ns).cloned().unwrap_or_default();
                respond(
                    StatusCode::OK,
                    &list("HorizontalPodAutoscalerList", "autoscaling/v2", &hpas),
                )
            }
            (
                Method::GET,
                [
                    "apis",
                    "sextant.io",
                    "v1alpha1",
                    "namespaces",
                    ns,
                    "scalingpolicies",
                ],
            ) => {
                let policies: Vec<Value> = cluster
                    .policies
                    .iter()
                    .filter(|((n, _), _)| n == ns)
                    .map(|(_, p)| p.clone())
                    .collect();
                respond(
                    StatusCode::OK,
                    &list("ScalingPolicyList", "sextant.io/v1alpha1", &policies),
                )
            }
            (
                Method::PATCH,
                [
                    "apis",
                    "sextant.io",
                    "v1alpha1",
                    "namespaces",
                    ns,
                    "scalingpolicies",
                    name,
                    "status",
                ],
            ) => {
                let Some(policy) = cluster.policies.get_mut(&key(ns, name)) else {
                    return not_found(&format!("scalingpolicies.sextant.io {name:?}"));
                };
                policy["status"] = body.map(|b| b["status"].clone()).unwrap_or_default();
                respond(StatusCode::OK, policy)
            }
            (Method::POST, ["apis", "authorization.k8s.io", "v1", "subjectaccessreviews"]) => {
                cluster.subject_access_review(body.unwrap_or_default())
            }
            (Method::POST, ["apis", "authentication.k8s.io", "v1", "tokenreviews"]) => {
                cluster.token_review(body.unwrap_or_default())
            }
            (Method::POST, ["apis", "events.k8s.io", "v1", "namespaces", _, "events"]) => {
                respond(StatusCode::CREATED, &body.unwrap_or_default())
            }
            (
                Method::GET,
                [
                    "apis",
                    "coordination.k8s.io",
                    "v1",
                    "namespaces",
                    ns,
                    "leases",
                    name,
                ],
            ) => match cluster.leases.get(&key(ns, name)) {
                Some(lease) => respond(StatusCode::OK, lease),
                None => not_found(&format!("leases.coordination.k8s.io {name:?}")),
            },
            (
                Method::POST,
                [
                    "apis",
                    "coordination.k8s.io",
                    "v1",
                    "namespaces",
                    ns,
                    "leases",
                ],
            ) => {
                let mut lease = body.unwrap_or_default();
                let name = lease["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                if cluster.leases.contains_key(&key(ns, &name)) {
                    return conflict();
                }
                lease["metadata"]["resourceVersion"] = json!("1");
                cluster.leases.insert(key(ns, &name), lease.clone());
                respond(StatusCode::CREATED, &lease)
            }
            (
                Method::PUT,
                [
                    "apis",
                    "coordination.k8s.io",
                    "v1",
                    "namespaces",
                    ns,
                    "leases",
                    name,
                ],
            ) => {
                let Some(stored) = cluster.leases.get_mut(&key(ns, name)) else {
                    return not_found(&format!("leases.coordination.k8s.io {name:?}"));
                };
                let mut lease = body.unwrap_or_default();
                if lease["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
                    return conflict();
                }
                lease["metadata"]["resourceVersion"] = bump(&stored["metadata"]["resourceVersion"]);
                *stored = lease.clone();
                respond(StatusCode::OK, &lease)
            }
            (_, _) => not_found(bare),
        }
    }
}
