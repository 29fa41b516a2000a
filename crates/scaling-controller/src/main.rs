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
    /// Run the controller (the default when no subcommand is given). Not implemented yet.
    Run,
    /// Compute one decision from a JSON snapshot on stdin and print it as JSON on stdout.
    Recommend,
    /// Print the ScalingPolicy CustomResourceDefinition as YAML (what crds/ holds).
    Crdgen,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command.unwrap_or(Command::Run) {
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
        Command::Run => {
            eprintln!(
                "sextant-controller: the controller loop (`run`) is not implemented yet; \
                 only `recommend` and `crdgen` are available"
            );
            ExitCode::from(2)
        }
    }
}
