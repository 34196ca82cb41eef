//! The cloud's ingest benchmark ([`dsmpc_net::bench::ingest`]): N data providers each upload a
//! scalar bundle to each of T tasks over their own Noise connection, every bundle acknowledged only
//! once it is committed to the cloud's SQLite log.
//!
//! ```sh
//! cargo run --release -p dsmpc-net --example ingest [-- DPS TASKS CONCURRENCY]
//! ```

use dsmpc_net::bench::{IngestConfig, ingest};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let defaults = IngestConfig::default();
    let config = IngestConfig {
        dps: args.first().copied().unwrap_or(defaults.dps),
        tasks: args.get(1).copied().unwrap_or(defaults.tasks),
        concurrency: args.get(2).copied().unwrap_or(defaults.concurrency),
        ..defaults
    };
    let report = ingest(&config)?;
    println!(
        "ingest: {} DPs x {} tasks (n = {}, t = {}, {} connections at a time)",
        config.dps, config.tasks, config.cps, config.threshold, config.concurrency
    );
    println!(
        "  {} bundles in {:.3} s = {:.0} bundles/s, {} bytes received ({:.0} per bundle), {} stored",
        report.bundles,
        report.seconds,
        report.per_second,
        report.bytes_received,
        report.bytes_received as f64 / report.bundles as f64,
        report.stored
    );
    if let Some(cpu) = report.cpu_seconds {
        println!(
            "  CPU {cpu:.2} s (cloud and clients) = {:.0} bundles per CPU-second",
            report.bundles as f64 / cpu
        );
    }
    println!(
        "  untimed: setup {:.2} s, building bundles {:.2} s",
        report.setup_seconds, report.prepare_seconds
    );
    Ok(())
}
