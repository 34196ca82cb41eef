//! The `dsmpc` command: secure multi-party sums, weighted sums and means.
//!
//! Subcommands follow DESIGN.md §7: `init` and `keygen` make deployments, `cloud`, `edge` and `cp`
//! run the role servers, `task create`, `dp` and `result` are their clients, `plan` tells
//! which field a task would compute in, `report` draws a flow log as an HTML page, and
//! `participant` and `swarm` run the peer mode, and `bench` measures the benchmark scenarios.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(dsmpc::run_cli(std::env::args_os()))
}
