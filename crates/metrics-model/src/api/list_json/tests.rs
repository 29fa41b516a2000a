use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};
use proptest::prelude::*;

use super::to_vec;
use crate::Quantity;
use crate::api::custom_metrics::v1beta2::{MetricIdentifier, MetricValueList, MetricValueRows};

/// What the items of one answer share: kinds with and without an API version, namespaces that
/// need escaping or are absent, selectors and both kinds of window.
fn shape() -> impl Strategy<Value = MetricValueRows> {
    (
        prop::sample::select(vec![Some("shop"), Some("we\"ird\u{7}"), None]),
        prop::sample::select(vec![
            ("Pod", Some("/v1")),
            ("Deployment", Some("apps/v1")),
            ("Pod", None),
        ]),
        prop::sample::select(vec!["http_requests_per_second", "queue_depth"]),
        prop::option::weighted(0.2, "[a-z]{1,3}"),
        prop::option::weighted(0.8, 0_i64..1_000),
    )
        .prop_map(
            |(namespace, (kind, api_version), metric, selector, window)| {
                MetricValueRows::new(
                    ObjectReference {
                        api_version: api_version.map(str::to_owned),
                        kind: Some(kind.to_owned()),
                        namespace: namespace.map(str::to_owned),
                        ..ObjectReference::default()
                    },
                    MetricIdentifier {
                        name: metric.to_owned(),
                        selector: selector.map(|value| LabelSelector {
                            match_labels: Some(BTreeMap::from([("app".to_owned(), value)])),
                            ..LabelSelector::default()
                        }),
                    },
                    window,
                )
            },
        )
}

/// A row (name, time, value) with any name (escaping included), a timestamp that is often the
/// one before's (as in an instant query's answer) and any value.
fn row() -> impl Strategy<Value = ((String, Time, Quantity), bool)> {
    (
        any::<String>(),
        (0_i64..4_000_000_000, 0_i32..1_000_000_000),
        prop::bool::weighted(0.7),
        -1e12_f64..1e12,
    )
        .prop_map(|(name, (seconds, nanos), same_time, value)| {
            let timestamp =
                Time(jiff::Timestamp::new(seconds, nanos).unwrap_or(jiff::Timestamp::UNIX_EPOCH));
            let value = Quantity::from_f64(value).unwrap_or(Quantity::ZERO);
            ((name, timestamp, value), same_time)
        })
}

proptest! {
    #[test]
    fn writes_exactly_what_serde_writes_for_the_list(
        mut rows in shape(),
        drawn in prop::collection::vec(row(), 0..12),
    ) {
        for ((name, mut timestamp, value), same_time) in drawn {
            if let (true, Some(before)) = (same_time, rows.rows().last()) {
                timestamp = before.timestamp.clone();
            }
            rows.push(&name, timestamp, value);
        }
        let serde = serde_json::to_vec(&MetricValueList::from(&rows))?;
        let fast = to_vec(&rows)?;
        prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
    }
}

#[test]
fn an_empty_answer_is_written_as_serde_writes_an_empty_list() -> Result<(), serde_json::Error> {
    let rows = MetricValueRows::default();
    assert_eq!(
        to_vec(&rows)?,
        serde_json::to_vec(&MetricValueList::default())?
    );
    Ok(())
}

#[test]
fn a_selector_label_that_reads_like_the_value_is_written_whole_by_serde()
-> Result<(), serde_json::Error> {
    // `?metricLabelSelector=value=2` with a first value of 2: `"value":"2"` appears twice in
    // the item, so no template can be cut and serde writes the list.
    let two = Quantity::from_units(2);
    let mut rows = MetricValueRows::new(
        ObjectReference {
            api_version: Some("/v1".to_owned()),
            kind: Some("Pod".to_owned()),
            namespace: Some("shop".to_owned()),
            ..ObjectReference::default()
        },
        MetricIdentifier {
            name: "queue_depth".to_owned(),
            selector: Some(LabelSelector {
                match_labels: Some(BTreeMap::from([("value".to_owned(), "2".to_owned())])),
                ..LabelSelector::default()
            }),
        },
        None,
    );
    for name in ["a", "b"] {
        rows.push(name, Time(jiff::Timestamp::UNIX_EPOCH), two);
    }
    let written = to_vec(&rows)?;
    assert_eq!(written, serde_json::to_vec(&MetricValueList::from(&rows))?);
    assert_eq!(
        String::from_utf8_lossy(&written)
            .matches(r#""value":"2""#)
            .count(),
        4,
        "each item's selector and value"
    );
    Ok(())
}

#[test]
fn answers_of_one_shape_share_a_template_and_each_is_written_as_serde_writes_it()
-> Result<(), serde_json::Error> {
    let answer = |names: &[&str], seconds: i64, value: i64| {
        let mut rows = MetricValueRows::new(
            ObjectReference {
                api_version: Some("/v1".to_owned()),
                kind: Some("Pod".to_owned()),
                namespace: Some("shared-shape".to_owned()),
                ..ObjectReference::default()
            },
            MetricIdentifier {
                name: "http_requests_per_second".to_owned(),
                selector: None,
            },
            Some(120),
        );
        let time = Time(jiff::Timestamp::from_second(seconds).unwrap_or_default());
        for name in names {
            rows.push(name, time.clone(), Quantity::from_milli(value));
        }
        rows
    };
    // The second is written from the template the first left, with other names, a time and
    // values of other lengths.
    for rows in [
        answer(&["a", "b"], 1_795_000_000, 1500),
        answer(&["web-7d9f8c6b5-x2x9z", "c\"d"], 86_400, 2_000_000_000),
    ] {
        assert_eq!(
            String::from_utf8_lossy(&to_vec(&rows)?),
            String::from_utf8_lossy(&serde_json::to_vec(&MetricValueList::from(&rows))?)
        );
    }
    Ok(())
}
