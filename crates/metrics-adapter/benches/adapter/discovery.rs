//! Discovery at 100,000 series: the in-process relist's time and stages, and the memory of the
//! `sextant-adapter` binary once it has discovered them.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_adapter::defaults::{DEFAULT_WINDOW, default_config};
use metrics_adapter::registry::{LOOKBACK, Registry};
use metrics_store::{HttpStore, MetricsStore, StoreConfig, TimeRange};
use serde::Deserialize;
use test_support::{PrometheusServer, Series};

use crate::{
    BenchResult, NAMESPACES, PODS, Pki, QUERY_TIMEOUT, Report, client_builder, free_port, ms,
    now_millis,
};

const RELIST_RUNS: usize = 5;

const MEMORY_RUNS: usize = 3;

const COUNTERS: [&str; 5] = [
    "http_requests_total",
    "http_request_errors_total",
    "grpc_server_handled_total",
    "kafka_consumer_records_consumed_total",
    "process_cpu_seconds_total",
];

const GAUGES: [&str; 5] = [
    "process_resident_memory_bytes",
    "go_goroutines",
    "queue_messages_ready",
    "http_requests_in_flight",
    "db_connections_open",
];

/// Targets.
const DISCOVERY: Duration = Duration::from_secs(1);

const MAX_RSS_MIB: f64 = 64.0;

/// 100,000 series of 10 metrics, two samples each in the last five minutes.
fn discovery_series(now: i64) -> Vec<Series> {
    let mut all = Vec::with_capacity(10 * NAMESPACES * PODS);
    for (m, name) in COUNTERS.iter().chain(GAUGES.iter()).enumerate() {
        for n in 0..NAMESPACES {
            let namespace = format!("ns{n}");
            for p in 0..PODS {
                let pod = format!("app-{n}-{p}");
                let instance = format!("10.{m}.{n}.{p}:8080");
                let labels = [
                    ("namespace", namespace.as_str()),
                    ("pod", pod.as_str()),
                    ("job", "app"),
                    ("instance", instance.as_str()),
                ];
                all.push(
                    Series::new(name, &labels)
                        .sample(now - 300_000, 100.0)
                        .sample(now - 60_000, 160.0),
                );
            }
        }
    }
    all
}

fn median(mut durations: Vec<Duration>) -> Duration {
    durations.sort();
    durations[durations.len() / 2]
}

/// The adapter binary as a child process, killed when dropped.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Deserialize)]
struct SeriesAnswer {
    data: Vec<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
struct ResourceList {
    resources: Vec<serde::de::IgnoredAny>,
}

/// Discovery at 100,000 series: in-process relist time, then the binary's memory.
pub async fn discovery(pki: &Pki, report: &mut Report) -> BenchResult {
    let started = Instant::now();
    let series = discovery_series(now_millis()?);
    let count = series.len();
    let prometheus = PrometheusServer::with_series(series).await?;
    println!(
        "\nPrometheus: {count} series ({} counters + {} gauges × {NAMESPACES} namespaces × {PODS} \
         pods; labels namespace, pod, job, instance), backfilled and started in {:.1} s",
        COUNTERS.len(),
        GAUGES.len(),
        started.elapsed().as_secs_f64()
    );
    let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
    let config = Arc::new(default_config(DEFAULT_WINDOW)?);
    let mut times = Vec::with_capacity(RELIST_RUNS);
    let mut served = 0;
    for _ in 0..RELIST_RUNS {
        let registry = Registry::new(Arc::clone(&config), Duration::from_secs(30));
        let started = Instant::now();
        registry.relist(&store, QUERY_TIMEOUT).await?;
        times.push(started.elapsed());
        served = registry.catalog().custom_metrics().count();
    }
    let runs: Vec<String> = times.iter().map(|t| format!("{:.0}", ms(*t))).collect();
    let min = times.iter().min().copied().unwrap_or_default();
    let median = median(times);
    println!(
        "Registry::relist, default rules, {RELIST_RUNS} runs: {} ms → {served} (resource, \
         metric) pairs served",
        runs.join(", ")
    );
    report.judge(
        "discovery of 100,000 series (Registry::relist, median)",
        format!("{:.0} ms (min {:.0} ms)", ms(median), ms(min)),
        &format!("≤ {:.0} ms", ms(DISCOVERY)),
        median <= DISCOVERY,
    );
    stages(&config, prometheus.url()).await?;
    memory(pki, prometheus.url(), served, report).await
}

/// One relist's work split into stages, by hand with the same calls (one per distinct
/// selector): the store's raw answer,
/// the store client's call (the same answer read into shapes: label names per metric), and the
/// rules' discovery over the shapes.
async fn stages(config: &metrics_adapter::Config, url: &str) -> BenchResult {
    let client = client_builder().build()?;
    let store = HttpStore::new(StoreConfig::new(url))?;
    let end = now_millis()?;
    let start = end - i64::try_from(LOOKBACK.as_millis())?;
    let seconds = |millis: i64| format!("{}.{:03}", millis / 1000, millis % 1000);
    let range = TimeRange {
        start: jiff::Timestamp::from_millisecond(start)?,
        end: jiff::Timestamp::from_millisecond(end)?,
    };
    let (mut fetch, mut read, mut discover) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let (mut bytes, mut series, mut shapes) = (0, 0, 0);
    let mut asked = std::collections::HashSet::new();
    // Rules sharing a selector share its call, as in the registry.
    for rule in config.rules() {
        if !asked.insert(rule.series_query()) {
            continue;
        }
        let started = Instant::now();
        let body = client
            .post(format!("{url}/api/v1/series"))
            .form(&[
                ("match[]", rule.series_query().to_owned()),
                ("start", seconds(start)),
                ("end", seconds(end)),
                ("timeout", format!("{}ms", QUERY_TIMEOUT.as_millis())),
            ])
            .send()
            .await?
            .bytes()
            .await?;
        fetch += started.elapsed();
        let answer: SeriesAnswer = serde_json::from_slice(&body)?;
        bytes += body.len();
        series += answer.data.len();
        drop(answer);
        let started = Instant::now();
        let found = store
            .series_shapes(&[rule.series_query().to_owned()], range, QUERY_TIMEOUT)
            .await?;
        read += started.elapsed();
        let started = Instant::now();
        std::hint::black_box(rule.discover_all(&found));
        discover += started.elapsed();
        shapes += found.len();
    }
    println!(
        "  one relist by stage: Prometheus answering /api/v1/series {:.0} ms ({series} series, \
         {:.1} MiB of JSON); the store client's call, answer read into {shapes} shapes {:.0} ms; \
         the rules' discover_all over the shapes {:.2} ms",
        ms(fetch),
        bytes as f64 / (1024.0 * 1024.0),
        ms(read),
        ms(discover),
    );
    Ok(())
}

/// A `kB` field of `/proc/<pid>/status`, in MiB.
fn status_mib(status: &str, field: &str) -> BenchResult<f64> {
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .ok_or_else(|| format!("no {field} in /proc/<pid>/status"))?;
    let kib: f64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib / 1024.0)
}

