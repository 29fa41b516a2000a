//! `custom.metrics.k8s.io`: metric values that describe Kubernetes objects, in both served
//! versions (v1beta2 is what the HPA asks for first; v1beta1 is kept for older clients).

/// The API group name.
pub const GROUP: &str = "custom.metrics.k8s.io";

/// The wildcard object name that asks for every object a label selector selects.
pub const ALL_OBJECTS: &str = "*";

/// Version v1beta2, where the metric is an identifier with an optional selector.
pub mod v1beta2 {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ListMeta, Time};
    use serde::{Deserialize, Serialize};

    use crate::Quantity;
    use crate::api::typed_list_serialize;

    /// `custom.metrics.k8s.io/v1beta2`.
    pub const API_VERSION: &str = "custom.metrics.k8s.io/v1beta2";

    /// Names a metric and, optionally, the metric labels that narrowed it.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct MetricIdentifier {
        /// The metric name as the API serves it, e.g. `http_requests_per_second`.
        pub name: String,
        /// The `metricLabelSelector` of the request; written as `null` when there is none, as
        /// the API serializes it (the field has no `omitempty`).
        #[serde(default)]
        pub selector: Option<LabelSelector>,
    }

    /// One object's value of one metric.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct MetricValue {
        /// The object the value describes.
        pub described_object: ObjectReference,
        /// Which metric.
        pub metric: MetricIdentifier,
        /// When the value was produced: the sample's own time, not the request's.
        #[serde(serialize_with = "crate::api::serialize_time")]
        pub timestamp: Time,
        /// The window a rate was computed over, absent for instantaneous values.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub window_seconds: Option<i64>,
        /// The value.
        pub value: Quantity,
    }

    /// The answer to every custom-metrics request, one item per described object.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    pub struct MetricValueList {
        /// List metadata (empty: metric lists are not versioned).
        #[serde(default)]
        pub metadata: ListMeta,
        /// The values.
        pub items: Vec<MetricValue>,
    }

    typed_list_serialize!(MetricValueList, "MetricValueList", API_VERSION);

    /// What all items of one answer share (the objects' kind, API version and namespace, the
    /// metric, the window), held once so an answer of many objects is neither built nor
    /// written item by item in full: each item is this and a [`MetricValueRow`]
    /// ([`crate::api::list_json::write`] writes the [`MetricValueList`] they stand for).
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct ValueShape {
        /// Every described object's reference but its name (this `name` is not used).
        pub object: ObjectReference,
        /// Which metric, the same for every row.
        pub metric: MetricIdentifier,
        /// The window a rate was computed over, the same for every row.
        pub window_seconds: Option<i64>,
    }

    impl ValueShape {
        /// The full item `row` stands for.
        pub fn item(&self, row: MetricValueRow<'_>) -> MetricValue {
            MetricValue {
                described_object: ObjectReference {
                    name: Some(row.name.to_owned()),
                    ..self.object.clone()
                },
                metric: self.metric.clone(),
                timestamp: row.timestamp,
                window_seconds: self.window_seconds,
                value: row.value,
            }
        }

        /// The list `rows` stand for, item by item in row order.
        pub fn list<'a>(
            &self,
            rows: impl IntoIterator<Item = MetricValueRow<'a>>,
        ) -> MetricValueList {
            MetricValueList {
                metadata: ListMeta::default(),
                items: rows.into_iter().map(|row| self.item(row)).collect(),
            }
        }
    }

    /// One answer kept as rows: its [`ValueShape`] and a row per described object, the rows'
    /// names one after the other in one string, not a string each.
    #[derive(Debug, Clone, Default, PartialEq)]
    pub struct MetricValueRows {
        /// What every row shares.
        pub shape: ValueShape,
        /// Every row's object name, one after the other.
        names: String,
        rows: Vec<RowValues>,
    }

    /// A row without its name: where the name ends in `names` (it starts where the one before
    /// ended), the time and the value.
    #[derive(Debug, Clone, PartialEq)]
    struct RowValues {
        name_end: usize,
        timestamp: Time,
        value: Quantity,
    }

    /// What one item of [`MetricValueRows`] has alone.
    #[derive(Debug, Clone, PartialEq)]
    pub struct MetricValueRow<'a> {
        /// The described object's name.
        pub name: &'a str,
        /// When the value was produced: the sample's own time.
        pub timestamp: Time,
        /// The value.
        pub value: Quantity,
    }

    impl MetricValueRows {
        /// No rows yet, of objects like `object` (its name unused), for `metric` over
        /// `window_seconds`.
        pub fn new(
            object: ObjectReference,
            metric: MetricIdentifier,
            window_seconds: Option<i64>,
        ) -> Self {
            MetricValueRows {
                shape: ValueShape {
                    object,
                    metric,
                    window_seconds,
                },
                ..MetricValueRows::default()
            }
        }

        /// Makes room for `rows` more rows whose names take `name_bytes` in all.
        pub fn reserve(&mut self, rows: usize, name_bytes: usize) {
            self.rows.reserve(rows);
            self.names.reserve(name_bytes);
        }

        /// Appends a row.
        pub fn push(&mut self, name: &str, timestamp: Time, value: Quantity) {
            self.names.push_str(name);
            self.rows.push(RowValues {
                name_end: self.names.len(),
                timestamp,
                value,
            });
        }

        /// How many rows there are.
        pub fn len(&self) -> usize {
            self.rows.len()
        }

        /// Whether there are none.
        pub fn is_empty(&self) -> bool {
            self.rows.is_empty()
        }

        /// The rows in order.
        pub fn rows(&self) -> impl ExactSizeIterator<Item = MetricValueRow<'_>> + Clone + '_ {
            let mut start = 0;
            self.rows.iter().map(move |row| {
                // Every end was a char boundary when it was pushed.
                let name = self.names.get(start..row.name_end).unwrap_or_default();
                start = row.name_end;
                MetricValueRow {
                    name,
                    timestamp: row.timestamp.clone(),
                    value: row.value,
                }
            })
        }
    }

    impl From<&MetricValueRows> for MetricValueList {
        /// The list the rows stand for, item by item in row order.
        fn from(rows: &MetricValueRows) -> Self {
            rows.shape.list(rows.rows())
        }
    }
}

