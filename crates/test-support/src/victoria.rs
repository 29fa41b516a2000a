//! A real VictoriaMetrics single-node server, loaded through its import API.

use tempfile::TempDir;

use crate::process::{ServerProcess, find_binary, free_port};
use crate::{Error, Result, Series, prometheus_text};

/// A running VictoriaMetrics on `127.0.0.1`, stopped when dropped.
#[derive(Debug)]
pub struct VictoriaMetricsServer {
    url: String,
    client: reqwest::Client,
    _process: ServerProcess,
    _data: TempDir,
}

impl VictoriaMetricsServer {
    /// Starts VictoriaMetrics, returning once `/health` answers.
    ///
    /// Queries see the newest samples at once (`-search.latencyOffset=0s`, no result cache), so
    /// tests need not wait out the defaults meant for production ingestion.
    pub async fn start() -> Result<Self> {
        let binary = find_binary("victoria-metrics", "victoria-metrics")?;
        let data = tempfile::tempdir().map_err(|source| Error::Io {
            what: "a data directory".into(),
            source,
        })?;
        let port = free_port()?;
        let args = vec![
            format!("-storageDataPath={}", data.path().join("data").display()),
            format!("-httpListenAddr=127.0.0.1:{port}"),
            "-retentionPeriod=100y".to_owned(),
            "-search.latencyOffset=0s".to_owned(),
            "-search.disableCache".to_owned(),
            "-loggerLevel=ERROR".to_owned(),
        ];
        let mut process =
            ServerProcess::spawn(&binary, &args, data.path().join("victoria-metrics.log"))?;
        let url = format!("http://127.0.0.1:{port}");
        process
            .wait_ready("victoria-metrics", &format!("{url}/health"))
            .await?;
        Ok(VictoriaMetricsServer {
            url,
            client: crate::http_client(std::time::Duration::from_secs(60))?,
            _process: process,
            _data: data,
        })
    }

    /// Imports `series` and flushes them so the next query sees them.
    pub async fn import(&self, series: &[Series]) -> Result<()> {
        self.client
            .post(format!("{}/api/v1/import/prometheus", self.url))
            .body(prometheus_text(series))
            .send()
            .await?
            .error_for_status()?;
        self.client
            .get(format!("{}/internal/force_flush", self.url))
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }
}
