use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::custom_metrics::{v1beta1, v1beta2};
use super::discovery::{
    api_group, api_resource_list, custom_metric_resource, external_metric_resource,
};
use super::external_metrics::v1beta1 as external;
use super::status::{StatusReason, failure, failure_for};
use crate::association::GroupResource;
use crate::{Quantity, Selector};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn at(text: &str) -> Result<Time, jiff::Error> {
    Ok(Time(text.parse()?))
}

fn pod_value() -> Result<v1beta2::MetricValue, Box<dyn std::error::Error>> {
    Ok(v1beta2::MetricValue {
        described_object: ObjectReference {
            kind: Some("Pod".into()),
            namespace: Some("shop".into()),
            name: Some("checkout-1".into()),
            api_version: Some("/v1".into()),
            ..ObjectReference::default()
        },
        metric: v1beta2::MetricIdentifier {
            name: "http_requests_per_second".into(),
            selector: None,
        },
        timestamp: at("2026-01-01T00:10:00.250Z")?,
        window_seconds: Some(120),
        value: Quantity::from_f64(12.5)?,
    })
}

#[test]
fn v1beta2_list_serializes_like_the_api_server() -> TestResult {
    let list = v1beta2::MetricValueList {
        items: vec![pod_value()?],
        ..Default::default()
    };
    let expected = r#"{"kind":"MetricValueList","apiVersion":"custom.metrics.k8s.io/v1beta2","metadata":{},"items":[{"describedObject":{"apiVersion":"/v1","kind":"Pod","name":"checkout-1","namespace":"shop"},"metric":{"name":"http_requests_per_second","selector":null},"timestamp":"2026-01-01T00:10:00Z","windowSeconds":120,"value":"12500m"}]}"#;
    assert_eq!(serde_json::to_string(&list)?, expected);
    let back: v1beta2::MetricValueList = serde_json::from_str(expected)?;
    assert_eq!(back.items[0].value, Quantity::from_milli(12_500));
    Ok(())
}

#[test]
fn v1beta1_writes_metric_name_window_and_a_null_selector() -> TestResult {
    let mut value = pod_value()?;
    value.window_seconds = None;
    let list = v1beta1::MetricValueList::from(v1beta2::MetricValueList {
        items: vec![value],
        ..Default::default()
    });
    let json = serde_json::to_value(&list)?;
    assert_eq!(json["apiVersion"], "custom.metrics.k8s.io/v1beta1");
    assert_eq!(
        json["items"][0],
        json!({
            "describedObject": {"apiVersion": "/v1", "kind": "Pod", "name": "checkout-1", "namespace": "shop"},
            "metricName": "http_requests_per_second",
            "timestamp": "2026-01-01T00:10:00Z",
            "value": "12500m",
            "selector": null
        })
    );
    Ok(())
}

#[test]
fn metric_selector_is_written_in_object_form() -> TestResult {
    let mut value = pod_value()?;
    value.metric.selector =
        Some(Selector::parse("code in (500,503),method=GET")?.to_label_selector());
    let json = serde_json::to_value(v1beta1::MetricValue::from(value))?;
    assert_eq!(
        json["selector"],
        json!({"matchExpressions": [{"key": "code", "operator": "In", "values": ["500", "503"]}], "matchLabels": {"method": "GET"}})
    );
    Ok(())
}

#[test]
fn external_list_serializes_like_the_api_server() -> TestResult {
    let list = external::ExternalMetricValueList {
        items: vec![external::ExternalMetricValue {
            metric_name: "queue_depth".into(),
            metric_labels: BTreeMap::from([("queue".to_owned(), "orders".to_owned())]),
            timestamp: at("2026-01-01T00:00:00Z")?,
            window_seconds: None,
            value: Quantity::from_units(30),
        }],
        ..Default::default()
    };
    let expected = r#"{"kind":"ExternalMetricValueList","apiVersion":"external.metrics.k8s.io/v1beta1","metadata":{},"items":[{"metricName":"queue_depth","metricLabels":{"queue":"orders"},"timestamp":"2026-01-01T00:00:00Z","value":"30"}]}"#;
    assert_eq!(serde_json::to_string(&list)?, expected);
    Ok(())
}

