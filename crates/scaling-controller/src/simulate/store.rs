//! History from a Prometheus-compatible store: one range query per column the policies read,
//! through the same [`MetricsStore`] client the controller uses.
//!
//! Which PromQL a column gets (`docs/simulate.md`): `--query KEY=PROMQL` when given; else a raw
//! External `query` is sent as written; else `sum(NAME)` — for a Pods metric that is the total
//! demand over all pods, which the load model spreads over the ready replicas. Several series
//! in an answer are summed; a grid point no series has is a missing reading.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use metrics_store::{MetricsStore, TimeRange};

use super::history::{Column, History, format_millis};
use super::plan::Plan;
use super::{Error, Result};

/// How long one range query may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// One column to fetch and the PromQL that fetches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnQuery {
    /// The column name (a metric's key).
    pub key: String,
    /// The PromQL range query.
    pub query: String,
}

/// The columns `plans` read, each with its query; `overrides` maps a key to its PromQL.
pub fn queries(plans: &[&Plan], overrides: &BTreeMap<String, String>) -> Vec<ColumnQuery> {
    let mut out: Vec<ColumnQuery> = Vec::new();
    for plan in plans {
        for metric in &plan.metrics {
            if out.iter().any(|c| c.key == metric.key) {
                continue;
            }
            let query = overrides
                .get(&metric.key)
                .cloned()
                .or_else(|| metric.query.clone())
                .unwrap_or_else(|| format!("sum({})", metric.key));
            out.push(ColumnQuery {
                key: metric.key.clone(),
                query,
            });
        }
    }
    out
}

/// Fetches every column over `[start, end]` every `step` into one [`History`].
pub async fn fetch(
    store: &impl MetricsStore,
    origin: &str,
    columns: &[ColumnQuery],
    start: Timestamp,
    end: Timestamp,
    step: Duration,
) -> Result<History> {
    let step_millis = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
    let start_millis = start.as_millisecond();
    let end_millis = end.as_millisecond();
    if end_millis < start_millis {
        return Err(Error::Usage(format!(
            "--end {end} is before --start {start}"
        )));
    }
    let len = usize::try_from((end_millis - start_millis) / step_millis + 1).unwrap_or(0);
    let range = TimeRange { start, end };
    let mut out = Vec::with_capacity(columns.len());
    for column in columns {
        let series = store
            .range_query(&column.query, range, step, DEADLINE)
            .await
            .map_err(|source| Error::Store {
                key: column.key.clone(),
                query: column.query.clone(),
                source,
            })?;
        if series.iter().all(|s| s.points.is_empty()) {
            return Err(Error::EmptyRange {
                key: column.key.clone(),
                query: column.query.clone(),
                start: format_millis(start_millis),
                end: format_millis(end_millis),
            });
        }
        let mut values: Vec<Option<f64>> = vec![None; len];
        for point in series.iter().flat_map(|s| &s.points) {
            let offset = point.0.as_millisecond() - start_millis;
            if offset < 0 || offset % step_millis != 0 || !point.1.is_finite() {
                continue;
            }
            if let Some(slot) = values.get_mut((offset / step_millis) as usize) {
                *slot = Some(slot.unwrap_or(0.0) + point.1);
            }
        }
        out.push(Column {
            name: column.key.clone(),
            values,
        });
    }
    Ok(History {
        origin: origin.to_owned(),
        start_millis,
        step_millis,
        len,
        columns: out,
    })
}
