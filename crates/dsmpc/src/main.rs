//! The `dsmpc` command: secure multi-party sums, weighted sums and means.
//!
//! Subcommands arrive with the roles they drive (DESIGN.md §7); `plan` already tells which field a
//! task would compute in, and why.
#![forbid(unsafe_code)]

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Plan(args) => plan::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
