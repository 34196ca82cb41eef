//! The `dsmpc` command: secure multi-party sums, weighted sums and means.
//!
//! Subcommands arrive with the roles they drive (DESIGN.md §7); `plan` already tells which field a
//! task would compute in, and why; `init` and `keygen` make deployment directories and keys.
#![forbid(unsafe_code)]

mod deploy;
mod plan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Secure multi-party computation of sums, weighted sums and means over private inputs.
///
/// Data providers split their inputs into encrypted, verifiable secret shares; computing parties
/// aggregate shares they cannot read; an edge reconstructs only the result from any t of n parties.
#[derive(Debug, Parser)]
#[command(name = "dsmpc", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the field and exact bound a task with these inputs and weights would use.
    Plan(plan::PlanArgs),
    /// Create a deployment directory: every party's keys, the roster and task defaults.
    Init(deploy::InitArgs),
    /// Make one party's keys and print its block for the roster.
    Keygen(deploy::KeygenArgs),
}

fn main() -> ExitCode {
    // Usage errors exit with status 1 like every other error (clap's own default is 2).
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let outcome = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Init(args) => deploy::run_init(&args),
        Command::Keygen(args) => deploy::run_keygen(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
