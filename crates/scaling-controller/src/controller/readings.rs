//! Reading a policy's metrics: Pods and Object metrics from custom.metrics.k8s.io, External
//! metrics by name from external.metrics.k8s.io, and raw External queries straight from the
//! store, confined to the policy's namespace. Each reading becomes a [`Metric`] for the decision
//! and a [`MetricStatus`] for the policy's status; a failure is recorded, never fatal.

use std::time::Duration;

use kube::Client;
use metrics_model::api::custom_metrics::v1beta2::MetricValueList;
use metrics_model::api::external_metrics::v1beta1::ExternalMetricValueList;
use metrics_model::association::GroupResource;
use metrics_model::{Quantity, Selector};
use metrics_store::MetricsStore;
use serde::de::DeserializeOwned;

use super::Context;
use crate::policy::{
    MetricIdentifier, MetricSourceType, MetricSpec, MetricStatus, MetricTarget, MetricTargetType,
};
use crate::recommend::{Metric, MetricSource, PodSamples, Target};
use crate::{Error, Result};

/// How long one metric read may take.
const READ_DEADLINE: Duration = Duration::from_secs(10);

/// One metric's reading for the decision and for the status.
pub(super) struct Reading {
    pub(super) metric: Metric,
    pub(super) status: MetricStatus,
}

fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            serializer.append_pair(key, value);
        }
    }
    match serializer.finish() {
        query if query.is_empty() => query,
        query => format!("?{query}"),
    }
}

fn metric_selector(metric: &MetricIdentifier) -> Result<Option<String>> {
    metric
        .selector
        .as_ref()
        .map(|s| Selector::from_label_selector(s).map(|s| s.to_string()))
        .transpose()
        .map_err(|e| Error::Metric(format!("metric {}: selector: {e}", metric.name)))
}

async fn get<T: DeserializeOwned>(client: &Client, path: String) -> Result<T> {
    let request = http::Request::get(&path)
        .body(Vec::new())
        .map_err(|e| Error::Metric(format!("GET {path}: {e}")))?;
    client
        .request::<T>(request)
        .await
        .map_err(|source| Error::Metric(format!("GET {path}: {}", describe_kube_error(&source))))
}

