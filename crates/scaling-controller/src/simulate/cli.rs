//! `sextant-controller simulate`'s command line: which history to read, which policies to
//! replay, and where the summary and the chart go.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use jiff::Timestamp;
use metrics_store::{HttpStore, StoreConfig};

use super::engine::{Run, SimulationOptions, simulate};
use super::history::{self, History};
use super::plan::{self, Plan};
use super::summary::{Format, Summary, render};
use super::{Error, Result, chart, sample, store};

/// Flags of `sextant-controller simulate`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// The ScalingPolicy YAML to replay.
    #[arg(short = 'f', long = "filename", value_name = "POLICY")]
    pub policy: PathBuf,
    /// Read the history from this Prometheus-compatible store with one range query per metric.
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    pub prometheus: Option<String>,
    /// Start of the range query: RFC 3339 or Unix seconds (default: --end minus one day).
    #[arg(long, value_parser = parse_instant, requires = "prometheus")]
    pub start: Option<Timestamp>,
    /// End of the range query: RFC 3339 or Unix seconds (default: now).
    #[arg(long, value_parser = parse_instant, requires = "prometheus")]
    pub end: Option<Timestamp>,
    /// Range query step, e.g. 15s or 1m (default: the policy's syncPeriodSeconds).
    #[arg(long, value_parser = parse_duration, requires = "prometheus")]
    pub step: Option<Duration>,
    /// PromQL for a metric's column, KEY=PROMQL (repeatable); default `sum(KEY)`, or an External
    /// metric's own `query` for the key `query`.
    #[arg(long = "query", value_name = "KEY=PROMQL", value_parser = parse_query)]
    pub queries: Vec<(String, String)>,
    /// Read the history from a CSV or JSON data file (see docs/simulate.md).
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// A second ScalingPolicy to replay over the same history and overlay.
    #[arg(long, value_name = "POLICY")]
    pub compare: Option<PathBuf>,
    /// Write the chart here: .svg or .png.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How to print the summary.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// How long a new pod stays unready, e.g. 30s.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub pod_startup: Duration,
    /// Replicas before the first step (default: minReplicas, at least 1), all ready.
    #[arg(long)]
    pub initial_replicas: Option<i32>,
}

/// Runs the command: the summary on stdout, the error (one line) on stderr, exit 1 on error.
pub fn main(args: &SimulateArgs) -> ExitCode {
    match run(args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sextant-controller simulate: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the policies and the history, replays, prints the summary and writes the chart.
pub fn run(args: &SimulateArgs, out: &mut dyn Write) -> Result<()> {
    let mut plans = vec![plan::load(&args.policy)?];
    if let Some(compare) = &args.compare {
        plans.push(plan::load(compare)?);
    }
    let history = read_history(args, &plans)?;
    let options = SimulationOptions {
        pod_startup_millis: i64::try_from(args.pod_startup.as_millis()).unwrap_or(i64::MAX),
        initial_replicas: args.initial_replicas,
    };
    let runs = plans
        .iter()
        .map(|plan| simulate(plan, &history, options))
        .collect::<Result<Vec<Run>>>()?;
    let summaries: Vec<Summary> = runs.iter().map(Summary::of).collect();
    let io = |source| Error::Io {
        path: "stdout".to_owned(),
        source,
    };
    out.write_all(render(&summaries, args.format).as_bytes())
        .map_err(io)?;
    if let Some(path) = &args.out {
        chart::write(path, &runs, &history.origin)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The history: the data file, else the store, else the bundled sample.
fn read_history(args: &SimulateArgs, plans: &[Plan]) -> Result<History> {
    if let Some(data) = &args.data {
        return history::load(data);
    }
    let Some(url) = &args.prometheus else {
        return sample::history();
    };
    let end = args.end.unwrap_or_else(Timestamp::now);
    let start = match args.start {
        Some(start) => start,
        None => end
            .checked_sub(jiff::SignedDuration::from_hours(24))
            .map_err(|e| Error::Usage(format!("--end {end}: {e}")))?,
    };
    let sync = plans.first().map_or(15, |p| p.sync_seconds);
    let step = args
        .step
        .unwrap_or(Duration::from_secs(u64::try_from(sync).unwrap_or(15)));
    if step.is_zero() {
        return Err(Error::Usage("--step must be positive".to_owned()));
    }
    let overrides: BTreeMap<String, String> = args.queries.iter().cloned().collect();
    let refs: Vec<&Plan> = plans.iter().collect();
    let columns = store::queries(&refs, &overrides);
    let client = HttpStore::new(StoreConfig::new(url.clone())).map_err(|source| Error::Store {
        key: "-".to_owned(),
        query: "-".to_owned(),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            path: "the async runtime".to_owned(),
            source,
        })?;
    runtime.block_on(store::fetch(
        &client,
        &format!("{} ({start} to {end})", client.url()),
        &columns,
        start,
        end,
        step,
    ))
}

/// Reads an instant: RFC 3339 or Unix seconds.
pub fn parse_instant(text: &str) -> std::result::Result<Timestamp, String> {
    let millis = history::parse_time(text)?;
    Timestamp::from_millisecond(millis).map_err(|e| format!("{text:?}: {e}"))
}

/// Reads a duration: a number with a unit `ms`, `s`, `m` or `h`, or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as 30s, 1m or 500ms"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// Reads `KEY=PROMQL`.
pub fn parse_query(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, query)) if !key.trim().is_empty() && !query.trim().is_empty() => {
            Ok((key.trim().to_owned(), query.trim().to_owned()))
        }
        _ => Err(format!("{text:?} is not KEY=PROMQL")),
    }
}
