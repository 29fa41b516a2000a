//! The CA bundles named by `--client-ca-file` and `--requestheader-client-ca-file`, read again
//! when they change, as k8s.io/apiserver's dynamic CA file content does: a rotated CA (the
//! file rewritten, or a mounted ConfigMap or Secret updated by the kubelet) authenticates new
//! requests without a restart.
//!
//! Each file is read every [`CA_POLL_INTERVAL`] and compared with what was read last. A changed
//! bundle that parses is put in force with [`delegated::update`]; one that cannot be read or
//! holds no certificate is logged once and the last good bundle stays in force (as for the
//! ConfigMap, bad content never withdraws good content).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::delegated::{self, CaFlag, DelegatedTrust};
use crate::options::Options;
use crate::telemetry::TlsMetrics;
use crate::trust::SharedTrust;
use crate::{Error, Result, tls};

/// How often the CA files are read to see whether they changed.
pub const CA_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// One CA file and the bytes read from it last.
#[derive(Debug)]
struct CaFile {
    flag: CaFlag,
    path: PathBuf,
    last_read: Option<Vec<u8>>,
}

/// The CA files the flags name.
#[derive(Debug)]
pub struct CaFiles {
    files: Vec<CaFile>,
}

impl CaFiles {
    /// The files of `--client-ca-file` and `--requestheader-client-ca-file`; `None` when
    /// neither is given. Nothing counts as read yet: the first check puts what the files hold
    /// then in force, so a change between start-up and the first check is not missed.
    pub fn of(options: &Options) -> Option<Self> {
        let files: Vec<CaFile> = [
            (CaFlag::ClientCa, &options.client_ca_file),
            (
                CaFlag::RequestHeaderClientCa,
                &options.requestheader_client_ca_file,
            ),
        ]
        .into_iter()
        .filter_map(|(flag, path)| {
            Some(CaFile {
                flag,
                path: path.clone()?,
                last_read: None,
            })
        })
        .collect();
        (!files.is_empty()).then_some(CaFiles { files })
    }

    /// Reads each file once; puts every changed bundle that parses in force in `shared`.
    /// Returns the flags whose bundles were put in force, and the errors of the others with
    /// their flags (each reported once: unchanged bytes are not judged again).
    pub async fn check(
        &mut self,
        trust: &Mutex<DelegatedTrust>,
        shared: &SharedTrust,
    ) -> (Vec<CaFlag>, Vec<(CaFlag, Error)>) {
        let (mut applied, mut errors) = (Vec::new(), Vec::new());
        for file in &mut self.files {
            let what = format!("{} {}", file.flag.name(), file.path.display());
            let pem = match tokio::fs::read(&file.path).await {
                Ok(pem) => pem,
                Err(error) => {
                    // Reported each time it is still unreadable; `run` logs changes only.
                    errors.push((
                        file.flag,
                        Error::Tls {
                            what,
                            reason: error.to_string(),
                        },
                    ));
                    continue;
                }
            };
            if file.last_read.as_ref() == Some(&pem) {
                continue;
            }
            let parsed: Result<_> = tls::ca_verifier_from_pem(&what, &pem);
            file.last_read = Some(pem);
            match parsed {
                Ok(verifier) => {
                    let flag = file.flag;
                    delegated::update(trust, shared, |trust| trust.set_flag_ca(flag, verifier));
                    applied.push(flag);
                }
                Err(error) => errors.push((file.flag, error)),
            }
        }
        (applied, errors)
    }

    /// Checks the files every [`CA_POLL_INTERVAL`] forever, logging changes and problems (each
    /// once) and counting them in `metrics`; for a background task.
    pub async fn run(
        mut self,
        trust: Arc<Mutex<DelegatedTrust>>,
        shared: SharedTrust,
        metrics: TlsMetrics,
    ) {
        let mut ticks = tokio::time::interval(CA_POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut reported: Vec<(CaFlag, String)> = Vec::new();
        let mut first = true;
        loop {
            ticks.tick().await;
            let (applied, errors) = self.check(&trust, &shared).await;
            if !first {
                for flag in applied {
                    tracing::info!(flag = flag.name(), "CA bundle reloaded");
                    metrics.record_reload(flag.tls_file(), true);
                }
            }
            first = false;
            let now: Vec<(CaFlag, String)> = errors
                .iter()
                .map(|(flag, error)| (*flag, error.to_string()))
                .collect();
            for (flag, error) in now.iter().filter(|e| !reported.contains(e)) {
                tracing::error!(%error, "CA bundle not reloaded; the last good one stays in force");
                metrics.record_reload(flag.tls_file(), false);
            }
            reported = now;
        }
    }
}

#[cfg(test)]
mod tests;
