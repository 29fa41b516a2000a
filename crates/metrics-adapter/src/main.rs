//! `sextant-adapter`: serves `custom.metrics.k8s.io` and `external.metrics.k8s.io` over HTTPS by
//! translating each request into PromQL. Wiring only: the flags are [`Options`], the server is
//! [`Adapter`].

use std::process::ExitCode;

use clap::Parser;
use metrics_adapter::options::Options;
use metrics_adapter::serve::Adapter;

fn main() -> ExitCode {
    let options = Options::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(options.log_filter())),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    if options.logtostderr == Some(false) {
        tracing::warn!("--logtostderr=false has no effect: logs always go to stderr");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sextant-adapter: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let adapter = match Adapter::start(&options).await {
            Ok(adapter) => adapter,
            Err(error) => {
                eprintln!("sextant-adapter: {error}");
                return ExitCode::FAILURE;
            }
        };
        adapter.serve(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Completes on SIGTERM or Ctrl-C; a second one while shutting down exits at once (status 1),
/// as kube-apiserver does.
async fn shutdown_signal() {
    next_signal().await;
    tracing::info!("shutting down; a second signal exits at once");
    tokio::spawn(async {
        next_signal().await;
        tracing::warn!("second signal: exiting without finishing the requests in flight");
        std::process::exit(1);
    });
}

/// Completes on the next SIGTERM or Ctrl-C.
async fn next_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
