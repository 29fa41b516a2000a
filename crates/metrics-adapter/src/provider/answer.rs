//! A custom-metrics answer kept as the store gave it: the store's samples (shared with the
//! requests that asked the same at the same moment) and which of them are answered, read as
//! the list's rows while the list is written. Nothing is copied per sample between the store's
//! answer and the bytes of the list.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use metrics_model::Quantity;
use metrics_model::api::custom_metrics::v1beta2::{MetricValueList, MetricValueRow, ValueShape};
use metrics_store::{KeyedSample, KeyedSamples};

/// Which of the store's samples an answer holds.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answered {
    /// Every sample (`*` without a `labelSelector`).
    All,
    /// The sample of the one object asked for by name.
    Named(String),
    /// The samples of the objects a `labelSelector` selected (the query asked for all).
    Selected(BTreeSet<String>),
}

/// The answer to a custom-metrics request: what its items share and the store's samples they
/// are made from.
#[derive(Debug, Clone)]
pub struct CustomAnswer {
    /// What every item shares.
    pub shape: ValueShape,
    samples: Arc<KeyedSamples>,
    answered: Answered,
}

impl CustomAnswer {
    /// The answer of `shape` holding the `answered` ones of `samples`.
    pub(super) fn new(shape: ValueShape, samples: Arc<KeyedSamples>, answered: Answered) -> Self {
        CustomAnswer {
            shape,
            samples,
            answered,
        }
    }

    /// An answer without items.
    pub(super) fn empty(shape: ValueShape) -> Self {
        CustomAnswer::new(shape, Arc::default(), Answered::All)
    }

    /// The rows, in the store's order: the answered samples whose value is finite (NaN and
    /// infinities, a rate over no data, are left out).
    pub fn rows(&self) -> impl Iterator<Item = MetricValueRow<'_>> + Clone + '_ {
        self.samples
            .iter()
            .filter(|sample| self.answers(sample))
            .filter_map(|sample| {
                Some(MetricValueRow {
                    name: sample.key,
                    timestamp: Time(sample.timestamp),
                    value: finite_quantity(sample.value)?,
                })
            })
    }

    /// How many items the answer has.
    pub fn len(&self) -> usize {
        self.rows().count()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.rows().next().is_none()
    }

    /// The full list, as a list of another version is converted from.
    pub fn to_list(&self) -> MetricValueList {
        self.shape.list(self.rows())
    }

    fn answers(&self, sample: &KeyedSample<'_>) -> bool {
        match &self.answered {
            Answered::All => true,
            Answered::Named(name) => sample.key == name,
            Answered::Selected(names) => names.contains(sample.key),
        }
    }
}

/// A sample's value as a quantity; NaN and infinities (a rate over no data) are skipped, so a
/// named object without a finite value is answered 404.
pub(super) fn finite_quantity(value: f64) -> Option<Quantity> {
    if !value.is_finite() {
        return None;
    }
    Quantity::from_f64(value).ok()
}
