//! The HTTP face of the adapter: an axum [`Router`] serving the discovery documents, both
//! custom-metrics versions, external metrics, health probes and minimal OpenAPI documents, with
//! every error answered as a Kubernetes `Status` whose `code` is the HTTP status.
//!
//! Plain HTTP, with no access control of its own: [`crate::serve`] puts TLS and authentication
//! in front of it; served alone it must not be exposed beyond loopback. It never redirects.
//! [`dispatch`] is how the adapter asks it: the HPA's request (a plainly written custom-metrics
//! value path) is answered by the handler's own function without routing, the rest routed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Extension, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{APIGroupList, Status};
use metrics_model::api::custom_metrics::{self, v1beta1};
use metrics_model::api::discovery::{
    api_group, api_resource_list, custom_metric_resource, external_metric_resource,
};
use metrics_model::api::external_metrics;
use metrics_model::api::list_json;
use metrics_model::api::status::{StatusReason, failure};
use metrics_model::association::GroupResource;
use metrics_store::MetricsStore;
use serde::Serialize;
use tower_service::Service;
use tracing::Instrument;

use crate::provider::{CustomRequest, ExternalRequest, Provider};
use crate::registry::is_namespaced;
use crate::{Error, Result};

/// The store deadline of a request when none is configured (`--query-timeout`).
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The custom-metrics versions served, preferred first.
const CUSTOM_VERSIONS: &[&str] = &["v1beta2", "v1beta1"];
/// The external-metrics versions served.
const EXTERNAL_VERSIONS: &[&str] = &["v1beta1"];

/// When a request arrived, set by whatever served it before [`dispatch`] (the HTTPS front's
/// authentication and authorization), so its store query gets what is left of the
/// `query_timeout` counted from then; a request without it gets the whole of it.
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub Instant);

/// What every request handler shares: the provider and the per-request store deadline.
#[derive(Debug)]
pub struct Server<S> {
    provider: Provider<S>,
    query_timeout: Duration,
    terminating: AtomicBool,
}

impl<S: MetricsStore> Server<S> {
    /// A server answering from `provider`, giving each request's store query `query_timeout`.
    pub fn new(provider: Provider<S>, query_timeout: Duration) -> Self {
        Server {
            provider,
            query_timeout,
            terminating: AtomicBool::new(false),
        }
    }

    /// What is left of the request's deadline for its store query: `query_timeout` counted
    /// from its arrival, when known.
    fn deadline(&self, arrived: Option<Arrived>) -> Duration {
        arrived.map_or(self.query_timeout, |Arrived(at)| {
            self.query_timeout.saturating_sub(at.elapsed())
        })
    }

    /// From now on `/readyz` fails (everything else is still served): the process is shutting
    /// down and the Service should stop sending requests here.
    pub fn begin_termination(&self) {
        self.terminating.store(true, Ordering::Relaxed);
    }

    /// The provider, for the relist task.
    pub fn provider(&self) -> &Provider<S> {
        &self.provider
    }
}

/// The router serving every path of the adapter (plain HTTP; see the module documentation).
pub fn router<S: MetricsStore + 'static>(server: Arc<Server<S>>) -> Router {
    Router::new()
        .route("/apis", get(groups))
        .route("/apis/custom.metrics.k8s.io", get(custom_group))
        .route(
            "/apis/custom.metrics.k8s.io/{version}",
            get(custom_resources::<S>),
        )
        .route(
            "/apis/custom.metrics.k8s.io/{version}/{*rest}",
            get(custom_values::<S>),
        )
        .route("/apis/external.metrics.k8s.io", get(external_group))
        .route(
            "/apis/external.metrics.k8s.io/{version}",
            get(external_resources::<S>),
        )
        .route(
            "/apis/external.metrics.k8s.io/{version}/namespaces/{namespace}/{metric}",
            get(external_values::<S>),
        )
        .route("/healthz", get(alive))
        .route("/livez", get(alive))
        .route("/readyz", get(ready::<S>))
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_v3))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(server)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if self.reason().code() >= 500 {
            tracing::warn!(error = %self, "request failed");
        }
        status_response(&status)
    }
}

