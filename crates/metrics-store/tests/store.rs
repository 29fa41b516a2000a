//! The store client against real stores (Prometheus and VictoriaMetrics from the Debian
//! packages, TLS with client certificates on the real Prometheus) and against stores that
//! fail on purpose.

use std::time::{Duration, Instant};

use jiff::Timestamp;
use metrics_store::{
    BasicAuth, Error, HttpStore, MetricsStore, QueryMethod, StoreConfig, TimeRange,
};
use test_support::fault::{Behaviour, FaultyStore};
use test_support::pki::TestCa;
use test_support::{PrometheusConfig, PrometheusServer, Series, VictoriaMetricsServer, or_skip};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T0_MILLIS: i64 = 1_767_225_600_000;
const DEADLINE: Duration = Duration::from_secs(10);

/// Two pods' request counters, one sample every 15 s for 10 minutes: pod `a` grows 3/s and
/// pod `b` 1.5/s.
fn counters() -> Vec<Series> {
    ["a", "b"]
        .iter()
        .zip([3.0, 1.5])
        .map(|(pod, per_second)| {
            (0..=40).fold(
                Series::new(
                    "http_requests_total",
                    &[("namespace", "shop"), ("pod", pod)],
                ),
                |s, i| {
                    s.sample(
                        T0_MILLIS - 600_000 + i * 15_000,
                        per_second * 15.0 * i as f64,
                    )
                },
            )
        })
        .collect()
}

fn at(millis: i64) -> Result<Timestamp, jiff::Error> {
    Timestamp::from_millisecond(millis)
}

