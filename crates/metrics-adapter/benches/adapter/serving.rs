//! Latency and throughput: the adapter over HTTPS, Prometheus directly and (for latency) the
//! floor proxy, asked for the same per-pod request rates (see the bench's documentation for
//! what each timing includes).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use metrics_adapter::RuleKind;
use metrics_adapter::defaults::{DEFAULT_WINDOW, default_config};
use metrics_adapter::options::Options;
use metrics_adapter::querying::{ObjectQuery, Objects};
use metrics_adapter::registry::Registry;
use metrics_adapter::serve::Adapter;
use metrics_model::association::GroupResource;
use metrics_model::promql::MetricName;
use metrics_model::{Quantity, Selector};
use metrics_store::{HttpStore, StoreConfig};
use serde::Deserialize;
use test_support::{PrometheusServer, Series};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::floor::{self, Work};
use crate::{
    BenchResult, NAMESPACES, PODS, Pki, QUERY_TIMEOUT, Report, client_builder, ms, now_millis,
    percentile,
};

const NAMESPACE: &str = "ns7";

const METRIC: &str = "http_requests_per_second";

const PATH: &str =
    "/apis/custom.metrics.k8s.io/v1beta2/namespaces/ns7/pods/*/http_requests_per_second";

const WARM_UP: usize = 200;

const REQUESTS: usize = 2_000;

const BLOCK: usize = 100;

const CONCURRENCY: [usize; 2] = [8, 32];

const THROUGHPUT_SPAN: Duration = Duration::from_secs(10);

/// Targets.
const P50_RATIO: f64 = 1.15;

const P99_ADDED: Duration = Duration::from_millis(2);

const MIN_RPS: f64 = 3_000.0;

/// The request counters: pod `i` of the 10,000 serves 0.5 × (1 + i mod 20) requests per second.
fn request_series(now: i64) -> Vec<Series> {
    let start = now - 600_000;
    let mut all = Vec::with_capacity(NAMESPACES * PODS);
    for n in 0..NAMESPACES {
        let namespace = format!("ns{n}");
        for p in 0..PODS {
            let rate = 0.5 * (1 + (n * PODS + p) % 20) as f64;
            let pod = format!("pod-{p}");
            let labels = [("namespace", namespace.as_str()), ("pod", pod.as_str())];
            all.push(
                (0..=56).fold(Series::new("http_requests_total", &labels), |s, i| {
                    s.sample(start + i * 15_000, rate * 15.0 * i as f64)
                }),
            );
        }
    }
    all
}

#[derive(Deserialize)]
struct PromAnswer {
    data: PromData,
}

#[derive(Deserialize)]
struct PromData {
    result: Vec<PromSample>,
}

#[derive(Deserialize)]
struct PromSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

