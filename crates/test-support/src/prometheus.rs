//! A real Prometheus server: backfilled with `promtool` and/or scraping test endpoints.

use std::time::Duration;

use tempfile::TempDir;

use crate::process::{ServerProcess, find_binary, free_port};
use crate::{Error, Result, Series, openmetrics};

/// What a test Prometheus starts with.
#[derive(Debug, Clone, Default)]
pub struct PrometheusConfig {
    /// Series backfilled into the TSDB before the server starts.
    pub backfill: Vec<Series>,
    /// `host:port` targets scraped at `/metrics`.
    pub scrape_targets: Vec<String>,
    /// The scrape interval (default 1 s, so new series appear quickly).
    pub scrape_interval: Option<Duration>,
    /// A `--web.config.file` document (TLS, client certificates, basic auth); paths in it
    /// must be absolute. With one, readiness is read from the log, and [`PrometheusServer::url`]
    /// is `https://` when it configures TLS.
    pub web_config: Option<String>,
}

/// A running Prometheus on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct PrometheusServer {
    url: String,
    // Field order matters: the process stops before its data directory is removed.
    _process: ServerProcess,
    _data: TempDir,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        what: what.to_owned(),
        source,
    }
}

impl PrometheusServer {
    /// Starts Prometheus with `config`, returning once `/-/ready` answers.
    pub async fn start(config: PrometheusConfig) -> Result<Self> {
        let prometheus = find_binary("prometheus", "prometheus")?;
        let data = tempfile::tempdir().map_err(io("a data directory"))?;
        let tsdb = data.path().join("tsdb");
        if !config.backfill.is_empty() {
            let promtool = find_binary("promtool", "prometheus")?;
            let input = data.path().join("backfill.om");
            std::fs::write(&input, openmetrics(&config.backfill))
                .map_err(io("the backfill file"))?;
            let output = std::process::Command::new(&promtool)
                .args(["tsdb", "create-blocks-from", "openmetrics"])
                .arg(&input)
                .arg(&tsdb)
                .output()
                .map_err(io("running promtool"))?;
            if !output.status.success() {
                return Err(Error::Command {
                    command: format!(
                        "promtool tsdb create-blocks-from openmetrics {}",
                        input.display()
                    ),
                    output: String::from_utf8_lossy(&output.stderr).into_owned(),
                });
            }
        }
        let interval = config
            .scrape_interval
            .unwrap_or(Duration::from_secs(1))
            .as_millis();
        let mut yaml = format!(
            "global:\n  scrape_interval: {interval}ms\n  evaluation_interval: {interval}ms\n"
        );
        if !config.scrape_targets.is_empty() {
            let targets: Vec<String> = config
                .scrape_targets
                .iter()
                .map(|t| format!("'{t}'"))
                .collect();
            yaml.push_str(&format!(
                "scrape_configs:\n  - job_name: test\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ));
        }
        let config_file = data.path().join("prometheus.yml");
        std::fs::write(&config_file, yaml).map_err(io("prometheus.yml"))?;
        let port = free_port()?;
        let mut args = vec![
            format!("--config.file={}", config_file.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--storage.tsdb.retention.time=3650d".to_owned(),
            // Readiness with a web config is read from the info-level log.
            format!(
                "--log.level={}",
                if config.web_config.is_some() {
                    "info"
                } else {
                    "warn"
                }
            ),
        ];
        let tls = config
            .web_config
            .as_deref()
            .is_some_and(|c| c.contains("tls_server_config"));
        if let Some(web_config) = &config.web_config {
            let web_file = data.path().join("web.yml");
            std::fs::write(&web_file, web_config).map_err(io("web.yml"))?;
            args.push(format!("--web.config.file={}", web_file.display()));
        }
        let mut process =
            ServerProcess::spawn(&prometheus, &args, data.path().join("prometheus.log"))?;
        let url = format!("{}://127.0.0.1:{port}", if tls { "https" } else { "http" });
        match config.web_config {
            Some(_) => {
                process
                    .wait_for_log("prometheus", "Server is ready to receive web requests")
                    .await?
            }
            None => {
                process
                    .wait_ready("prometheus", &format!("{url}/-/ready"))
                    .await?
            }
        }
        Ok(PrometheusServer {
            url,
            _process: process,
            _data: data,
        })
    }

    /// Backfills `series` and starts Prometheus on them.
    pub async fn with_series(series: Vec<Series>) -> Result<Self> {
        PrometheusServer::start(PrometheusConfig {
            backfill: series,
            ..PrometheusConfig::default()
        })
        .await
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }
}
