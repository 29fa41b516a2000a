//! The figures a run is judged by (each defined in `docs/simulate.md`), and their three
//! printed forms: an aligned table, JSON and CSV.

use serde::Serialize;

use super::engine::{Outcome, Run};
use super::history::format_millis;
use crate::recommend::Tolerances;

/// What a run amounted to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The policy's name.
    pub policy: String,
    /// The first step's time (RFC 3339).
    pub start: String,
    /// The last step's time (RFC 3339).
    pub end: String,
    /// How many steps (controller syncs) were simulated.
    pub steps: usize,
    /// Seconds between steps.
    pub step_seconds: f64,
    /// Steps at which the replica count changed (writes to `/scale`).
    pub scale_events: usize,
    /// Of those, increases.
    pub scale_ups: usize,
    /// Of those, decreases.
    pub scale_downs: usize,
    /// The fewest replicas held after any step.
    pub min_replicas: i32,
    /// The most replicas held after any step.
    pub max_replicas: i32,
    /// Replicas held after each step, averaged over the steps.
    pub mean_replicas: f64,
    /// Replicas × hours held: the cost proxy.
    pub replica_hours: f64,
    /// Seconds during which some metric ran above its target by more than the scale-up
    /// tolerance: the risk proxy.
    pub seconds_above_target: f64,
    /// The longest unbroken stretch above target, in seconds: the slowest catch-up.
    pub longest_catch_up_seconds: f64,
    /// Metric reads that failed (a missing value), counted per metric and step.
    pub failed_reads: usize,
    /// Steps with at least one failed read.
    pub steps_with_failed_reads: usize,
    /// Steps at which every metric failed and the current count was held.
    pub held_steps: usize,
    /// Steps at which `fallback.replicas` was held.
    pub fallback_steps: usize,
}

/// Whether a step ran above target: some metric's load ratio exceeds `1 + tolerance`.
pub fn above_target(load: &[Option<f64>], tolerance_up: f64) -> bool {
    load.iter()
        .flatten()
        .any(|ratio| *ratio > 1.0 + tolerance_up)
}

impl Summary {
    /// Condenses a run.
    pub fn of(run: &Run) -> Self {
        let step_seconds = run.step_millis as f64 / 1000.0;
        let tolerance_up = Tolerances::new(run.plan.tolerance, &run.plan.behavior).up;
        let steps = &run.steps;
        let count = |pred: &dyn Fn(&super::engine::StepRecord) -> bool| {
            steps.iter().filter(|s| pred(s)).count()
        };
        let total: i64 = steps.iter().map(|s| i64::from(s.after)).sum();
        let (mut longest, mut current) = (0usize, 0usize);
        for step in steps {
            if above_target(&step.load, tolerance_up) {
                current += 1;
                longest = longest.max(current);
            } else {
                current = 0;
            }
        }
        Summary {
            policy: run.plan.name.clone(),
            start: steps
                .first()
                .map(|s| format_millis(s.time_millis))
                .unwrap_or_default(),
            end: steps
                .last()
                .map(|s| format_millis(s.time_millis))
                .unwrap_or_default(),
            steps: steps.len(),
            step_seconds,
            scale_events: count(&|s| s.after != s.before),
            scale_ups: count(&|s| s.after > s.before),
            scale_downs: count(&|s| s.after < s.before),
            min_replicas: steps.iter().map(|s| s.after).min().unwrap_or(0),
            max_replicas: steps.iter().map(|s| s.after).max().unwrap_or(0),
            mean_replicas: round3(total as f64 / steps.len().max(1) as f64),
            replica_hours: round3(total as f64 * step_seconds / 3600.0),
            seconds_above_target: count(&|s| above_target(&s.load, tolerance_up)) as f64
                * step_seconds,
            longest_catch_up_seconds: longest as f64 * step_seconds,
            failed_reads: steps.iter().map(|s| s.failed_reads as usize).sum(),
            steps_with_failed_reads: count(&|s| s.failed_reads > 0),
            held_steps: count(&|s| s.outcome == Outcome::Held),
            fallback_steps: count(&|s| s.outcome == Outcome::Fallback),
        }
    }

    /// The fields as (name, value) pairs, in the order every format prints them.
    fn fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("policy", self.policy.clone()),
            ("start", self.start.clone()),
            ("end", self.end.clone()),
            ("steps", self.steps.to_string()),
            ("step_seconds", self.step_seconds.to_string()),
            ("scale_events", self.scale_events.to_string()),
            ("scale_ups", self.scale_ups.to_string()),
            ("scale_downs", self.scale_downs.to_string()),
            ("min_replicas", self.min_replicas.to_string()),
            ("max_replicas", self.max_replicas.to_string()),
            ("mean_replicas", format!("{:.3}", self.mean_replicas)),
            ("replica_hours", format!("{:.3}", self.replica_hours)),
            (
                "seconds_above_target",
                self.seconds_above_target.to_string(),
            ),
            (
                "longest_catch_up_seconds",
                self.longest_catch_up_seconds.to_string(),
            ),
            ("failed_reads", self.failed_reads.to_string()),
            (
                "steps_with_failed_reads",
                self.steps_with_failed_reads.to_string(),
            ),
            ("held_steps", self.held_steps.to_string()),
            ("fallback_steps", self.fallback_steps.to_string()),
        ]
    }
}

fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// How summaries are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// An aligned table, one column per policy.
    #[default]
    Table,
    /// `{"policies": [summary, …]}`, pretty-printed.
    Json,
    /// A header of field names, then one row per policy.
    Csv,
}

/// Prints `summaries` in `format`.
pub fn render(summaries: &[Summary], format: Format) -> String {
    match format {
        Format::Table => table(summaries),
        Format::Json => {
            #[derive(Serialize)]
            struct Document<'a> {
                policies: &'a [Summary],
            }
            serde_json::to_string_pretty(&Document {
                policies: summaries,
            })
            .map_or_else(|e| e.to_string(), |s| s + "\n")
        }
        Format::Csv => {
            let mut out = String::new();
            let rows: Vec<Vec<(&str, String)>> = summaries.iter().map(Summary::fields).collect();
            if let Some(first) = rows.first() {
                let header: Vec<&str> = first.iter().map(|(name, _)| *name).collect();
                out.push_str(&header.join(","));
                out.push('\n');
            }
            for row in rows {
                let cells: Vec<String> = row.into_iter().map(|(_, v)| csv_cell(v)).collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            out
        }
    }
}

fn csv_cell(value: String) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn table(summaries: &[Summary]) -> String {
    let rows: Vec<Vec<(&str, String)>> = summaries.iter().map(Summary::fields).collect();
    let Some(first) = rows.first() else {
        return String::new();
    };
    let label_width = first.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let widths: Vec<usize> = rows
        .iter()
        .map(|row| row.iter().map(|(_, v)| v.len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (line, (name, _)) in first.iter().enumerate() {
        out.push_str(&format!("{name:<label_width$}"));
        for (row, width) in rows.iter().zip(&widths) {
            out.push_str(&format!("  {:>width$}", row[line].1));
        }
        out.push('\n');
    }
    out
}
