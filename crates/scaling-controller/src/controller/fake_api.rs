//! A fake Kubernetes API server for reconcile tests: it answers exactly the calls the
//! controller makes from a small in-memory state, and records every request (method, path with
//! query, body) so a test can assert the controller's traffic call by call.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

/// One request as the controller sent it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
}

impl Call {
    /// `"GET /api/v1/..."`, for compact assertions on the sequence of calls.
    pub(crate) fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// What the fake cluster holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cluster {
    /// `/scale` of `Deployment shop/checkout`, or `None` when the Deployment does not exist.
    pub(crate) scale: Option<Value>,
    /// Pods returned for the target's selector.
    pub(crate) pods: Vec<Value>,
    /// HorizontalPodAutoscalers in the namespace.
    pub(crate) hpas: Vec<Value>,
    /// ScalingPolicies in the namespace (besides the reconciled one).
    pub(crate) policies: Vec<Value>,
    /// Answers of the metrics APIs by path (without query string).
    pub(crate) metrics: BTreeMap<String, Value>,
    /// The reconciled ScalingPolicy, returned (with the applied status) from a status apply.
    pub(crate) policy: Option<Value>,
    /// Simulates another writer: the scale's resourceVersion changes once a metric is read.
    pub(crate) race_scale_after_metrics: bool,
}

/// The fake server: state plus the log of calls.
#[derive(Clone, Default)]
pub(crate) struct FakeApi {
    pub(crate) cluster: Arc<Mutex<Cluster>>,
    pub(crate) calls: Arc<Mutex<Vec<Call>>>,
}

fn respond(status: StatusCode, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::from(serde_json::to_vec(body).unwrap_or_default()));
    *response.status_mut() = status;
    response
}

fn not_found(what: &str) -> Response<Body> {
    respond(
        StatusCode::NOT_FOUND,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "NotFound",
                "message": format!("{what} not found"), "code": 404}),
    )
}

fn list(kind: &str, api_version: &str, items: &[Value]) -> Value {
    json!({"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items})
}

impl FakeApi {
    /// A kube client whose every request this fake answers; the fake serves until dropped.
    pub(crate) fn client(&self) -> kube::Client {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let response = fake.answer(request).await;
                send.send_response(response);
            }
        });
        kube::Client::new(service, "default")
    }

    /// The calls so far, as `METHOD path` lines.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.calls
            .lock()
            .map(|calls| calls.iter().map(Call::line).collect())
            .unwrap_or_default()
    }

    /// The body of the first call whose line starts with `prefix`.
    pub(crate) fn body_of(&self, prefix: &str) -> Option<Value> {
        let calls = self.calls.lock().ok()?;
        calls
            .iter()
            .find(|c| c.line().starts_with(prefix))
            .and_then(|c| c.body.clone())
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
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
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(Call {
                method: method.clone(),
                path: path.clone(),
                body: body.clone(),
            });
        }
        let Ok(mut cluster) = self.cluster.lock() else {
            return respond(StatusCode::INTERNAL_SERVER_ERROR, &json!({}));
        };
        let bare = path.split('?').next().unwrap_or_default().to_owned();
        match (method, bare.as_str()) {
            (Method::GET, "/apis/apps/v1/namespaces/shop/deployments/checkout/scale") => {
                match &cluster.scale {
                    Some(scale) => respond(StatusCode::OK, scale),
                    None => not_found("deployments.apps \"checkout\""),
                }
            }
            (Method::PATCH, "/apis/apps/v1/namespaces/shop/deployments/checkout/scale") => {
                let Some(scale) = cluster.scale.as_mut() else {
                    return not_found("deployments.apps \"checkout\"");
                };
                let sent_version = body
                    .as_ref()
                    .and_then(|b| b["metadata"]["resourceVersion"].as_str().map(str::to_owned));
                if sent_version.as_deref() != scale["metadata"]["resourceVersion"].as_str() {
                    return respond(
                        StatusCode::CONFLICT,
                        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict", "code": 409, "message": "the object has been modified"}),
                    );
                }
                if let Some(replicas) = body.as_ref().and_then(|b| b["spec"]["replicas"].as_i64()) {
                    scale["spec"]["replicas"] = json!(replicas);
                }
                respond(StatusCode::OK, scale)
            }
            (Method::GET, "/api/v1/namespaces/shop/pods") => {
                respond(StatusCode::OK, &list("PodList", "v1", &cluster.pods))
            }
            (Method::GET, "/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers") => {
                respond(
                    StatusCode::OK,
                    &list(
                        "HorizontalPodAutoscalerList",
                        "autoscaling/v2",
                        &cluster.hpas,
                    ),
                )
            }
            (Method::GET, "/apis/sextant.io/v1alpha1/namespaces/shop/scalingpolicies") => respond(
                StatusCode::OK,
                &list(
                    "ScalingPolicyList",
                    "sextant.io/v1alpha1",
                    &cluster.policies,
                ),
            ),
            (
                Method::PATCH,
                "/apis/sextant.io/v1alpha1/namespaces/shop/scalingpolicies/checkout/status",
            ) => {
                let Some(policy) = cluster.policy.as_mut() else {
                    return not_found("scalingpolicies \"checkout\"");
                };
                policy["status"] = body.map(|b| b["status"].clone()).unwrap_or_default();
                respond(StatusCode::OK, policy)
            }
            (Method::POST, "/apis/events.k8s.io/v1/namespaces/shop/events") => {
                respond(StatusCode::CREATED, &body.unwrap_or_default())
            }
            (Method::GET, metrics_path) if cluster.metrics.contains_key(metrics_path) => {
                if cluster.race_scale_after_metrics
                    && let Some(scale) = cluster.scale.as_mut()
                {
                    scale["metadata"]["resourceVersion"] = json!("8");
                }
                respond(StatusCode::OK, &cluster.metrics[metrics_path])
            }
            (_, other) => not_found(other),
        }
    }
}
