//! `dsmpc simulate`: a whole task — cloud, edge, CPs and DPs — in one process over real sockets,
//! Noise channels and SQLite, checked against the plaintext. Prints a table (or `--json`) and exits
//! with 0 only when the result equals the plaintext over the included DPs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use dsmpc_core::encoding::format_fixed;
use dsmpc_core::identity::PartyId;
use dsmpc_core::task::{Function, Mode, Task};
use dsmpc_net::flow::{FlowLog, FlowTotals};
use dsmpc_net::simulate::{self, Inputs, SimConfig, SimOutcome};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::roles::{Func, ModeArg};

/// `dsmpc simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Data providers (ignored with --inputs).
    #[arg(long, default_value_t = 20)]
    dps: usize,
    /// Computing parties.
    #[arg(long, default_value_t = 5)]
    cps: u32,
    /// Result shares needed to reconstruct.
    #[arg(long, default_value_t = 3)]
    threshold: u32,
    /// Values per input (ignored with --inputs).
    #[arg(long, default_value_t = 1)]
    dim: u32,
    /// What to compute.
    #[arg(long, value_enum, default_value_t = Func::WeightedSum)]
    func: Func,
    /// Verifiable (Pedersen-checked, ristretto255) or fast (seed-compressed, smallest field).
    #[arg(long, value_enum, default_value_t = ModeArg::Verifiable)]
    mode: ModeArg,
    /// CSV with header `id,weight,v1,...,vd`: one data provider per line (overrides --dps, --dim).
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// Decimal places of inputs and weights.
    #[arg(long, default_value_t = 0)]
    scale: u32,
    /// Keep the cloud's state in this (empty) PostgreSQL database instead of SQLite
    /// (postgresql://USER[:PASSWORD]@HOST:PORT/DB).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Cloud front-ends serving at once over --database.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=16))]
    cloud_frontends: u32,
    /// Workers each CP runs as, each folding its part of the deliveries.
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=16))]
    cp_workers: u32,
    /// CPs that die right after admission.
    #[arg(long, default_value_t = 0)]
    drop_cps: u32,
    /// CPs that report only after the cloud's report deadline (they still send result shares).
    #[arg(long, default_value_t = 0)]
    late_cps: u32,
    /// DPs that die in the middle of their upload.
    #[arg(long, default_value_t = 0)]
    drop_dps: usize,
    /// A CP that returns a wrong result share (repeatable).
    #[arg(long, value_name = "ID")]
    cheat_cp: Vec<String>,
    /// A DP that sends one CP a share inconsistent with its commitments (repeatable).
    #[arg(long, value_name = "ID")]
    cheat_dp: Vec<String>,
    /// Smallest allowed input (decimal, at most --scale places; default -1000, or with
    /// --inputs the smallest value of the file).
    #[arg(long, allow_hyphen_values = true)]
    min: Option<String>,
    /// Largest allowed input (default 1000, or with --inputs the largest value of the file).
    #[arg(long, allow_hyphen_values = true)]
    max: Option<String>,
    /// Do not make DPs prove their inputs inside [min, max] (range proofs are on by default in
    /// verifiable mode for inputs of at most 16 elements).
    #[arg(long, conflicts_with = "validate")]
    no_validate: bool,
    /// Make DPs prove their inputs inside [min, max] also for longer vectors (up to 4096
    /// elements; about 0.8 ms an element for a DP, 0.3 ms an element for each CP).
    #[arg(long)]
    validate: bool,
    /// A DP that shares a value outside [min, max] with the best forgery it can make instead
    /// of a range proof — a proof for another value, for the clipped value, or none, in turn
    /// (repeatable).
    #[arg(long, value_name = "ID")]
    out_of_range_dp: Vec<String>,
    /// Where to write the flow log and the servers' databases (default: log/<timestamp>/).
    #[arg(long, value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Print only the verdict line.
    #[arg(long)]
    quiet: bool,
    /// Also print every data provider's secret input.
    #[arg(long)]
    sec: bool,
    /// Keep the cloud's segment files (every sealed share, about N·d·(n−t+1)·8 bytes in fast
    /// mode) in the log directory; by default they are removed when the run ends.
    #[arg(long)]
    keep_shares: bool,
    /// Write the whole result to FILE, one value a line (the table and --quiet summarise a
    /// result of more than 10 values: first and last values, length, SHA-256).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// With --json: the most values `result` and `expected` list, and the most ids `included`
    /// lists; a longer result is cut there (`result_truncated`), with its length and SHA-256
    /// alongside (`included_truncated`, `included_count` for the ids).
    #[arg(long, value_name = "N", default_value_t = 1000)]
    json_max: usize,
}

