use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ListMeta, Time};
use proptest::prelude::*;

use super::to_vec;
use crate::Quantity;
use crate::api::custom_metrics::v1beta2::{MetricIdentifier, MetricValue, MetricValueList};

/// Items that mostly share a shape (as real answers do) but sometimes do not, with names that
/// need escaping, missing fields, selectors and both kinds of window.
fn item() -> impl Strategy<Value = MetricValue> {
    (
        prop::option::weighted(0.95, any::<String>()),
        prop::sample::select(vec![Some("shop"), Some("we\"ird\u{7}"), None]),
        prop::sample::select(vec![
            ("Pod", Some("/v1")),
            ("Deployment", Some("apps/v1")),
            ("Pod", None),
        ]),
        prop::sample::select(vec!["http_requests_per_second", "queue_depth"]),
        prop::option::weighted(0.2, "[a-z]{1,3}"),
        (0_i64..4_000_000_000, 0_i32..1_000_000_000),
        prop::option::weighted(0.8, 0_i64..1_000),
        -1e12_f64..1e12,
    )
        .prop_map(
            |(
                name,
                namespace,
                (kind, api_version),
                metric,
                selector,
                (seconds, nanos),
                window,
                value,
            )| {
                MetricValue {
                    described_object: ObjectReference {
                        api_version: api_version.map(str::to_owned),
                        kind: Some(kind.to_owned()),
                        name,
                        namespace: namespace.map(str::to_owned),
                        ..ObjectReference::default()
                    },
                    metric: MetricIdentifier {
                        name: metric.to_owned(),
                        selector: selector.map(|value| LabelSelector {
                            match_labels: Some(BTreeMap::from([("app".to_owned(), value)])),
                            ..LabelSelector::default()
                        }),
                    },
                    timestamp: Time(
                        jiff::Timestamp::new(seconds, nanos).unwrap_or(jiff::Timestamp::UNIX_EPOCH),
                    ),
                    window_seconds: window,
                    value: Quantity::from_f64(value).unwrap_or(Quantity::ZERO),
                }
            },
        )
}

proptest! {
    #[test]
    fn writes_exactly_what_serde_writes(
        items in prop::collection::vec(item(), 0..12),
        first_alike in 0_usize..12,
    ) {
        // Runs of items of one shape, as real answers have, besides the random mix.
        let mut items = items;
        if let Some(first) = items.first().cloned() {
            for (index, item) in items.iter_mut().enumerate().take(first_alike) {
                let name = item.described_object.name.clone();
                *item = MetricValue { timestamp: item.timestamp.clone(), ..first.clone() };
                item.described_object.name = name.or_else(|| Some(format!("pod-{index}")));
            }
        }
        let list = MetricValueList { metadata: ListMeta::default(), items };
        let (fast, serde) = (to_vec(&list)?, serde_json::to_vec(&list)?);
        prop_assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&serde));
    }
}

#[test]
fn an_empty_list_and_list_metadata_are_written_as_serde_writes_them()
-> Result<(), serde_json::Error> {
    let list = MetricValueList {
        metadata: ListMeta {
            resource_version: Some("7".to_owned()),
            ..ListMeta::default()
        },
        items: Vec::new(),
    };
    assert_eq!(to_vec(&list)?, serde_json::to_vec(&list)?);
    Ok(())
}