#[test]
fn discovery_documents_match_the_aggregator_expectations() -> TestResult {
    let group = api_group("custom.metrics.k8s.io", &["v1beta2", "v1beta1"]);
    assert_eq!(
        serde_json::to_value(&group)?,
        json!({
            "apiVersion": "v1", "kind": "APIGroup", "name": "custom.metrics.k8s.io",
            "versions": [
                {"groupVersion": "custom.metrics.k8s.io/v1beta2", "version": "v1beta2"},
                {"groupVersion": "custom.metrics.k8s.io/v1beta1", "version": "v1beta1"}
            ],
            "preferredVersion": {"groupVersion": "custom.metrics.k8s.io/v1beta2", "version": "v1beta2"}
        })
    );
    let list = api_resource_list(
        "custom.metrics.k8s.io/v1beta2",
        vec![
            custom_metric_resource(
                &GroupResource::new("pods", ""),
                "http_requests_per_second",
                true,
            ),
            custom_metric_resource(
                &GroupResource::new("namespaces", ""),
                "http_requests_per_second",
                false,
            ),
        ],
    );
    let json = serde_json::to_value(&list)?;
    assert_eq!(json["kind"], "APIResourceList");
    assert_eq!(
        json["resources"][0],
        json!({"name": "pods/http_requests_per_second", "singularName": "", "namespaced": true, "kind": "MetricValueList", "verbs": ["get"]})
    );
    assert_eq!(json["resources"][1]["namespaced"], false);
    assert_eq!(
        serde_json::to_value(external_metric_resource("queue_depth"))?["kind"],
        "ExternalMetricValueList"
    );
    Ok(())
}

#[test]
fn status_code_equals_the_http_status() -> TestResult {
    let status = failure_for(
        StatusReason::NotFound,
        "metric http_requests_per_second has no series for pods in namespace shop",
        "custom.metrics.k8s.io",
        "pods",
        "http_requests_per_second",
    );
    assert_eq!(
        serde_json::to_value(&status)?,
        json!({
            "apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
            "message": "metric http_requests_per_second has no series for pods in namespace shop",
            "reason": "NotFound", "code": 404,
            "details": {"group": "custom.metrics.k8s.io", "kind": "pods", "name": "http_requests_per_second"}
        })
    );
    for reason in [
        StatusReason::BadRequest,
        StatusReason::BadGateway,
        StatusReason::ServiceUnavailable,
        StatusReason::Timeout,
    ] {
        let status = failure(reason, "x");
        assert_eq!(status.code, Some(i32::from(reason.code())));
    }
    Ok(())
}

/// A field written by the fast path, to compare with `Time`'s own serialization.
#[derive(serde::Serialize)]
struct FastTime(#[serde(serialize_with = "super::serialize_time")] Time);

proptest::proptest! {
    #[test]
    fn timestamps_are_written_as_k8s_openapi_writes_them(
        seconds in jiff::Timestamp::MIN.as_second()..=jiff::Timestamp::MAX.as_second(),
        nanos in 0..1_000_000_000_i32,
    ) {
        let time = Time(jiff::Timestamp::new(seconds, nanos)?);
        proptest::prop_assert_eq!(
            serde_json::to_string(&FastTime(time.clone()))?,
            serde_json::to_string(&time)?
        );
    }
}

#[test]
fn timestamps_keep_whole_seconds_at_the_edges_of_a_year() -> TestResult {
    for (at_text, written) in [
        ("1999-12-31T23:59:59.999Z", r#""1999-12-31T23:59:59Z""#),
        ("2000-01-01T00:00:00Z", r#""2000-01-01T00:00:00Z""#),
        ("0001-02-03T04:05:06Z", r#""0001-02-03T04:05:06Z""#),
        ("2026-11-25T07:05:09.5+01:00", r#""2026-11-25T06:05:09Z""#),
    ] {
        assert_eq!(serde_json::to_string(&FastTime(at(at_text)?))?, written);
    }
    Ok(())
}