impl SimulateArgs {
    fn function(&self) -> Function {
        Function::from(self.func)
    }

    fn mode(&self) -> Mode {
        Mode::from(self.mode)
    }

    /// The log directory, created.
    pub fn log_dir(&self) -> Result<PathBuf> {
        let dir = match &self.log_dir {
            Some(d) => d.clone(),
            None => PathBuf::from("log").join(timestamp()),
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }
}

/// The current UTC time as `YYYY-MM-DDTHH-MM-SS`, for directory names.
pub fn timestamp() -> String {
    let secs = dsmpc_net::roles::unix_now();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn config(args: &SimulateArgs, dir: &Path) -> Result<SimConfig> {
    let function = args.function();
    let weight_scale = if function.is_weighted() {
        args.scale
    } else {
        0
    };
    let (dps, dim, inputs, range) = match &args.inputs {
        Some(path) => {
            let mut scan = simulate::scan_csv(path, args.scale)?;
            if !function.is_weighted() {
                scan.dps.iter_mut().for_each(|i| i.weight = 1);
            }
            let inputs = Inputs::Csv {
                path: path.clone(),
                scale: args.scale,
            };
            (scan.dps, scan.dim, inputs, scan.range)
        }
        None => {
            let bound = 1000 * 10i128.pow(args.scale.min(18));
            let unit = 10i128.pow(weight_scale.min(18));
            let dps = simulate::random_entries(args.dps, function.is_weighted(), unit);
            let inputs = Inputs::Random {
                seed: simulate::random_seed(),
            };
            (dps, args.dim, inputs, (-bound, bound))
        }
    };
    let ids = |v: &[String]| {
        v.iter()
            .map(|s| PartyId::new(s))
            .collect::<Result<Vec<_>, _>>()
    };
    let range = declared_range(args, range)?;
    let validate = args.validate || (!args.no_validate && Task::validates_by_default(dim));
    let flow_path = dir.join("flow.jsonl");
    let _ = std::fs::remove_file(&flow_path);
    Ok(SimConfig {
        validate,
        out_of_range_dps: ids(&args.out_of_range_dp)?,
        cps: args.cps,
        threshold: args.threshold,
        function,
        mode: args.mode(),
        scale: args.scale,
        weight_scale,
        range,
        dps,
        dim,
        inputs,
        drop_cps: args.drop_cps,
        late_cps: args.late_cps,
        drop_dps: args.drop_dps,
        cheat_cps: ids(&args.cheat_cp)?,
        cheat_dps: ids(&args.cheat_dp)?,
        work_dir: dir.to_path_buf(),
        database: args.database.clone(),
        frontends: args.cloud_frontends,
        cp_workers: args.cp_workers,
        flow: FlowLog::open(&flow_path)
            .with_context(|| format!("opening {}", flow_path.display()))?
            .with_totals(),
    })
}

/// The input range: `--min`/`--max` where given, else `default` (±1000 for random inputs, the
/// file's range with `--inputs`). A file's values must lie inside a range that is given.
fn declared_range(args: &SimulateArgs, default: (i128, i128)) -> Result<(i128, i128)> {
    let parse = |flag: &str, text: &Option<String>, fallback: i128| -> Result<i128> {
        match text {
            Some(t) => dsmpc_core::encoding::parse_fixed(t, args.scale)
                .with_context(|| format!("--{flag} {t}")),
            None => Ok(fallback),
        }
    };
    let range = (
        parse("min", &args.min, default.0)?,
        parse("max", &args.max, default.1)?,
    );
    if range.0 > range.1 {
        bail!("--min is above --max");
    }
    if args.inputs.is_some() && (default.0 < range.0 || default.1 > range.1) {
        bail!(
            "the inputs file holds values outside --min/--max (its values span {} to {})",
            dsmpc_core::encoding::format_fixed(default.0, args.scale),
            dsmpc_core::encoding::format_fixed(default.1, args.scale)
        );
    }
    Ok(range)
}

fn check_faults(args: &SimulateArgs, config: &SimConfig) -> Result<()> {
    if args.cloud_frontends > 1 && args.database.is_none() {
        bail!(
            "--cloud-frontends {} shares one PostgreSQL database: give --database URL",
            args.cloud_frontends
        );
    }
    if args.drop_cps >= args.cps {
        bail!("--drop-cps {} leaves no CP of {}", args.drop_cps, args.cps);
    }
    if args.late_cps + args.drop_cps > args.cps {
        bail!(
            "--late-cps {} and --drop-cps {} make more faulty CPs than the {} there are",
            args.late_cps,
            args.drop_cps,
            args.cps
        );
    }
    if args.drop_dps >= config.dps.len() {
        bail!(
            "--drop-dps {} leaves no data provider of {}",
            args.drop_dps,
            config.dps.len()
        );
    }
    let is_cp = |id: &PartyId| (1..=args.cps).any(|i| id.as_str() == format!("cp{i}"));
    if let Some(id) = config.cheat_cps.iter().find(|id| !is_cp(id)) {
        bail!("--cheat-cp {id}: there are cp1..cp{}", args.cps);
    }
    if let Some(id) = config
        .cheat_dps
        .iter()
        .find(|id| !config.dps.iter().any(|i| &i.id == *id))
    {
        bail!("--cheat-dp {id} is not a data provider");
    }
    if !config.out_of_range_dps.is_empty() && !config.validate {
        bail!(
            "--out-of-range-dp needs validated inputs (on by default up to 16 elements, with \
             --validate beyond; off with --no-validate)"
        );
    }
    if let Some(id) = config
        .out_of_range_dps
        .iter()
        .find(|id| !config.dps.iter().any(|i| &i.id == *id))
    {
        bail!("--out-of-range-dp {id} is not a data provider");
    }
    Ok(())
}

/// Runs `dsmpc simulate` with logs already going to `dir`.
pub fn run(args: &SimulateArgs, dir: &Path) -> Result<()> {
    let done = execute(args, dir)?;
    let (config, outcome) = (&done.config, &done.outcome);
    if let Some(path) = &args.out {
        write_result(path, &outcome.result.values())?;
    }
    if args.json {
        println!("{}", json_of(args, &done, dir));
    } else if args.quiet {
        println!("{}", verdict(outcome));
    } else {
        print_table(args, config, outcome, &done.traffic, dir, done.wall)?;
    }
    if !outcome.matches {
        bail!("the result does not equal the plaintext");
    }
    Ok(())
}

/// Runs a simulation as [`run`] does and returns what `--json` prints (a mismatch is in its
/// `match`, not an error): the Python package's `dsmpc.simulate`.
pub fn run_json(args: &SimulateArgs, dir: &Path) -> Result<serde_json::Value> {
    let done = execute(args, dir)?;
    if let Some(path) = &args.out {
        write_result(path, &done.outcome.result.values())?;
    }
    Ok(json_of(args, &done, dir))
}

/// A simulation that ran to its end.
struct Finished {
    config: SimConfig,
    outcome: SimOutcome,
    traffic: FlowTotals,
    /// Seconds from start to result.
    wall: f64,
}

fn execute(args: &SimulateArgs, dir: &Path) -> Result<Finished> {
    let config = config(args, dir)?;
    check_faults(args, &config)?;
    let bar = progress(args, config.dps.len());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = std::time::Instant::now();
    let outcome = runtime.block_on(simulate::run(&config, || bar.inc(1)));
    bar.finish_and_clear();
    let wall = started.elapsed().as_secs_f64();
    runtime.shutdown_background();
    if !args.keep_shares {
        remove_shares(dir);
    }
    let outcome = outcome.context("the simulated task failed")?;
    let traffic = config.flow.totals().unwrap_or_default();
    Ok(Finished {
        config,
        outcome,
        traffic,
        wall,
    })
}

/// Removes the cloud's segment files from the log directory `dir` (its databases and the flow
/// log stay). A failure only warns: the run's verdict stands.
fn remove_shares(dir: &Path) {
    let segments = dir.join("cloud.db.bundles");
    if segments.exists()
        && let Err(e) = std::fs::remove_dir_all(&segments)
    {
        eprintln!("warning: could not remove {}: {e}", segments.display());
    }
}

fn progress(args: &SimulateArgs, dps: usize) -> ProgressBar {
    use std::io::IsTerminal;
    if args.json || args.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(dps as u64);
    if let Ok(style) =
        ProgressStyle::with_template("sharing {bar:40} {pos}/{len} data providers {elapsed}")
    {
        bar.set_style(style);
    }
    bar
}

fn verdict(o: &SimOutcome) -> String {
    let result = summary(&o.result.values());
    if o.matches {
        format!("OK: result {result} equals the plaintext")
    } else {
        let expected = summary(&o.expected.values());
        format!("MISMATCH: result {result} but plaintext {expected}")
    }
}

/// The most values a summary lists whole.
const SUMMARY_VALUES: usize = 10;

/// `values` joined, or, beyond [`SUMMARY_VALUES`], the first and last three with the length and
/// SHA-256 of the whole (as [`digest`] computes it).
fn summary(values: &[String]) -> String {
    if values.len() <= SUMMARY_VALUES {
        return values.join(", ");
    }
    let n = values.len();
    format!(
        "{}, …, {} ({n} values, SHA-256 {})",
        values[..3].join(", "),
        values[n - 3..].join(", "),
        digest(values)
    )
}

/// SHA-256 (hex) of the values one a line, each line ending in a newline: the digest of the file
/// `--out` writes.
fn digest(values: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in values {
        h.update(v.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// Writes `values` to `path`, one a line.
fn write_result(path: &Path, values: &[String]) -> Result<()> {
    use std::io::Write;
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for v in values {
        writeln!(out, "{v}").with_context(|| format!("writing {}", path.display()))?;
    }
    out.flush()
        .with_context(|| format!("writing {}", path.display()))
}

fn names(ids: &[PartyId]) -> Vec<&str> {
    ids.iter().map(PartyId::as_str).collect()
}

/// The ids of the first `limit` DPs the result includes, ids ascending: every simulated DP but
/// those it leaves out.
fn included_names<'a>(config: &'a SimConfig, o: &SimOutcome, limit: usize) -> Vec<&'a str> {
    let excluded: std::collections::HashSet<&PartyId> = o.excluded.iter().collect();
    let mut ids: Vec<&str> = config
        .dps
        .iter()
        .filter(|e| !excluded.contains(&e.id))
        .map(|e| e.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.truncate(limit);
    ids
}

fn json_of(args: &SimulateArgs, done: &Finished, dir: &Path) -> serde_json::Value {
    let (config, o, t, wall) = (&done.config, &done.outcome, &done.traffic, done.wall);
    let r = &o.result;
    let result = r.values();
    let expected = o.expected.values();
    let cut = |v: &[String]| v[..v.len().min(args.json_max)].to_vec();
    let mut phases: serde_json::Map<String, serde_json::Value> = o
        .stages
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    phases.extend(t.phases.iter().map(|(k, v)| (k.clone(), json!(v))));
    json!({
        "task": o.task.body.id.to_string(),
        "function": r.function.name(),
        "mode": o.task.body.params.mode.name(),
        "validated": o.task.body.params.validate,
        "field": o.task.body.field().name(),
        "n": o.task.body.params.n,
        "t": o.task.body.params.t,
        "dps": config.dps.len(),
        "dim": config.dim,
        "result": cut(&result),
        "result_len": result.len(),
        "result_truncated": result.len() > args.json_max,
        "result_sha256": digest(&result),
        "expected": cut(&expected),
        "match": o.matches,
        "included": included_names(config, o, args.json_max),
        "included_count": o.included,
        "included_truncated": o.included > args.json_max as u64,
        "excluded": names(&o.excluded),
        "culprits": r.culprits.iter().map(|c| c.party.as_str()).collect::<Vec<_>>(),
        "culprit_reasons": r.culprits.iter().map(|c| json!({"party": c.party.as_str(), "reason": c.reason.name()})).collect::<Vec<_>>(),
        "bytes_total": t.bytes_total(),
        "bytes_per_role": t.bytes_by_role,
        "bytes_per_dp": t.bytes_of("dp") as f64 / config.dps.len() as f64,
        "phases": phases,
        "wall_s": wall,
        "flow_log": dir.join("flow.jsonl").display().to_string(),
    })
}

fn print_table(
    args: &SimulateArgs,
    config: &SimConfig,
    o: &SimOutcome,
    t: &FlowTotals,
    dir: &Path,
    wall: f64,
) -> Result<()> {
    let r = &o.result;
    let p = &o.task.body.params;
    let row = |k: &str, v: String| println!("  {k:<14} {v}");
    println!("dsmpc simulate: task {}", o.task.body.id);
    row(
        "function",
        format!(
            "{} over {} data providers, d = {}",
            r.function,
            config.dps.len(),
            p.dim
        ),
    );
    row(
        "committee",
        format!(
            "{} CPs, threshold {}, {} mode in {}",
            p.n,
            p.t,
            p.mode,
            o.task.body.field()
        ),
    );
    let range = match p.encoding {
        dsmpc_core::encoding::Encoding::Exact { range, .. } => format!(
            "[{}, {}]",
            format_fixed(range.min, config.scale),
            format_fixed(range.max, config.scale)
        ),
        dsmpc_core::encoding::Encoding::Modular { .. } => "none (modular)".into(),
    };
    let validation = match (p.validate, p.mode) {
        (true, Mode::Verifiable) => "every input proven inside it (range proofs)",
        (true, Mode::Fast) => "every input proven inside it (a proof over the shares)",
        (false, _) if Task::validates_by_default(p.dim) => "not validated (--no-validate)",
        (false, _) => "not validated (give --validate for vectors beyond 16 elements)",
    };
    row("input range", format!("{range}: {validation}"));
    if args.sec {
        simulate::for_each_input(config, |entry, values| {
            let values: Vec<String> = values
                .iter()
                .map(|v| format_fixed(*v, config.scale))
                .collect();
            row(
                &format!("secret {}", entry.id),
                format!(
                    "{} (weight {})",
                    summary(&values),
                    format_fixed(entry.weight, config.weight_scale)
                ),
            );
        })?;
    }
    row("result", summary(&r.values()));
    row("expected", summary(&o.expected.values()));
    if let Some(path) = &args.out {
        row("result file", path.display().to_string());
    }
    row("match", if o.matches { "yes".into() } else { "NO".into() });
    row("included", format!("{} data providers", o.included));
    row("excluded", names(&o.excluded).join(", "));
    let culprits: Vec<String> = r
        .culprits
        .iter()
        .map(|c| format!("{} ({})", c.party, c.reason))
        .collect();
    row("culprits", culprits.join(", "));
    for (role, bytes) in &t.bytes_by_role {
        row(&format!("bytes {role}"), format!("{bytes} sent"));
    }
    row(
        "bytes per DP",
        format!("{:.0}", t.bytes_of("dp") as f64 / config.dps.len() as f64),
    );
    for (stage, secs) in &o.stages {
        row(&format!("time {stage}"), format!("{secs:.3} s"));
    }
    for (phase, secs) in &t.phases {
        row(&format!("  {phase}"), format!("{secs:.3} s"));
    }
    row("wall", format!("{wall:.3} s"));
    row("flow log", dir.join("flow.jsonl").display().to_string());
    println!("{}", verdict(o));
    Ok(())
}
