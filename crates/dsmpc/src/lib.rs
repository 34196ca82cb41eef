//! The `dsmpc` command as a library: secure multi-party sums, weighted sums and means.
//!
//! Subcommands follow DESIGN.md §7: `init` and `keygen` make deployments, `cloud`, `edge` and `cp`
//! run the role servers, `task create`, `dp` and `result` are their clients, `plan` tells
//! which field a task would compute in, `report` draws a flow log as an HTML page, and
//! `participant` and `swarm` run the peer mode, and `bench` measures the benchmark scenarios.
//!
//! [`run_cli`] is the whole command line; [`api`] is the face the Python package calls.
#![forbid(unsafe_code)]

pub mod api;
mod bench;
mod deploy;
mod peer;
mod plan;
mod report;
mod roles;
mod simulate;

use std::ffi::OsString;

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
    /// Run a whole task in one process (cloud, edge, CPs, DPs) and check it against the plaintext.
    Simulate(simulate::SimulateArgs),
    /// Show the field and exact bound a task with these inputs and weights would use.
    Plan(plan::PlanArgs),
    /// Create a deployment directory: every party's keys, the roster and task defaults.
    Init(deploy::InitArgs),
    /// Make one party's keys and print its block for the roster (or, for a DP, for `dp register`).
    Keygen(deploy::KeygenArgs),
    /// Run the cloud server: admits CPs, stores bundles durably, fixes input sets.
    Cloud(roles::CloudArgs),
    /// Run the edge server: checks result shares and reconstructs results.
    Edge(roles::EdgeArgs),
    /// Run a computing party: verifies and aggregates shares, sends result shares.
    Cp(roles::CpArgs),
    /// Create tasks.
    Task(roles::TaskArgs),
    /// Submit a data provider's input to a task.
    Dp(roles::DpArgs),
    /// Print a task's result.
    Result(roles::ResultArgs),
    /// Peer mode: be one data provider and computing party of a weighted sum; the first process
    /// to bind HOST:PORT coordinates (trust on first use: anyone who can reach it may join).
    Participant(peer::ParticipantArgs),
    /// Start N participant processes and check every result against the plaintext weighted sum.
    Swarm(peer::SwarmArgs),
    /// Draw a flow log as one HTML page: traffic between parties and a timeline.
    Report(report::ReportArgs),
    /// Measure a benchmark scenario end to end (p1, p3, p3v, p5, scale-d, scale-n, swarm30,
    /// ingest, flood) against its target.
    Bench(bench::BenchArgs),
}

/// Runs the `dsmpc` command with `args` (the first is the program's name) and returns its exit
/// status: 0 on success, 1 on any error, usage errors included (clap's own default is 2). The
/// binary's `main` and the Python package's `dsmpc.cli` both call it.
pub fn run_cli<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return u8::from(err.use_stderr());
        }
    };
    let outcome = match cli.command {
        Command::Simulate(args) => args.log_dir().and_then(|dir| {
            roles::init_logging_to(&dir.join("dsmpc.log"))?;
            simulate::run(&args, &dir)
        }),
        Command::Bench(args) => {
            roles::init_logging_at("warn");
            bench::run(&args)
        }
        command => {
            roles::init_logging();
            run(command)
        }
    };
    match outcome {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            1
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Simulate(_) | Command::Bench(_) => unreachable!("handled in main"),
        Command::Plan(args) => plan::run(&args),
        Command::Init(args) => deploy::run_init(&args),
        Command::Keygen(args) => deploy::run_keygen(&args),
        Command::Cloud(args) => roles::run_cloud(&args),
        Command::Edge(args) => roles::run_edge(&args),
        Command::Cp(args) => roles::run_cp(&args),
        Command::Task(args) => roles::run_task(&args),
        Command::Dp(args) => roles::run_dp(&args),
        Command::Result(args) => roles::run_result(&args),
        Command::Report(args) => report::run(&args),
        Command::Participant(args) => peer::run_participant(&args),
        Command::Swarm(args) => peer::run_swarm(&args),
    }
}