#[derive(Deserialize)]
struct ValueList {
    items: Vec<MetricValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricValue {
    described_object: DescribedObject,
    value: String,
}

#[derive(Deserialize)]
struct DescribedObject {
    name: String,
}

/// One of the two ways to the per-pod rates.
#[derive(Clone)]
enum Target {
    Adapter {
        client: reqwest::Client,
        url: String,
    },
    Direct {
        client: reqwest::Client,
        url: String,
        form: Arc<[(&'static str, String)]>,
    },
}

impl Target {
    /// The same target on another client (another connection).
    fn with_client(&self, client: reqwest::Client) -> Self {
        match self {
            Target::Adapter { url, .. } => Target::Adapter {
                client,
                url: url.clone(),
            },
            Target::Direct { url, form, .. } => Target::Direct {
                client,
                url: url.clone(),
                form: Arc::clone(form),
            },
        }
    }

    /// Sends the request and reads the whole body; an answer other than 200 is an error.
    async fn fetch(&self) -> BenchResult<impl AsRef<[u8]> + use<>> {
        let request = match self {
            Target::Adapter { client, url } => client.get(url),
            Target::Direct { client, url, form } => client.post(url).form(&**form),
        };
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }

    /// One timed request: fetch and decode; returns how many values the answer held and how
    /// long it took from sending to the answer's last byte, and from sending to decoded.
    async fn call(&self) -> BenchResult<(usize, Duration, Duration)> {
        let started = Instant::now();
        let body = self.fetch().await?;
        let received = started.elapsed();
        let values = match self {
            Target::Adapter { .. } => decode_adapter(body.as_ref())?.len(),
            Target::Direct { .. } => decode_direct(body.as_ref())?.len(),
        };
        Ok((values, received, started.elapsed()))
    }

    /// (pod, value as the adapter serves it), sorted by pod, for the equality check.
    async fn values(&self) -> BenchResult<Vec<(String, Quantity)>> {
        let body = self.fetch().await?;
        let mut values = match self {
            Target::Adapter { .. } => decode_adapter(body.as_ref())?,
            Target::Direct { .. } => decode_direct(body.as_ref())?
                .into_iter()
                .map(|(pod, value)| Ok((pod, Quantity::from_f64(value)?)))
                .collect::<BenchResult<Vec<_>>>()?,
        };
        values.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(values)
    }
}

/// The adapter's `MetricValueList` as (pod, quantity), as a client such as the HPA reads it.
fn decode_adapter(body: &[u8]) -> BenchResult<Vec<(String, Quantity)>> {
    serde_json::from_slice::<ValueList>(body)?
        .items
        .into_iter()
        .map(|item| Ok((item.described_object.name, Quantity::parse(&item.value)?)))
        .collect()
}

/// Prometheus's vector as (pod, value), as the adapter's store client reads it.
fn decode_direct(body: &[u8]) -> BenchResult<Vec<(String, f64)>> {
    serde_json::from_slice::<PromAnswer>(body)?
        .data
        .result
        .into_iter()
        .map(|sample| {
            let pod = sample
                .metric
                .get("pod")
                .cloned()
                .ok_or("a sample without pod")?;
            Ok((pod, sample.value.1.parse::<f64>()?))
        })
        .collect()
}

/// Aborts a spawned task (the in-process adapter) when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Latency and throughput against the 100 × 100 pods Prometheus.
pub async fn serving(pki: &Pki, report: &mut Report) -> BenchResult {
    let started = Instant::now();
    let prometheus = PrometheusServer::with_series(request_series(now_millis()?)).await?;
    println!(
        "\nPrometheus: {NAMESPACES} namespaces × {PODS} pods of http_requests_total, 15 s samples \
         (backfilled and started in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    // The PromQL the provider sends: the catalog entry serving the metric for pods, its rule's
    // query for every pod of the namespace.
    let store = HttpStore::new(StoreConfig::new(prometheus.url()))?;
    let registry = Registry::new(
        Arc::new(default_config(DEFAULT_WINDOW)?),
        Duration::from_secs(30),
    );
    registry.relist(&store, QUERY_TIMEOUT).await?;
    let pods = GroupResource::new("pods", "");
    let catalog = registry.catalog();
    let entry = catalog
        .custom(&pods, METRIC)
        .ok_or("the metric is not discovered")?;
    let rule = catalog
        .rule(RuleKind::Custom, entry.rule)
        .ok_or("no such rule")?;
    let query = rule.object_query(&ObjectQuery {
        series: &MetricName::new(&*entry.series)?,
        resource: &pods,
        namespace: Some(NAMESPACE),
        objects: Objects::All,
        metric_selector: &Selector::everything(),
    })?;
    println!("query (adapter and direct): {query}");

    let options = Options::try_parse_from(
        std::iter::once("sextant-adapter".to_owned()).chain(pki.flags(0, prometheus.url())),
    )?;
    let adapter = Adapter::start_with(&options, None).await?;
    let port = adapter.local_addr()?.port();
    let _serving = AbortOnDrop(tokio::spawn(adapter.serve(std::future::pending())));
    let via_adapter = Target::Adapter {
        client: pki.client()?,
        url: format!("https://127.0.0.1:{port}{PATH}"),
    };
    let direct_url = format!("{}/api/v1/query", prometheus.url());
    let form: Arc<[(&'static str, String)]> = Arc::from(vec![
        ("query", query),
        ("timeout", format!("{}ms", QUERY_TIMEOUT.as_millis())),
    ]);
    let direct = Target::Direct {
        client: client_builder().build()?,
        url: direct_url.clone(),
        form: Arc::clone(&form),
    };

    // Wait for the adapter's first relist, then check both give the same answer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let served = loop {
        match via_adapter.values().await {
            Ok(values) => break values,
            Err(error) if Instant::now() > deadline => {
                return Err(format!("the adapter never served {PATH}: {error}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let expected = direct.values().await?;
    if served != expected || served.len() != PODS {
        return Err(format!(
            "the answers differ: adapter {} values, direct {} values; first adapter {:?}, \
             first direct {:?}",
            served.len(),
            expected.len(),
            served.first(),
            expected.first()
        )
        .into());
    }
    println!(
        "checked: both answer the same {} pods with equal values (e.g. {} = {})",
        served.len(),
        served[0].0,
        served[0].1
    );

    // The floors: bare proxies making the direct call and answering what the adapter answered,
    // one as stored, one written anew from Prometheus's answer by hand.
    let answer = axum::body::Bytes::copy_from_slice(via_adapter.fetch().await?.as_ref());
    let mut floors = Vec::new();
    let mut via_floors = Vec::new();
    for work in [Work::None, Work::Minimal] {
        let floor = floor::start(
            pki,
            direct_url.clone(),
            Arc::clone(&form),
            answer.clone(),
            work,
        )
        .await?;
        let target = Target::Adapter {
            client: pki.client()?,
            url: format!("https://127.0.0.1:{}{PATH}", floor.port),
        };
        // The hand-written list must be the adapter's (same pods, values and length; only the
        // evaluation time in each timestamp may differ), or it proves nothing.
        let served = target.fetch().await?;
        if served.as_ref().len() != answer.len()
            || decode_adapter(served.as_ref())? != decode_adapter(&answer)?
        {
            return Err("a floor proxy answers another list than the adapter".into());
        }
        floors.push(floor);
        via_floors.push(target);
    }
    latency(
        [&via_adapter, &direct, &via_floors[0], &via_floors[1]],
        report,
    )
    .await?;
    drop(floors);
    for k in CONCURRENCY {
        let clients = (0..k)
            .map(|_| pki.client())
            .collect::<BenchResult<Vec<_>>>()?;
        let calls_before = query_calls(prometheus.url()).await?;
        let (rps, errors) = throughput(&via_adapter, clients).await?;
        let calls = query_calls(prometheus.url()).await? - calls_before;
        report.judge(
            &format!("adapter throughput, {k} connections (HTTPS, keep-alive)"),
            format!("{rps:.0} requests/s, {errors} errors"),
            &format!("≥ {MIN_RPS:.0}/s, 0 errors"),
            rps >= MIN_RPS && errors == 0,
        );
        // Every request of the run (warm-up and the ones cut off at the end included).
        let answers = rps * THROUGHPUT_SPAN.as_secs_f64() + errors as f64 + 2.0 * k as f64;
        println!(
            "  Prometheus /api/v1/query calls per adapter request: {:.2} ({calls:.0} calls)",
            calls / answers
        );
        let clients = (0..k)
            .map(|_| Ok(client_builder().build()?))
            .collect::<BenchResult<Vec<_>>>()?;
        let (rps, errors) = throughput(&direct, clients).await?;
        println!(
            "  context: direct Prometheus, {k} connections (HTTP, keep-alive): {rps:.0} \
             requests/s, {errors} errors"
        );
    }
    Ok(())
}

/// How many `/api/v1/query` calls Prometheus has answered, from its own `/metrics`.
async fn query_calls(prometheus: &str) -> BenchResult<f64> {
    let text = client_builder()
        .build()?
        .get(format!("{prometheus}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let mut calls = 0.0;
    for line in text.lines().filter(|line| {
        line.starts_with("prometheus_http_requests_total{")
            && line.contains(r#"handler="/api/v1/query""#)
    }) {
        let count = line.rsplit(' ').next().ok_or("an empty metrics line")?;
        calls += count.parse::<f64>()?;
    }
    Ok(calls)
}

/// Sequential requests in rotating blocks to the adapter, the direct call and the two floors
/// (see [`floor`]); prints the percentiles and judges the adapter's against the direct call's.
async fn latency(targets: [&Target; 4], report: &mut Report) -> BenchResult {
    for _ in 0..WARM_UP {
        for target in targets {
            target.call().await?;
        }
    }
    let mut times: [Vec<Duration>; 4] = std::array::from_fn(|_| Vec::with_capacity(REQUESTS));
    let mut last_byte: [Vec<Duration>; 4] = std::array::from_fn(|_| Vec::with_capacity(REQUESTS));
    for block in 0..REQUESTS / BLOCK {
        // Each target leads a quarter of the blocks, so drift hits all alike.
        for turn in 0..targets.len() {
            let which = (block + turn) % targets.len();
            for _ in 0..BLOCK {
                let (values, received, decoded) = targets[which].call().await?;
                times[which].push(decoded);
                last_byte[which].push(received);
                if values != PODS {
                    return Err(format!("an answer held {values} values, not {PODS}").into());
                }
            }
        }
    }
    for series in &mut times {
        series.sort();
    }
    let [adapter_times, direct_times, floor_times, minimal_times] = &times;
    println!(
        "\nlatency, {REQUESTS} sequential requests each after {WARM_UP} warm-up, rotating \
         blocks of {BLOCK}, send to decoded answer:"
    );
    for (name, series) in [
        ("adapter (HTTPS)             ", adapter_times),
        ("direct (HTTP)               ", direct_times),
        ("floor proxy (HTTPS)         ", floor_times),
        ("floor + minimal work (HTTPS)", minimal_times),
    ] {
        println!(
            "  {name}: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(percentile(series, 0.50)),
            ms(percentile(series, 0.90)),
            ms(percentile(series, 0.99)),
            series.last().map_or(0.0, |d| ms(*d)),
        );
    }
    let p50 = |series: &[Duration]| percentile(series, 0.50).as_secs_f64();
    for series in &mut last_byte {
        series.sort();
    }
    // The same requests timed to the answer's last byte, before the client decodes it.
    println!(
        "  send to the answer's last byte (not decoded), p50: adapter {:.3} ms, direct {:.3} ms \
         ({:.2}×), floors {:.2}× and {:.2}×",
        ms(percentile(&last_byte[0], 0.50)),
        ms(percentile(&last_byte[1], 0.50)),
        p50(&last_byte[0]) / p50(&last_byte[1]),
        p50(&last_byte[2]) / p50(&last_byte[1]),
        p50(&last_byte[3]) / p50(&last_byte[1]),
    );
    let ratio = p50(adapter_times) / p50(direct_times);
    println!(
        "  floors, p50 against the direct call: a bare HTTPS proxy answering the stored list \
         {:.2}×; the same decoding Prometheus's answer and writing the list by hand {:.2}×; \
         the adapter's own work adds {:.3} ms p50 over the bare proxy",
        p50(floor_times) / p50(direct_times),
        p50(minimal_times) / p50(direct_times),
        (p50(adapter_times) - p50(floor_times)) * 1e3,
    );
    report.judge(
        "p50 adapter / direct",
        format!("{ratio:.2}×"),
        &format!("≤ {P50_RATIO}×"),
        ratio <= P50_RATIO,
    );
    let p99_added = ms(percentile(adapter_times, 0.99)) - ms(percentile(direct_times, 0.99));
    report.judge(
        "p99 added (adapter − direct)",
        format!("{p99_added:.3} ms"),
        &format!("≤ {} ms", ms(P99_ADDED)),
        p99_added <= ms(P99_ADDED),
    );
    Ok(())
}

/// One task per client, each issuing the request back to back for [`THROUGHPUT_SPAN`] after
/// one untimed request (its connection's handshake); (answers per second, errors).
async fn throughput(target: &Target, clients: Vec<reqwest::Client>) -> BenchResult<(f64, u64)> {
    let barrier = Arc::new(Barrier::new(clients.len()));
    let tasks: Vec<JoinHandle<BenchResult<(u64, u64)>>> = clients
        .into_iter()
        .map(|client| {
            let target = target.with_client(client);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                target.fetch().await?;
                barrier.wait().await;
                let end = Instant::now() + THROUGHPUT_SPAN;
                let (mut done, mut errors) = (0, 0);
                loop {
                    let result = target.fetch().await;
                    if Instant::now() > end {
                        break;
                    }
                    match result {
                        Ok(_) => done += 1,
                        Err(_) => errors += 1,
                    }
                }
                Ok((done, errors))
            })
        })
        .collect();
    let (mut done, mut errors) = (0, 0);
    for task in tasks {
        let (d, e) = task.await??;
        done += d;
        errors += e;
    }
    Ok((done as f64 / THROUGHPUT_SPAN.as_secs_f64(), errors))
}