/// Checks every call; `syntax_error_type` is how the store names a PromQL syntax error
/// (`bad_data` for Prometheus, `422` for VictoriaMetrics).
async fn check_queries(store: &HttpStore, syntax_error_type: &str) -> TestResult {
    let query = r#"sum by (pod) (rate(http_requests_total{namespace="shop"}[2m]))"#;
    let samples = store
        .instant_query(query, Some(at(T0_MILLIS)?), DEADLINE)
        .await?;
    let mut by_pod: Vec<(String, f64)> = samples
        .iter()
        .map(|s| (s.labels["pod"].clone(), s.value))
        .collect();
    by_pod.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(by_pod.len(), 2);
    assert!((by_pod[0].1 - 3.0).abs() < 1e-9, "{by_pod:?}");
    assert!((by_pod[1].1 - 1.5).abs() < 1e-9, "{by_pod:?}");
    assert_eq!(
        samples[0].timestamp.as_millisecond(),
        T0_MILLIS,
        "an instant value carries the evaluation time"
    );

    let scalar = store
        .instant_query("scalar(vector(42))", Some(at(T0_MILLIS)?), DEADLINE)
        .await?;
    assert_eq!(scalar.len(), 1);
    assert_eq!(scalar[0].value, 42.0);
    assert!(scalar[0].labels.is_empty());

    let range = TimeRange {
        start: at(T0_MILLIS - 300_000)?,
        end: at(T0_MILLIS)?,
    };
    let matrix = store
        .range_query(
            r#"sum(rate(http_requests_total{namespace="shop"}[2m]))"#,
            range,
            Duration::from_secs(60),
            DEADLINE,
        )
        .await?;
    assert_eq!(matrix.len(), 1);
    assert_eq!(
        matrix[0].points.len(),
        6,
        "five minutes at one-minute steps, both ends included"
    );
    assert!(
        matrix[0].points.iter().all(|(_, v)| (v - 4.5).abs() < 1e-9),
        "{:?}",
        matrix[0].points
    );
    assert!(matrix[0].points.windows(2).all(|w| w[0].0 < w[1].0));

    let series = store
        .series(
            &[r#"{__name__=~"http_requests_.*",namespace="shop"}"#.to_owned()],
            range,
            DEADLINE,
        )
        .await?;
    let mut pods: Vec<&str> = series.iter().map(|labels| labels["pod"].as_str()).collect();
    pods.sort();
    assert_eq!(pods, ["a", "b"]);

    // Both pods' series have one shape: the name, and the label names without values.
    let shapes = store
        .series_shapes(
            &[r#"{__name__=~"http_requests_.*",namespace="shop"}"#.to_owned()],
            range,
            DEADLINE,
        )
        .await?;
    assert_eq!(shapes, metrics_store::shapes_of(&series));
    assert_eq!(shapes.len(), 1, "{shapes:?}");
    assert_eq!(shapes[0]["__name__"], "http_requests_total");
    assert_eq!(shapes[0]["pod"], "", "{shapes:?}");
    assert!(shapes[0].contains_key("namespace"), "{shapes:?}");
    let names = store
        .metric_names(&[r#"{namespace="shop"}"#.to_owned()], range, DEADLINE)
        .await?;
    assert_eq!(names, ["http_requests_total"]);

    match store
        .instant_query("sum(rate(http_requests_total[2m]", None, DEADLINE)
        .await
    {
        Err(Error::Query {
            error_type,
            message,
        }) => {
            assert_eq!(error_type, syntax_error_type);
            assert!(!message.is_empty());
        }
        other => panic!("a syntax error should be a query error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn queries_a_real_prometheus_by_post_and_get() -> TestResult {
    let Some(prometheus) = or_skip(PrometheusServer::with_series(counters()).await)? else {
        return Ok(());
    };
    check_queries(
        &HttpStore::new(StoreConfig::new(prometheus.url()))?,
        "bad_data",
    )
    .await?;
    let get = StoreConfig {
        method: QueryMethod::Get,
        ..StoreConfig::new(prometheus.url())
    };
    check_queries(&HttpStore::new(get)?, "bad_data").await
}

#[tokio::test]
async fn queries_a_real_victoria_metrics() -> TestResult {
    let Some(victoria) = or_skip(VictoriaMetricsServer::start().await)? else {
        return Ok(());
    };
    victoria.import(&counters()).await?;
    check_queries(&HttpStore::new(StoreConfig::new(victoria.url()))?, "422").await
}

#[tokio::test]
async fn speaks_mutual_tls_to_a_real_prometheus() -> TestResult {
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new(dir.path(), "store")?;
    let server = ca.server_cert("prometheus")?;
    let client = ca.client_cert("sextant", &[])?;
    let web_config = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
        server.cert_path.display(),
        server.key_path.display(),
        ca.cert_path().display()
    );
    let config = PrometheusConfig {
        backfill: counters(),
        web_config: Some(web_config),
        ..PrometheusConfig::default()
    };
    let Some(prometheus) = or_skip(PrometheusServer::start(config).await)? else {
        return Ok(());
    };
    assert!(prometheus.url().starts_with("https://"));
    let mutual = StoreConfig {
        ca_file: Some(ca.cert_path().to_owned()),
        client_cert: Some((client.cert_path.clone(), client.key_path.clone())),
        ..StoreConfig::new(prometheus.url())
    };
    check_queries(&HttpStore::new(mutual.clone())?, "bad_data").await?;

    let without_client_cert = StoreConfig {
        client_cert: None,
        ..mutual.clone()
    };
    let refused = HttpStore::new(without_client_cert)?
        .instant_query("up", None, DEADLINE)
        .await;
    assert!(
        matches!(refused, Err(Error::Unavailable { .. })),
        "no client certificate: {refused:?}"
    );

    let other_ca = TestCa::new(dir.path(), "other")?;
    let untrusted = StoreConfig {
        ca_file: Some(other_ca.cert_path().to_owned()),
        ..mutual
    };
    let refused = HttpStore::new(untrusted)?
        .instant_query("up", None, DEADLINE)
        .await;
    assert!(
        matches!(&refused, Err(Error::Unavailable { reason, .. }) if reason.contains("certificate")),
        "server certificate from another CA: {refused:?}"
    );
    Ok(())
}

#[tokio::test]
async fn sends_credentials_headers_and_the_deadline() -> TestResult {
    let answer = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    let store = FaultyStore::start(Behaviour::Answer {
        status: 200,
        body: answer.to_owned(),
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n")?;
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "hunter2\n")?;

    let bearer = StoreConfig {
        bearer_token_file: Some(token_file),
        headers: vec![("X-Scope-OrgID".to_owned(), "tenant-1".to_owned())],
        ..StoreConfig::new(store.url())
    };
    HttpStore::new(bearer)?
        .instant_query("up", None, Duration::from_millis(250))
        .await?;
    let basic = StoreConfig {
        basic_auth: Some(BasicAuth {
            username: "sextant".to_owned(),
            password_file,
        }),
        ..StoreConfig::new(format!("{}/", store.url()))
    };
    HttpStore::new(basic)?
        .instant_query("up", None, DEADLINE)
        .await?;

    let requests = store.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].request_line, "POST /api/v1/query HTTP/1.1");
    assert_eq!(
        requests[0].header("authorization"),
        Some("Bearer s3cret-token")
    );
    assert_eq!(requests[0].header("x-scope-orgid"), Some("tenant-1"));
    assert_eq!(
        requests[0].body, "query=up&timeout=250ms",
        "the deadline travels as the store's timeout"
    );
    // "sextant:hunter2" in base64; the trailing newline of the file is not part of the password.
    assert_eq!(
        requests[1].header("authorization"),
        Some("Basic c2V4dGFudDpodW50ZXIy")
    );
    assert_eq!(
        requests[1].request_line, "POST /api/v1/query HTTP/1.1",
        "a trailing slash in the URL is not doubled"
    );
    Ok(())
}

#[tokio::test]
async fn credentials_in_the_url_become_basic_auth_and_appear_nowhere_else() -> TestResult {
    let answer = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
    let store = FaultyStore::start(Behaviour::Answer {
        status: 200,
        body: answer.to_owned(),
    })
    .await?;
    let address = store.url().trim_start_matches("http://");
    let with_credentials = HttpStore::new(StoreConfig::new(format!(
        "http://sextant:hunter%32@{address}/"
    )))?;
    assert_eq!(
        with_credentials.url(),
        store.url(),
        "the URL kept for messages has no password"
    );
    with_credentials.instant_query("up", None, DEADLINE).await?;
    // A Host header the operator configured is sent as given.
    let own_host = StoreConfig {
        headers: vec![("Host".to_owned(), "prometheus.example".to_owned())],
        ..StoreConfig::new(store.url())
    };
    HttpStore::new(own_host)?
        .instant_query("up", None, DEADLINE)
        .await?;

    let requests = store.requests();
    assert_eq!(requests.len(), 2);
    // "sextant:hunter2" in base64: the password is percent-decoded.
    assert_eq!(
        requests[0].header("authorization"),
        Some("Basic c2V4dGFudDpodW50ZXIy")
    );
    assert_eq!(
        requests[0].header("host"),
        Some(address),
        "no user part in Host"
    );
    assert_eq!(requests[1].header("host"), Some("prometheus.example"));

    let both = StoreConfig {
        bearer_token_file: Some("/dev/null".into()),
        ..StoreConfig::new(format!("http://sextant:hunter2@{address}"))
    };
    assert!(matches!(HttpStore::new(both), Err(Error::Config(_))));
    Ok(())
}

#[tokio::test]
async fn a_store_that_is_down_is_unavailable() -> TestResult {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let store = HttpStore::new(StoreConfig::new(format!("http://127.0.0.1:{port}")))?;
    let result = store.instant_query("up", None, DEADLINE).await;
    assert!(
        matches!(&result, Err(Error::Unavailable { url, .. }) if url.ends_with(&port.to_string())),
        "{result:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_store_slower_than_the_deadline_times_out_at_the_deadline() -> TestResult {
    let silent = FaultyStore::start(Behaviour::Silent).await?;
    let store = HttpStore::new(StoreConfig::new(silent.url()))?;
    let started = Instant::now();
    let result = store
        .instant_query("up", None, Duration::from_millis(300))
        .await;
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(Error::Timeout { deadline }) if deadline == Duration::from_millis(300)),
        "{result:?}"
    );
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
    Ok(())
}

#[tokio::test]
async fn garbage_from_the_store_is_a_bad_response() -> TestResult {
    let proxy_page = FaultyStore::start(Behaviour::Answer {
        status: 502,
        body: "<html>bad gateway</html>".to_owned(),
    })
    .await?;
    let result = HttpStore::new(StoreConfig::new(proxy_page.url()))?
        .instant_query("up", None, DEADLINE)
        .await;
    assert!(
        matches!(&result, Err(Error::BadResponse { status: 502, reason }) if reason.contains("<html>")),
        "{result:?}"
    );
    Ok(())
}

#[test]
fn unusable_configuration_fails_at_construction() {
    let both = StoreConfig {
        bearer_token_file: Some("/dev/null".into()),
        basic_auth: Some(BasicAuth {
            username: "u".to_owned(),
            password_file: "/dev/null".into(),
        }),
        ..StoreConfig::new("http://127.0.0.1:1")
    };
    assert!(
        matches!(HttpStore::new(both), Err(Error::Config(message)) if message.contains("choose one of"))
    );
    assert!(matches!(
        HttpStore::new(StoreConfig::new("prometheus:9090")),
        Err(Error::Config(_))
    ));
    let missing_ca = StoreConfig {
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..StoreConfig::new("https://127.0.0.1:1")
    };
    assert!(
        matches!(HttpStore::new(missing_ca), Err(Error::Config(message)) if message.contains("/nonexistent/ca.pem"))
    );
    let missing_token = StoreConfig {
        bearer_token_file: Some("/nonexistent/token".into()),
        ..StoreConfig::new("http://127.0.0.1:1")
    };
    assert!(matches!(
        HttpStore::new(missing_token),
        Err(Error::Config(_))
    ));
    let bad_header = StoreConfig {
        headers: vec![("bad header".to_owned(), "x".to_owned())],
        ..StoreConfig::new("http://127.0.0.1:1")
    };
    assert!(matches!(HttpStore::new(bad_header), Err(Error::Config(_))));
}
