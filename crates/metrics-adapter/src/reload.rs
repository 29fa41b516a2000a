//! Reloading `--config` when the file changes, as a mounted ConfigMap does when it is edited.
//!
//! The file is read every [`CONFIG_POLL_INTERVAL`] and compared with the text last seen (a
//! ConfigMap update swaps a symlink, which inotify on the file itself would miss; reading a
//! few kilobytes every few seconds costs nothing). A changed file that compiles replaces the
//! configuration and is relisted at once, so its metrics are servable within one store call. A
//! changed file that does not compile, or cannot be read, is reported — an `error` log, the
//! `sextant_adapter_config_last_reload_successful` gauge at 0, and a line in `/readyz` — and the
//! last good configuration keeps serving. Readiness itself is not withdrawn: every replica would
//! read the same bad file, and taking them all out of the Service would stop the metrics APIs
//! for an error that serving the previous rules does not have.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use metrics_store::MetricsStore;

use crate::Config;
use crate::registry::Registry;

/// How often the configuration file is checked for changes.
pub const CONFIG_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// Watches one configuration file for the [`Registry`] serving it.
#[derive(Debug)]
pub struct ConfigWatch {
    path: PathBuf,
    last_text: Option<String>,
}

impl ConfigWatch {
    /// Watches `path`, whose current text (already loaded and serving) is `loaded`.
    pub fn new(path: PathBuf, loaded: Option<String>) -> Self {
        ConfigWatch {
            path,
            last_text: loaded,
        }
    }

    /// Reads the file once; when its text changed, applies it to `registry` (and relists with
    /// `store`) or reports why not. Returns whether a new configuration was applied.
    pub async fn check<S: MetricsStore>(
        &mut self,
        registry: &Registry,
        store: &S,
        deadline: Duration,
    ) -> bool {
        let shown = self.path.display().to_string();
        let text = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text,
            Err(error) => {
                // Whatever text comes back (even the one serving) is applied anew, which also
                // clears this report.
                self.last_text = None;
                let problem = format!("cannot read {shown}: {error}");
                if registry.config_problem().as_deref() != Some(problem.as_str()) {
                    tracing::error!(%problem, "configuration not reloaded; serving the last good one");
                    registry.metrics().record_reload(false);
                    registry.set_config_problem(Some(problem));
                }
                return false;
            }
        };
        if self.last_text.as_deref() == Some(text.as_str()) {
            return false;
        }
        self.last_text = Some(text.clone());
        match Config::from_yaml(&text) {
            Ok(config) => {
                for warning in config.warnings() {
                    tracing::warn!(file = %shown, "{warning}");
                }
                registry.replace_config(Arc::new(config));
                registry.set_config_problem(None);
                registry.metrics().record_reload(true);
                tracing::info!(file = %shown, "configuration reloaded");
                if let Err(error) = registry.relist(store, deadline).await {
                    tracing::warn!(%error, "relist after a configuration reload failed; retrying at the next interval");
                }
                true
            }
            Err(error) => {
                let problem = format!("{shown} is invalid: {error}");
                tracing::error!(%problem, "configuration not reloaded; serving the last good one");
                registry.metrics().record_reload(false);
                registry.set_config_problem(Some(problem));
                false
            }
        }
    }

    /// Checks the file every [`CONFIG_POLL_INTERVAL`] forever; for a background task.
    pub async fn run<S: MetricsStore>(
        mut self,
        registry: &Registry,
        store: &S,
        deadline: Duration,
    ) {
        let mut ticks = tokio::time::interval(CONFIG_POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.check(registry, store, deadline).await;
        }
    }
}