/// A 200 answer with a JSON body.
fn json_response<T: Serialize>(body: &T) -> Response {
    json_with(StatusCode::OK, body)
}

/// A `Status` answer whose HTTP status is its `code`.
fn status_response(status: &Status) -> Response {
    let code = status
        .code
        .and_then(|c| u16::try_from(c).ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_with(code, status)
}

fn json_with<T: Serialize>(code: StatusCode, body: &T) -> Response {
    encoded(code, serde_json::to_vec(body))
}

/// A JSON answer with `code`, or a 500 `Status` if the body could not be encoded.
fn encoded(code: StatusCode, body: serde_json::Result<Vec<u8>>) -> Response {
    match body {
        // Made directly: every metric value is answered here, and axum's generic response
        // parts are several times the code (the adapter's answers run with cold caches).
        Ok(bytes) => {
            let mut response = Response::new(axum::body::Body::from(bytes));
            *response.status_mut() = code;
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            serde_json::json!({
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "InternalError",
                "code": 500,
                "message": format!("cannot encode the answer: {error}"),
            })
            .to_string(),
        )
            .into_response(),
    }
}

async fn groups() -> Response {
    json_response(&APIGroupList {
        groups: vec![
            api_group(custom_metrics::GROUP, CUSTOM_VERSIONS),
            api_group(external_metrics::GROUP, EXTERNAL_VERSIONS),
        ],
    })
}

async fn custom_group() -> Response {
    json_response(&api_group(custom_metrics::GROUP, CUSTOM_VERSIONS))
}

async fn external_group() -> Response {
    json_response(&api_group(external_metrics::GROUP, EXTERNAL_VERSIONS))
}

async fn custom_resources<S: MetricsStore>(
    State(server): State<Arc<Server<S>>>,
    Segments(version): Segments<String>,
    uri: Uri,
) -> Result<Response> {
    if !CUSTOM_VERSIONS.contains(&version.as_str()) {
        return Err(no_such_path(&uri));
    }
    let catalog = server.provider.registry().catalog();
    let resources = catalog
        .custom_metrics()
        .map(|(resource, metric)| custom_metric_resource(resource, metric, is_namespaced(resource)))
        .collect();
    let group_version = format!("{}/{version}", custom_metrics::GROUP);
    Ok(json_response(&api_resource_list(&group_version, resources)))
}

async fn external_resources<S: MetricsStore>(
    State(server): State<Arc<Server<S>>>,
    Segments(version): Segments<String>,
    uri: Uri,
) -> Result<Response> {
    if !EXTERNAL_VERSIONS.contains(&version.as_str()) {
        return Err(no_such_path(&uri));
    }
    let catalog = server.provider.registry().catalog();
    let resources = catalog
        .external_metrics()
        .map(external_metric_resource)
        .collect();
    let group_version = format!("{}/{version}", external_metrics::GROUP);
    Ok(json_response(&api_resource_list(&group_version, resources)))
}

/// The parts of a custom-metrics value path after `/apis/custom.metrics.k8s.io/<version>/`.
#[derive(Debug, PartialEq, Eq)]
struct ValuePath<'a> {
    namespace: Option<&'a str>,
    resource: GroupResource,
    name: &'a str,
    metric: &'a str,
}

