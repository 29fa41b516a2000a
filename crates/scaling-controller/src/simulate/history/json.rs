//! The JSON data format: `{"metrics": {"<column>": [[t, v], …], …}}`, `t` Unix seconds or an
//! RFC 3339 string, `v` a number, a numeric string (as Prometheus writes values) or `null`.
//! Each series must be in time order; together they must lie on one regular grid, and a step
//! that a series leaves out (or gives `null`) is a missing reading for that series. Errors name
//! `file: metrics.<column>[index]`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Column, History, check_step, parse_time, parse_value};
use crate::simulate::{Error, Result};

/// Parses JSON history; `path` names the file in errors.
pub fn parse_json(text: &str, path: &str) -> Result<History> {
    let error = |place: String, reason: String| Error::Data {
        place: format!("{path}: {place}"),
        reason,
    };
    let document: Value = serde_json::from_str(text).map_err(|e| Error::Data {
        place: format!("{path}:{}", e.line()),
        reason: format!("not JSON: {e}"),
    })?;
    let Some(metrics) = document.get("metrics").and_then(Value::as_object) else {
        return Err(error(
            "metrics".to_owned(),
            "expected an object `{\"metrics\": {\"<name>\": [[t, v], …]}}`".to_owned(),
        ));
    };
    if metrics.is_empty() {
        return Err(error("metrics".to_owned(), "names no metric".to_owned()));
    }
    let mut series: Vec<(String, BTreeMap<i64, Option<f64>>)> = Vec::new();
    for (name, points) in metrics {
        let place = |index: usize| format!("metrics.{name}[{index}]");
        let Some(points) = points.as_array() else {
            return Err(error(
                format!("metrics.{name}"),
                "expected an array of [t, v] pairs".to_owned(),
            ));
        };
        let mut values = BTreeMap::new();
        let mut previous: Option<i64> = None;
        for (index, point) in points.iter().enumerate() {
            let (time, value) = match point.as_array().map(Vec::as_slice) {
                Some([time, value]) => (time, value),
                _ => {
                    return Err(error(
                        place(index),
                        format!("expected a pair [t, v], found {point}"),
                    ));
                }
            };
            let time = match time {
                Value::Number(n) => parse_time(&n.to_string()),
                Value::String(s) => parse_time(s),
                other => Err(format!(
                    "timestamp {other} is neither a number nor a string"
                )),
            }
            .map_err(|reason| error(place(index), reason))?;
            if let Some(previous) = previous.filter(|p| time <= *p) {
                return Err(error(
                    place(index),
                    format!(
                        "timestamps out of order: {} does not come after {}",
                        super::format_millis(time),
                        super::format_millis(previous)
                    ),
                ));
            }
            previous = Some(time);
            let value = match value {
                Value::Null => Ok(None),
                Value::Number(n) => parse_value(&n.to_string()),
                Value::String(s) => parse_value(s),
                other => Err(format!("value {other} is not a number")),
            }
            .map_err(|reason| error(place(index), reason))?;
            values.insert(time, value);
        }
        series.push((name.clone(), values));
    }
    let times: BTreeSet<i64> = series.iter().flat_map(|(_, v)| v.keys().copied()).collect();
    let times: Vec<i64> = times.into_iter().collect();
    let Some(&start) = times.first() else {
        return Err(error("metrics".to_owned(), "holds no points".to_owned()));
    };
    let step = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .min()
        .unwrap_or(15_000);
    for pair in times.windows(2) {
        check_step(pair[0], pair[1], step).map_err(|reason| error("metrics".to_owned(), reason))?;
    }
    let columns = series
        .into_iter()
        .map(|(name, values)| Column {
            name,
            values: times
                .iter()
                .map(|t| values.get(t).copied().flatten())
                .collect(),
        })
        .collect();
    Ok(History {
        origin: path.to_owned(),
        start_millis: start,
        step_millis: step,
        len: times.len(),
        columns,
    })
}