/// The binary against the 100,000 series, started [`MEMORY_RUNS`] times (which worker thread,
/// hence which malloc arena, each rule's relist runs on varies): memory once its discovery
/// document lists every pair, judged on the highest peak.
async fn memory(pki: &Pki, url: &str, served: usize, report: &mut Report) -> BenchResult {
    let mut peaks = Vec::with_capacity(MEMORY_RUNS);
    for _ in 0..MEMORY_RUNS {
        let (listed_after, rss, hwm) = spawn_and_measure(pki, url, served).await?;
        println!(
            "  sextant-adapter binary: all {served} pairs listed {:.2} s after spawn (process \
             start, TLS set-up, first relist); VmHWM {hwm:.1} MiB, VmRSS {rss:.1} MiB",
            listed_after.as_secs_f64()
        );
        peaks.push(hwm);
    }
    let worst = peaks.iter().copied().fold(0.0, f64::max);
    report.judge(
        &format!(
            "adapter memory after discovering 100,000 series (highest VmHWM of {MEMORY_RUNS})"
        ),
        format!("{worst:.1} MiB"),
        &format!("≤ {MAX_RSS_MIB:.0} MiB"),
        worst <= MAX_RSS_MIB,
    );
    Ok(())
}

/// Starts the binary, waits until its discovery document lists `served` pairs, and reads its
/// memory: (time from spawn, VmRSS MiB, VmHWM MiB). The process is killed on return.
async fn spawn_and_measure(
    pki: &Pki,
    url: &str,
    served: usize,
) -> BenchResult<(Duration, f64, f64)> {
    let port = free_port()?;
    let log_path = pki.dir.path().join("adapter.log");
    let log = std::fs::File::create(&log_path)?;
    let started = Instant::now();
    let mut child = ChildGuard(
        Command::new(env!("CARGO_BIN_EXE_sextant-adapter"))
            .args(pki.flags(port, url))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?,
    );
    let client = pki.client()?;
    let discovery = format!("https://127.0.0.1:{port}/apis/custom.metrics.k8s.io/v1beta2");
    let deadline = started + Duration::from_secs(60);
    loop {
        if let Some(status) = child.0.try_wait()? {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            return Err(format!("sextant-adapter exited ({status}): {log}").into());
        }
        let listed = match client.get(&discovery).send().await {
            Ok(response) if response.status().is_success() => response
                .json::<ResourceList>()
                .await
                .map_or(0, |list| list.resources.len()),
            _ => 0,
        };
        if listed >= served {
            break;
        }
        if Instant::now() > deadline {
            return Err(
                format!("sextant-adapter listed {listed} of {served} pairs in 60 s").into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listed_after = started.elapsed();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.0.id()))?;
    Ok((
        listed_after,
        status_mib(&status, "VmRSS:")?,
        status_mib(&status, "VmHWM:")?,
    ))
}