/// Parses `namespaces/{ns}/{resource}/{name}/{metric}`, `namespaces/{ns}/metrics/{metric}`
/// (the namespace's own metric) and `{resource}/{name}/{metric}` (root-scoped objects).
fn parse_value_path(rest: &str) -> Option<ValuePath<'_>> {
    // At most five segments, none empty; kept on the stack.
    let mut segments = [""; 5];
    let mut count = 0;
    for segment in rest.split('/') {
        if segment.is_empty() || count == segments.len() {
            return None;
        }
        segments[count] = segment;
        count += 1;
    }
    let path = match &segments[..count] {
        ["namespaces", name, "metrics", metric] => ValuePath {
            namespace: None,
            resource: GroupResource::new("namespaces", ""),
            name,
            metric,
        },
        ["namespaces", namespace, resource, name, metric] => ValuePath {
            namespace: Some(namespace),
            resource: GroupResource::parse(resource).ok()?,
            name,
            metric,
        },
        [resource, name, metric] => ValuePath {
            namespace: None,
            resource: GroupResource::parse(resource).ok()?,
            name,
            metric,
        },
        _ => return None,
    };
    // A namespaced resource is only served inside a namespace, a root-scoped one only outside.
    (path.namespace.is_some() == is_namespaced(&path.resource)).then_some(path)
}

/// Path parameters, percent-decoded by axum; parameters that cannot be decoded (not UTF-8)
/// are a 400 `Status` like every other error, not axum's plain-text rejection.
struct Segments<T>(T);

impl<T, S> FromRequestParts<S> for Segments<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(segments)) => Ok(Segments(segments)),
            Err(rejection) => Err(Error::MalformedPath {
                path: parts.uri.path().to_owned(),
                reason: rejection.body_text(),
            }),
        }
    }
}

/// The value of query parameter `name`, if given.
fn parameter(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn custom_values<S: MetricsStore + 'static>(
    State(server): State<Arc<Server<S>>>,
    arrived: Option<Extension<Arrived>>,
    Segments((version, rest)): Segments<(String, String)>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Result<Response> {
    if !CUSTOM_VERSIONS.contains(&version.as_str()) {
        return Err(no_such_path(&uri));
    }
    let path = parse_value_path(&rest).ok_or_else(|| no_such_path(&uri))?;
    let deadline = server.deadline(arrived.map(|Extension(arrived)| arrived));
    custom_answer(&server, &version, &path, query.as_deref(), deadline).await
}

/// Answers `request` as `router` does (built by [`router`] over the same `server`): a `GET`
/// of a custom-metrics value path written plainly, every HPA's request, straight
/// ([`plain_custom_value`]), anything else through the router.
pub async fn dispatch<S, B>(
    server: &Server<S>,
    router: &Router,
    request: axum::http::Request<B>,
) -> Response
where
    S: MetricsStore + 'static,
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let deadline = server.deadline(request.extensions().get::<Arrived>().copied());
    if let Some(response) = plain_custom_value(server, &method, &uri, deadline).await {
        return response;
    }
    match router
        .clone()
        .call(request.map(axum::body::Body::new))
        .await
    {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

/// The router's answer to a `GET` of a custom-metrics value path written plainly (no
/// percent-encoding), made without routing: the same answer, for a fraction of the work (the
/// router's matching, path extraction and response mapping). `None` for any other request.
async fn plain_custom_value<S: MetricsStore + 'static>(
    server: &Server<S>,
    method: &axum::http::Method,
    uri: &Uri,
    deadline: Duration,
) -> Option<Response> {
    if method != axum::http::Method::GET {
        return None;
    }
    let (version, rest) = uri.path().strip_prefix(CUSTOM_PREFIX)?.split_once('/')?;
    if !CUSTOM_VERSIONS.contains(&version) || rest.contains('%') {
        return None;
    }
    let path = parse_value_path(rest)?;
    Some(
        custom_answer(server, version, &path, uri.query(), deadline)
            .await
            .into_response(),
    )
}

/// Where every custom-metrics path starts.
const CUSTOM_PREFIX: &str = "/apis/custom.metrics.k8s.io/";

/// The custom-metrics answer in `version` for `path`, with the raw `query` string, its store
/// query given `deadline`.
async fn custom_answer<S: MetricsStore + 'static>(
    server: &Server<S>,
    version: &str,
    path: &ValuePath<'_>,
    query: Option<&str>,
    deadline: Duration,
) -> Result<Response> {
    let label_selector = parameter(query, "labelSelector");
    let metric_label_selector = parameter(query, "metricLabelSelector");
    let request = CustomRequest {
        namespace: path.namespace,
        resource: &path.resource,
        name: path.name,
        metric: path.metric,
        label_selector: label_selector.as_deref(),
        metric_label_selector: metric_label_selector.as_deref(),
    };
    let span = tracing::debug_span!(
        "custom_metric",
        namespace = path.namespace.unwrap_or_default(),
        resource = %path.resource,
        name = path.name,
        metric = path.metric,
    );
    let answer = server
        .provider
        .custom(&request, deadline)
        .instrument(span)
        .await?;
    Ok(match version {
        "v1beta1" => json_response(&v1beta1::MetricValueList::from(answer.to_list())),
        // The HPA's version: written straight from the store's samples, the same bytes as
        // serde's.
        _ => encoded(
            StatusCode::OK,
            list_json::write(&answer.shape, answer.rows()),
        ),
    })
}

