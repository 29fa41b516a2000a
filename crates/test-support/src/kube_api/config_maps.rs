//! ConfigMaps in the fake API server: changes recorded as watch events, GET and LIST with field
//! selectors, and watches answered as long polls from a resourceVersion.

use std::time::{Duration, Instant};

use http::{Method, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};

use super::{FakeApi, FakeCluster, list, not_found, query_param, respond, status};

impl FakeCluster {
    /// Creates or replaces the ConfigMap `namespace/name` with `data`, giving it the next
    /// resourceVersion and telling watches (`ADDED` or `MODIFIED`).
    pub fn put_config_map(&mut self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        self.resource_version += 1;
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"namespace": namespace, "name": name,
                         "resourceVersion": self.resource_version.to_string()},
            "data": data});
        let key = (namespace.to_owned(), name.to_owned());
        let kind = if self.config_maps.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.config_maps.insert(key, object.clone());
        self.record_config_map_event(namespace, name, kind, object);
    }

    /// Deletes the ConfigMap `namespace/name`, telling watches (`DELETED`); no-op if absent.
    pub fn delete_config_map(&mut self, namespace: &str, name: &str) {
        let Some(mut object) = self
            .config_maps
            .remove(&(namespace.to_owned(), name.to_owned()))
        else {
            return;
        };
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        self.record_config_map_event(namespace, name, "DELETED", object);
    }

    fn record_config_map_event(&mut self, namespace: &str, name: &str, kind: &str, object: Value) {
        self.config_map_events.push((
            self.resource_version,
            namespace.to_owned(),
            name.to_owned(),
            json!({"type": kind, "object": object}),
        ));
    }
}

/// A `fieldSelector` of the forms the API server supports for every kind: `metadata.name=X`
/// and `metadata.namespace=Y`, comma-separated (`=` or `==`).
struct FieldSelector(Vec<(String, String)>);

impl FieldSelector {
    fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').filter(|t| !t.is_empty()) {
            let (field, value) = term
                .split_once("==")
                .or_else(|| term.split_once('='))
                .filter(|(f, _)| !f.ends_with('!'))
                .ok_or_else(|| format!("invalid field selector: {term:?}"))?;
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(format!(
                    "field label not supported: {field} (the fake knows metadata.name and metadata.namespace)"
                ));
            }
            terms.push((field.to_owned(), value.to_owned()));
        }
        Ok(FieldSelector(terms))
    }

    fn matches(&self, namespace: &str, name: &str) -> bool {
        self.0.iter().all(|(field, value)| match field.as_str() {
            "metadata.name" => value == name,
            _ => value == namespace,
        })
    }
}

/// How often a ConfigMap watch looks for new events.
const WATCH_POLL: Duration = Duration::from_millis(20);

impl FakeApi {
    /// Answers a ConfigMap GET, LIST or WATCH in one namespace; `None` for any other request.
    pub(super) async fn config_maps(&self, method: &Method, path: &str) -> Option<Response<Body>> {
        let bare = path.split('?').next().unwrap_or_default();
        let segments: Vec<&str> = bare.trim_start_matches('/').split('/').collect();
        let (namespace, name) = match (method, segments.as_slice()) {
            (&Method::GET, ["api", "v1", "namespaces", ns, "configmaps"]) => (*ns, None),
            (&Method::GET, ["api", "v1", "namespaces", ns, "configmaps", name]) => {
                (*ns, Some(*name))
            }
            _ => return None,
        };
        let forbidden = || {
            status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "configmaps is forbidden: the fake forbids reading configmaps in the namespace \"{namespace}\""
                ),
            )
        };
        let selector =
            match FieldSelector::parse(&query_param(path, "fieldSelector").unwrap_or_default()) {
                Ok(selector) => selector,
                Err(message) => {
                    return Some(status(StatusCode::BAD_REQUEST, "BadRequest", message));
                }
            };
        let watch = query_param(path, "watch").is_some_and(|w| w == "true" || w == "1");
        if !watch {
            let Ok(cluster) = self.cluster.lock() else {
                return Some(status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "poisoned".to_owned(),
                ));
            };
            if cluster.forbid_config_maps {
                return Some(forbidden());
            }
            return Some(match name {
                Some(name) => match cluster
                    .config_maps
                    .get(&(namespace.to_owned(), name.to_owned()))
                {
                    Some(object) => respond(StatusCode::OK, object),
                    None => not_found(&format!("configmaps {name:?}")),
                },
                None => {
                    let items: Vec<Value> = cluster
                        .config_maps
                        .iter()
                        .filter(|((ns, n), _)| ns == namespace && selector.matches(ns, n))
                        .map(|(_, object)| object.clone())
                        .collect();
                    let mut answer = list("ConfigMapList", "v1", &items);
                    answer["metadata"]["resourceVersion"] =
                        json!(cluster.resource_version.to_string());
                    respond(StatusCode::OK, &answer)
                }
            });
        }
        // A watch: events after `resourceVersion`; without one (or "0"), the current objects
        // as ADDED first, as the API server starts such a watch.
        let since = query_param(path, "resourceVersion")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let timeout = query_param(path, "timeoutSeconds")
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let started = Instant::now();
        loop {
            {
                let Ok(cluster) = self.cluster.lock() else {
                    return Some(status(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalError",
                        "poisoned".to_owned(),
                    ));
                };
                if cluster.forbid_config_maps {
                    return Some(forbidden());
                }
                let wanted = |ns: &str, n: &str| ns == namespace && selector.matches(ns, n);
                let events: Vec<String> = if since == 0 {
                    cluster
                        .config_maps
                        .iter()
                        .filter(|((ns, n), _)| wanted(ns, n))
                        .map(|(_, object)| json!({"type": "ADDED", "object": object}).to_string())
                        .collect()
                } else {
                    cluster
                        .config_map_events
                        .iter()
                        .filter(|(version, ns, n, _)| *version > since && wanted(ns, n))
                        .map(|(_, _, _, event)| event.to_string())
                        .collect()
                };
                if !events.is_empty() {
                    let mut response =
                        Response::new(Body::from(format!("{}\n", events.join("\n")).into_bytes()));
                    *response.status_mut() = StatusCode::OK;
                    return Some(response);
                }
            }
            if timeout.is_some_and(|t| started.elapsed() >= t) {
                return Some(Response::new(Body::empty()));
            }
            tokio::time::sleep(WATCH_POLL).await;
        }
    }
}
