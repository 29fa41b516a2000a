//! `sextant-adapter`: will serve `custom.metrics.k8s.io` and `external.metrics.k8s.io` by
//! translating each request into PromQL. Only `--help` and `--version` work so far.

use std::process::ExitCode;

use clap::Parser;

/// Command line of `sextant-adapter`; the server's flags arrive with the server itself.
#[derive(Debug, Parser)]
#[command(
    name = "sextant-adapter",
    version,
    about = "Serves custom.metrics.k8s.io and external.metrics.k8s.io from a Prometheus-compatible store.",
    long_about = "Serves custom.metrics.k8s.io and external.metrics.k8s.io from a Prometheus-compatible store.\n\n\
                  Not implemented yet: this build only answers --help and --version."
)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    eprintln!(
        "sextant-adapter: the API server is not implemented yet; this build only answers --help and --version"
    );
    ExitCode::from(2)
}