async fn external_values<S: MetricsStore + 'static>(
    State(server): State<Arc<Server<S>>>,
    arrived: Option<Extension<Arrived>>,
    Segments((version, namespace, metric)): Segments<(String, String, String)>,
    RawQuery(query): RawQuery,
    uri: Uri,
) -> Result<Response> {
    // axum matches an empty segment (`namespaces//metric`) as an empty parameter.
    if !EXTERNAL_VERSIONS.contains(&version.as_str()) || namespace.is_empty() || metric.is_empty() {
        return Err(no_such_path(&uri));
    }
    let label_selector = parameter(query.as_deref(), "labelSelector");
    let request = ExternalRequest {
        namespace: &namespace,
        metric: &metric,
        label_selector: label_selector.as_deref(),
    };
    let span = tracing::debug_span!("external_metric", namespace = %namespace, metric = %metric);
    let list = server
        .provider
        .external(
            &request,
            server.deadline(arrived.map(|Extension(arrived)| arrived)),
        )
        .instrument(span)
        .await?;
    Ok(json_response(&list))
}

async fn alive() -> &'static str {
    "ok"
}

/// Ready once a relist succeeded recently, and not once termination began
/// ([`Server::begin_termination`]); a configuration file that failed to reload is reported in
/// the body but does not withdraw readiness (see [`crate::reload`]).
async fn ready<S: MetricsStore>(State(server): State<Arc<Server<S>>>) -> Response {
    let registry = server.provider.registry();
    let warning = registry
        .config_problem()
        .map(|problem| {
            format!(
                "\nwarning: the configuration file was not reloaded ({problem}); \
                 serving the last good configuration"
            )
        })
        .unwrap_or_default();
    if server.terminating.load(Ordering::Relaxed) {
        status_response(&failure(
            StatusReason::ServiceUnavailable,
            "not ready: shutting down".to_owned(),
        ))
    } else if registry.is_ready() {
        format!("ok{warning}").into_response()
    } else {
        status_response(&failure(
            StatusReason::ServiceUnavailable,
            format!(
                "not ready: no successful metric discovery (relist) within three relist intervals{warning}"
            ),
        ))
    }
}

async fn openapi_v2() -> Response {
    json_response(&serde_json::json!({
        "swagger": "2.0",
        "info": {"title": "sextant-adapter", "version": env!("CARGO_PKG_VERSION")},
        "paths": {},
    }))
}

async fn openapi_v3() -> Response {
    json_response(&serde_json::json!({"paths": {}}))
}

fn no_such_path(uri: &Uri) -> Error {
    Error::NoRoute {
        path: uri.path().to_owned(),
    }
}

async fn no_route(uri: Uri) -> Error {
    no_such_path(&uri)
}

async fn method_not_allowed() -> Response {
    status_response(&failure(
        StatusReason::MethodNotAllowed,
        "only GET is served",
    ))
}

#[cfg(test)]
mod tests;
