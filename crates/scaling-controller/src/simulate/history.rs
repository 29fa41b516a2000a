//! A metric history on a regular time grid: one column of optional values per metric, `None`
//! where the reading is missing (a store outage), which the simulation treats as a failed read.
//!
//! Data files come in two formats, documented in `docs/simulate.md`: CSV ([`parse_csv`]) and
//! JSON ([`parse_json`]). Both must lie on a regular grid; a missing value is written
//! explicitly (an empty CSV cell, a JSON point left out or `null`), while a missing stretch of
//! time (a jump in timestamps) is an error, so a truncated export is never mistaken for an
//! outage.

mod csv;
mod json;

use std::path::Path;

use jiff::Timestamp;

use super::{Error, Result};

pub use csv::parse_csv;
pub use json::parse_json;

/// Metric readings every `step_millis` from `start_millis`.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// Where the history came from, for messages and the chart's caption.
    pub origin: String,
    /// The first step's time, Unix milliseconds.
    pub start_millis: i64,
    /// The distance between steps, milliseconds.
    pub step_millis: i64,
    /// The number of steps.
    pub len: usize,
    /// The columns, each `len` long.
    pub columns: Vec<Column>,
}

/// One metric's readings.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column's name: a metric name, `query`, or `metrics[i]`.
    pub name: String,
    /// One value per step; `None` where the reading is missing.
    pub values: Vec<Option<f64>>,
}

impl History {
    /// The time of step `index`, Unix milliseconds.
    pub fn time_millis(&self, index: usize) -> i64 {
        self.start_millis + self.step_millis * index as i64
    }

    /// The column a policy's metric `index` with column name `key` reads: `metrics[index]`
    /// first, then `key`.
    pub fn column(&self, index: usize, key: &str) -> Result<&Column> {
        let by_index = format!("metrics[{index}]");
        self.columns
            .iter()
            .find(|c| c.name == by_index)
            .or_else(|| self.columns.iter().find(|c| c.name == key))
            .ok_or_else(|| Error::MissingColumn {
                origin: self.origin.clone(),
                index,
                key: key.to_owned(),
                available: self
                    .columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The instant of step `index`, for messages.
    pub fn timestamp(&self, index: usize) -> String {
        format_millis(self.time_millis(index))
    }
}

/// Reads a data file, CSV or JSON by its extension (`.json` is JSON, anything else CSV).
pub fn load(path: &Path) -> Result<History> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: display.clone(),
        source,
    })?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        parse_json(&text, &display)
    } else {
        parse_csv(&text, &display)
    }
}

/// An instant as RFC 3339 for messages, or the raw milliseconds if out of range.
pub fn format_millis(millis: i64) -> String {
    Timestamp::from_millisecond(millis).map_or_else(|_| format!("{millis} ms"), |t| t.to_string())
}

/// Reads a timestamp: RFC 3339, or Unix seconds (integer or decimal). Unix milliseconds.
pub fn parse_time(text: &str) -> std::result::Result<i64, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if !seconds.is_finite() || seconds.abs() > 1e13 {
            return Err(format!("timestamp {text:?} is out of range"));
        }
        return Ok((seconds * 1000.0).round() as i64);
    }
    text.parse::<Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| format!("timestamp {text:?} is neither RFC 3339 nor Unix seconds ({e})"))
}

/// Checks that `time` follows `previous` by exactly `step` and explains how it does not.
fn check_step(previous: i64, time: i64, step: i64) -> std::result::Result<(), String> {
    let delta = time - previous;
    if delta <= 0 {
        return Err(format!(
            "timestamps out of order: {} does not come after {}",
            format_millis(time),
            format_millis(previous)
        ));
    }
    if delta != step {
        if delta % step == 0 {
            return Err(format!(
                "gap: {} steps of {} s missing between {} and {}; record an outage as empty \
                 values instead of leaving rows out",
                delta / step - 1,
                step as f64 / 1000.0,
                format_millis(previous),
                format_millis(time)
            ));
        }
        return Err(format!(
            "irregular step: {} s after {}, while the history's step is {} s",
            delta as f64 / 1000.0,
            format_millis(previous),
            step as f64 / 1000.0
        ));
    }
    Ok(())
}

/// Reads a value: a finite number, or missing (empty, `NaN`).
fn parse_value(text: &str) -> std::result::Result<Option<f64>, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("nan") {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        Ok(_) => Err(format!("value {text:?} is not finite")),
        Err(_) => Err(format!("value {text:?} is not a number")),
    }
}
