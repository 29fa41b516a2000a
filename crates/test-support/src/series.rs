//! Series to load into a store, and their text forms: OpenMetrics for `promtool` backfill and
//! the Prometheus exposition format with timestamps for VictoriaMetrics' import API.

use std::fmt::Write;

/// One series: a metric name, labels, and samples as (Unix milliseconds, value).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The metric name.
    pub name: String,
    /// The labels, without `__name__`.
    pub labels: Vec<(String, String)>,
    /// Samples in increasing time order.
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    /// A series with the given name and labels and no samples yet.
    pub fn new(name: &str, labels: &[(&str, &str)]) -> Self {
        Series {
            name: name.to_owned(),
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            samples: Vec::new(),
        }
    }

    /// Adds a sample at `millis` (Unix milliseconds).
    pub fn sample(mut self, millis: i64, value: f64) -> Self {
        self.samples.push((millis, value));
        self
    }

    fn write_name_and_labels(&self, out: &mut String) {
        out.push_str(&self.name);
        out.push('{');
        for (index, (name, value)) in self.labels.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let escaped = value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            let _ = write!(out, "{name}=\"{escaped}\"");
        }
        out.push('}');
    }
}

/// A sample value as both text formats spell it (`+Inf`, `-Inf`, `NaN`).
fn format_value(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN".to_owned(),
        v if v == f64::INFINITY => "+Inf".to_owned(),
        v if v == f64::NEG_INFINITY => "-Inf".to_owned(),
        v => v.to_string(),
    }
}

/// The OpenMetrics text `promtool tsdb create-blocks-from openmetrics` reads (seconds,
/// terminated by `# EOF`). Series of one metric name must be adjacent in `series`, as
/// OpenMetrics wants each metric family in one block.
pub fn openmetrics(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        for (millis, value) in &s.samples {
            s.write_name_and_labels(&mut out);
            let _ = writeln!(
                out,
                " {} {}.{:03}",
                format_value(*value),
                millis.div_euclid(1000),
                millis.rem_euclid(1000)
            );
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The Prometheus exposition format with millisecond timestamps, as VictoriaMetrics imports it.
pub fn prometheus_text(series: &[Series]) -> String {
    let mut out = String::new();
    for s in series {
        for (millis, value) in &s.samples {
            s.write_name_and_labels(&mut out);
            let _ = writeln!(out, " {} {millis}", format_value(*value));
        }
    }
    out
}