fn describe_kube_error(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

fn target_milli(target: &MetricTarget) -> Result<Target> {
    let (quantity, wrap): (_, fn(i64) -> Target) = match target.kind {
        MetricTargetType::Value => (target.value, Target::Value),
        MetricTargetType::AverageValue => (target.average_value, Target::AverageValue),
    };
    match quantity.map(|q| q.milli_value()) {
        Some(milli) if milli > 0 => Ok(wrap(milli)),
        _ => Err(Error::Metric(
            "the target must be a positive quantity".to_owned(),
        )),
    }
}

/// Reads every metric of a policy, in spec order.
pub(super) async fn read_all(
    ctx: &Context,
    namespace: &str,
    pod_selector: &str,
    metrics: &[MetricSpec],
) -> Vec<Reading> {
    let mut readings = Vec::with_capacity(metrics.len());
    for spec in metrics {
        readings.push(read_one(ctx, namespace, pod_selector, spec).await);
    }
    readings
}

async fn read_one(
    ctx: &Context,
    namespace: &str,
    pod_selector: &str,
    spec: &MetricSpec,
) -> Reading {
    let (name, result) = match (spec.kind, &spec.pods, &spec.object, &spec.external) {
        (MetricSourceType::Pods, Some(pods), _, _) => (
            pods.metric.name.clone(),
            read_pods(ctx, namespace, pod_selector, pods).await,
        ),
        (MetricSourceType::Object, _, Some(object), _) => (
            object.metric.name.clone(),
            read_object(ctx, namespace, object).await,
        ),
        (MetricSourceType::External, _, _, Some(external)) => {
            match (&external.metric, &external.query) {
                (Some(metric), _) => (
                    metric.name.clone(),
                    read_external(ctx, namespace, metric, &external.target).await,
                ),
                (None, Some(query)) => (
                    "query".to_owned(),
                    read_query(ctx, namespace, query, &external.target).await,
                ),
                (None, None) => (
                    "external".to_owned(),
                    Err(Error::Metric(
                        "an External metric needs metric or query".to_owned(),
                    )),
                ),
            }
        }
        _ => (
            "unknown".to_owned(),
            Err(Error::Metric(format!(
                "the {:?} metric has no matching source",
                spec.kind
            ))),
        ),
    };
    let status = |current: Option<Quantity>, error: Option<String>| MetricStatus {
        kind: spec.kind,
        name: name.clone(),
        current,
        proposed_replicas: None,
        error,
    };
    match result {
        Ok((source, current)) => Reading {
            status: status(Some(current), None),
            metric: Metric {
                source,
                error: None,
            },
        },
        Err(error) => {
            let message = error.to_string();
            // The source is a placeholder: `recommend` does not look at it when `error` is set.
            let source = MetricSource::External {
                target: Target::Value(1),
                value: 0,
            };
            Reading {
                status: status(None, Some(message.clone())),
                metric: Metric {
                    source,
                    error: Some(message),
                },
            }
        }
    }
}

type Read = Result<(MetricSource, Quantity)>;

async fn read_pods(
    ctx: &Context,
    namespace: &str,
    pod_selector: &str,
    pods: &crate::policy::PodsMetricSource,
) -> Read {
    let Target::AverageValue(target_average) = target_milli(&pods.target)? else {
        return Err(Error::Metric(
            "a Pods metric needs an AverageValue target".to_owned(),
        ));
    };
    let query = query_string(&[
        ("labelSelector", Some(pod_selector.to_owned())),
        ("metricLabelSelector", metric_selector(&pods.metric)?),
    ]);
    let path = format!(
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/pods/*/{}{query}",
        pods.metric.name
    );
    let list: MetricValueList = get(&ctx.client, path).await?;
    let samples: Vec<(String, i64)> = list
        .items
        .iter()
        .filter_map(|item| {
            Some((
                item.described_object.name.clone()?,
                item.value.milli_value(),
            ))
        })
        .collect();
    if samples.is_empty() {
        return Err(Error::Metric(format!(
            "metric {} has no samples for the target's pods",
            pods.metric.name
        )));
    }
    let average = samples.iter().map(|(_, v)| i128::from(*v)).sum::<i128>() / samples.len() as i128;
    let current = Quantity::from_milli(i64::try_from(average).unwrap_or(i64::MAX));
    Ok((
        MetricSource::Pods {
            target_average,
            samples: PodSamples::new(samples),
        },
        current,
    ))
}

async fn read_object(
    ctx: &Context,
    namespace: &str,
    object: &crate::policy::ObjectMetricSource,
) -> Read {
    let target = target_milli(&object.target)?;
    let described = &object.described_object;
    let group = described
        .api_version
        .split_once('/')
        .map_or("", |(group, _)| group);
    let resource = GroupResource::for_kind(&described.kind, group);
    let query = query_string(&[("metricLabelSelector", metric_selector(&object.metric)?)]);
    let path = format!(
        "/apis/custom.metrics.k8s.io/v1beta2/namespaces/{namespace}/{resource}/{}/{}{query}",
        described.name, object.metric.name
    );
    let list: MetricValueList = get(&ctx.client, path).await?;
    let value = list.items.first().map(|item| item.value).ok_or_else(|| {
        Error::Metric(format!(
            "metric {} has no value for {}/{}",
            object.metric.name, described.kind, described.name
        ))
    })?;
    Ok((
        MetricSource::Object {
            target,
            value: value.milli_value(),
        },
        value,
    ))
}

/// External values are summed over the items, as the HPA sums them.
fn external_source(target: Target, values: impl Iterator<Item = i64>) -> (MetricSource, Quantity) {
    let total = values.fold(0i64, i64::saturating_add);
    (
        MetricSource::External {
            target,
            value: total,
        },
        Quantity::from_milli(total),
    )
}

async fn read_external(
    ctx: &Context,
    namespace: &str,
    metric: &MetricIdentifier,
    target: &MetricTarget,
) -> Read {
    let target = target_milli(target)?;
    let query = query_string(&[("labelSelector", metric_selector(metric)?)]);
    let path = format!(
        "/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{}{query}",
        metric.name
    );
    let list: ExternalMetricValueList = get(&ctx.client, path).await?;
    if list.items.is_empty() {
        return Err(Error::Metric(format!(
            "external metric {} has no series",
            metric.name
        )));
    }
    Ok(external_source(
        target,
        list.items.iter().map(|item| item.value.milli_value()),
    ))
}

async fn read_query(ctx: &Context, namespace: &str, query: &str, target: &MetricTarget) -> Read {
    let target = target_milli(target)?;
    let store = ctx.store.as_ref().ok_or_else(|| {
        Error::Metric("raw External queries need the controller's --prometheus-url".to_owned())
    })?;
    let query = if ctx.config.allow_cross_namespace_queries.contains(namespace) {
        query.to_owned()
    } else {
        metrics_model::promql::scope::confine_to_namespace(query, namespace)
            .map_err(|e| Error::Metric(format!("query: {e}")))?
    };
    let samples = store
        .instant_query(&query, None, READ_DEADLINE)
        .await
        .map_err(|e| Error::Metric(format!("query: {e}")))?;
    if samples.is_empty() {
        return Err(Error::Metric(format!("query returned no series: {query}")));
    }
    let values = samples
        .iter()
        .map(|sample| Quantity::from_f64(sample.value).map(|q| q.milli_value()))
        .collect::<std::result::Result<Vec<i64>, _>>()
        .map_err(|e| Error::Metric(format!("query: {e}")))?;
    Ok(external_source(target, values.into_iter()))
}
