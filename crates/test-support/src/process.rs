//! Starting a store process on a free loopback port and waiting until it answers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, Result};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server process, killed and reaped on drop.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    log: PathBuf,
}

/// Looks `binary` up on PATH, so a missing package is reported as such.
pub(crate) fn find_binary(binary: &'static str, package: &'static str) -> Result<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(binary))
        .find(|path| path.is_file())
        .ok_or(Error::Missing { binary, package })
}

/// A loopback port that was free a moment ago.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Io {
        what: "a free port".into(),
        source,
    })?;
    let port = listener
        .local_addr()
        .map_err(|source| Error::Io {
            what: "a free port".into(),
            source,
        })?
        .port();
    Ok(port)
}

impl ServerProcess {
    /// Spawns `binary args…` with its output in `log`.
    pub(crate) fn spawn(binary: &Path, args: &[String], log: PathBuf) -> Result<Self> {
        let io = |source| Error::Io {
            what: format!("starting {}", binary.display()),
            source,
        };
        let out = std::fs::File::create(&log).map_err(io)?;
        let err = out.try_clone().map_err(io)?;
        let child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io)?;
        Ok(ServerProcess { child, log })
    }

    /// Polls `url` until it answers 200, failing early if the process exits.
    pub(crate) async fn wait_ready(&mut self, binary: &'static str, url: &str) -> Result<()> {
        let client = crate::http_client(Duration::from_secs(2))?;
        self.wait_until(binary, &format!("{url} answering 200"), || async {
            client
                .get(url)
                .send()
                .await
                .is_ok_and(|response| response.status().is_success())
        })
        .await
    }

    /// Waits until the process's log contains `line`, for servers whose endpoints need
    /// credentials this harness does not hold.
    pub(crate) async fn wait_for_log(&mut self, binary: &'static str, line: &str) -> Result<()> {
        let log = self.log.clone();
        self.wait_until(binary, &format!("{line:?} in the log"), || async {
            std::fs::read_to_string(&log).is_ok_and(|text| text.contains(line))
        })
        .await
    }

    /// Checks `ready` every 50 ms until it holds, failing early if the process exits and
    /// after [`READY_TIMEOUT`] with the end of its log.
    async fn wait_until<F: Future<Output = bool>>(
        &mut self,
        binary: &'static str,
        what: &str,
        mut ready: impl FnMut() -> F,
    ) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::NotReady {
                    binary,
                    log: format!("exited with {status}: {}", self.log_tail()),
                });
            }
            if ready().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(Error::NotReady {
            binary,
            log: format!("no {what} after {READY_TIMEOUT:?}: {}", self.log_tail()),
        })
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(2000);
        log.get(start..).unwrap_or(&log).to_owned()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // The process may already be gone; either way it must not outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