/// Version v1beta1, where the metric is a bare name and the selector is always written.
pub mod v1beta1 {
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ListMeta, Time};
    use serde::{Deserialize, Serialize};

    use super::v1beta2;
    use crate::Quantity;
    use crate::api::typed_list_serialize;

    /// `custom.metrics.k8s.io/v1beta1`.
    pub const API_VERSION: &str = "custom.metrics.k8s.io/v1beta1";

    /// One object's value of one metric.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct MetricValue {
        /// The object the value describes.
        pub described_object: ObjectReference,
        /// Which metric.
        pub metric_name: String,
        /// When the value was produced.
        #[serde(serialize_with = "crate::api::serialize_time")]
        pub timestamp: Time,
        /// The window a rate was computed over (`window` on the wire).
        #[serde(default, rename = "window", skip_serializing_if = "Option::is_none")]
        pub window_seconds: Option<i64>,
        /// The value.
        pub value: Quantity,
        /// The metric label selector; v1beta1 writes `null` when there is none.
        #[serde(default)]
        pub selector: Option<LabelSelector>,
    }

    /// The answer to every v1beta1 custom-metrics request.
    #[derive(Debug, Clone, Default, PartialEq, Deserialize)]
    pub struct MetricValueList {
        /// List metadata (empty).
        #[serde(default)]
        pub metadata: ListMeta,
        /// The values.
        pub items: Vec<MetricValue>,
    }

    typed_list_serialize!(MetricValueList, "MetricValueList", API_VERSION);

    impl From<v1beta2::MetricValue> for MetricValue {
        /// The conversion the API machinery applies when a v1beta1 client asks.
        fn from(value: v1beta2::MetricValue) -> Self {
            MetricValue {
                described_object: value.described_object,
                metric_name: value.metric.name,
                timestamp: value.timestamp,
                window_seconds: value.window_seconds,
                value: value.value,
                selector: value.metric.selector,
            }
        }
    }

    impl From<v1beta2::MetricValueList> for MetricValueList {
        fn from(list: v1beta2::MetricValueList) -> Self {
            MetricValueList {
                metadata: list.metadata,
                items: list.items.into_iter().map(Into::into).collect(),
            }
        }
    }
}
