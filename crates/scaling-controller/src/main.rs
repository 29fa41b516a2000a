//! `sextant-controller`: wiring only. Parses the command line and hands over to the library.

use std::io;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use scaling_controller::recommend::cli;

/// Runs ScalingPolicy resources with the HPA's algorithm, and its offline tools.
#[derive(Debug, Parser)]
#[command(name = "sextant-controller", version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the controller (the default when no subcommand is given).
    Run(RunArgs),
    /// Compute one decision from a JSON snapshot on stdin and print it as JSON on stdout.
    Recommend,
    /// Replay a ScalingPolicy over a metric history; print a summary and draw a chart.
    Simulate(scaling_controller::simulate::cli::SimulateArgs),
    /// Print the ScalingPolicy CustomResourceDefinition as YAML (what crds/ holds).
    Crdgen,
}

/// Flags of `sextant-controller run`.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Kubeconfig file (default: KUBECONFIG, else the in-cluster configuration).
    #[arg(long)]
    kubeconfig: Option<std::path::PathBuf>,
    /// Prometheus-compatible store for External `query` metrics.
    #[arg(long)]
    prometheus_url: Option<String>,
    /// Elect a leader on a coordination.k8s.io Lease so several replicas can run; false for a
    /// single replica.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Namespace of the leader-election Lease (default: POD_NAMESPACE, else `sextant`).
    #[arg(long)]
    leader_election_namespace: Option<String>,
    /// Namespaces whose raw External queries may read other namespaces (comma-separated).
    #[arg(long, value_delimiter = ',')]
    allow_cross_namespace_queries: Vec<String>,
    /// Where to serve /metrics (`:8080` means every interface).
    #[arg(long, default_value = ":8080", value_parser = parse_bind_address)]
    metrics_bind_address: std::net::SocketAddr,
    /// Where to serve /healthz and /readyz.
    #[arg(long, default_value = ":8081", value_parser = parse_bind_address)]
    health_probe_bind_address: std::net::SocketAddr,
}

/// Reads `host:port`, or `:port` for every interface, as controller-runtime's flags do.
fn parse_bind_address(text: &str) -> Result<std::net::SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.parse()
        .map_err(|e| format!("{text:?} is not host:port or :port: {e}"))
}

impl Default for RunArgs {
    fn default() -> Self {
        let any = std::net::Ipv4Addr::UNSPECIFIED;
        RunArgs {
            kubeconfig: None,
            prometheus_url: None,
            leader_elect: true,
            leader_election_namespace: None,
            allow_cross_namespace_queries: Vec::new(),
            metrics_bind_address: (any, 8080).into(),
            health_probe_bind_address: (any, 8081).into(),
        }
    }
}

fn run_controller(args: RunArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sextant-controller run: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let options = scaling_controller::controller::RunOptions {
        kubeconfig: args.kubeconfig,
        prometheus_url: args.prometheus_url,
        allow_cross_namespace_queries: args.allow_cross_namespace_queries,
        metrics_address: args.metrics_bind_address,
        health_address: args.health_probe_bind_address,
        leader_election_namespace: args.leader_elect.then(|| {
            args.leader_election_namespace
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .unwrap_or_else(|| "sextant".to_owned())
        }),
    };
    match runtime.block_on(scaling_controller::controller::start(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sextant-controller run: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command.unwrap_or(Command::Run(RunArgs::default())) {
        Command::Recommend => cli::run(
            &mut io::stdin().lock(),
            &mut io::stdout().lock(),
            &mut io::stderr().lock(),
        )
        .into(),
        Command::Crdgen => match scaling_controller::policy::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("sextant-controller crdgen: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Simulate(args) => scaling_controller::simulate::cli::main(&args),
        Command::Run(args) => run_controller(args),
    }
}
