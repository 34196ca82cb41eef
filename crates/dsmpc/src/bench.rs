//! `dsmpc bench SCENARIO`: reproducible end-to-end benchmarks of the real system.
//!
//! The protocol scenarios (`p1`, `p3`, `p3v`, `p5`, `scale-d`, `scale-n`) run the same in-process deployment as
//! `dsmpc simulate` (real TCP on 127.0.0.1, Noise, SQLite, every check on) and fail unless the
//! result equals the plaintext. `swarm30` starts 30 peer-mode participant processes, `ingest`
//! measures how many scalar bundles one cloud accepts durably per second. Each scenario runs
//! `--runs` times (3 by default; a protocol scenario's runs each in a fresh process) and reports
//! the median wall time, the phases and bytes of the median run and the peak resident memory over
//! all runs, next to its target; `p3` also runs the MPyC baseline (bench/mpyc_sum.py) on the same
//! 1000 × 1000 sum, when a Python with MPyC is found (see `scripts/benchmarks.sh`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use dsmpc_net::bench::{ProtocolShape, process_cpu_seconds, protocol_shape};
use dsmpc_net::flow::{FlowLog, FlowTotals};
use dsmpc_net::simulate::{self, SimConfig};
use serde_json::{Value, json};

mod client;

/// `dsmpc bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    scenario: Scenario,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Runs to take the median of.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    runs: u32,
    /// Data providers, replacing the scenario's (for growth tables; protocol scenarios and ingest).
    #[arg(long)]
    dps: Option<usize>,
    /// Values per input, replacing the scenario's (protocol scenarios only).
    #[arg(long)]
    dim: Option<u32>,
    /// The Python that runs the MPyC baseline of `p3` [default: $DSMPC_MPYC_PYTHON, else
    /// .venv-bench/bin/python, else python3; skipped if it cannot import mpyc and numpy].
    #[arg(long, value_name = "PYTHON")]
    mpyc_python: Option<PathBuf>,
    /// Do not run the MPyC baseline.
    #[arg(long)]
    no_mpyc: bool,
    /// Exit with status 1 if a target is missed.
    #[arg(long)]
    check: bool,
    /// `ingest` only: keep the cloud's state in this PostgreSQL server instead of SQLite (an
    /// administrator's URL, postgresql://USER@HOST:PORT/DB; each run creates and drops a fresh
    /// database there).
    /// Also for the protocol scenarios, where each run's cloud keeps its state in a fresh
    /// database there.
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Protocol scenarios: cloud front-ends serving at once over --database (issue 21).
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=16))]
    cloud_frontends: u32,
    /// Protocol scenarios: workers each CP runs as (issue 21).
    #[arg(long, default_value_t = 1, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=16))]
    cp_workers: u32,
    /// Internal: run the protocol scenario once in this directory and print the run as JSON
    /// (how `bench` runs each measured run in a fresh process).
    #[arg(long, hide = true, value_name = "DIR")]
    one_run_in: Option<PathBuf>,
    /// Internal: the database of that one run.
    #[arg(long, hide = true, value_name = "URL")]
    run_database: Option<String>,
}

/// The benchmark scenarios of issue 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// 1000 DPs, 5 CPs, t = 3, d = 1, verifiable.
    P1,
    /// `p1` with every input proven in a 16-bit range (range proofs, issue 20).
    P1Validated,
    /// 1000 DPs, 3 CPs, t = 2, d = 1000, fast; with the MPyC baseline.
    P3,
    /// `p3` with every element proven in a 16-bit range (a fully linear proof over the shares,
    /// issue 20), with a DP compared with a Prio3SumVec client of the same shape.
    P3Validated,
    /// 1000 DPs, 3 CPs, t = 2, d = 1000, verifiable.
    P3v,
    /// 100,000 DPs, 7 CPs, t = 4, d = 1, verifiable.
    P5,
    /// 1000 DPs, 3 CPs, t = 2, d = 10^6, fast: a federated-learning round's shape.
    ScaleD,
    /// 10^6 DPs, 5 CPs, t = 3, d = 1, fast: device analytics' shape.
    ScaleN,
    /// 30 peer-mode participants as processes.
    Swarm30,
    /// Scalar bundles accepted durably per second by one cloud over Noise.
    Ingest,
    /// `task create` while one process holds 5000 idle and 100 trickling sockets to the cloud.
    Flood,
}

/// What a scenario must reach (issue 6).
#[derive(Debug, Clone, Copy, Default)]
struct Target {
    wall_s: Option<f64>,
    bytes_per_dp: Option<f64>,
    peak_rss_bytes: Option<u64>,
    per_second: Option<f64>,
    mpyc_speedup: Option<f64>,
    /// Largest ratio of dsmpc's DP upload and CPU to a Prio3SumVec client's.
    client_ratio: Option<f64>,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::P1 => "p1",
            Scenario::P1Validated => "p1-validated",
            Scenario::P3 => "p3",
            Scenario::P3Validated => "p3-validated",
            Scenario::P3v => "p3v",
            Scenario::P5 => "p5",
            Scenario::ScaleD => "scale-d",
            Scenario::ScaleN => "scale-n",
            Scenario::Swarm30 => "swarm30",
            Scenario::Ingest => "ingest",
            Scenario::Flood => "flood",
        }
    }

    fn shape(self) -> Option<ProtocolShape> {
        protocol_shape(self.name())
    }

    fn target(self) -> Target {
        let wall = |s| Target {
            wall_s: Some(s),
            ..Target::default()
        };
        match self {
            Scenario::P1 => wall(0.5),
            // At most 1.5 times p1's target.
            Scenario::P1Validated => wall(0.75),
            Scenario::P3 => Target {
                bytes_per_dp: Some(8300.0),
                mpyc_speedup: Some(4.0),
                ..wall(0.5)
            },
            Scenario::P3Validated => Target {
                client_ratio: Some(1.0),
                ..wall(3.0)
            },
            Scenario::P3v => wall(3.0),
            Scenario::P5 => Target {
                peak_rss_bytes: Some(300 << 20),
                ..wall(30.0)
            },
            Scenario::ScaleD => Target {
                peak_rss_bytes: Some(2 << 30),
                ..wall(150.0)
            },
            Scenario::ScaleN => Target {
                peak_rss_bytes: Some(1 << 30),
                ..Target::default()
            },
            Scenario::Swarm30 => wall(2.0),
            Scenario::Ingest => Target {
                per_second: Some(20_000.0),
                ..Target::default()
            },
            Scenario::Flood => wall(1.0),
        }
    }
}

/// Runs `dsmpc bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(dir) = &args.one_run_in {
        let shape = args
            .scenario
            .shape()
            .context("only the protocol scenarios run one run at a time")?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let layout = Layout {
            database: args.run_database.clone(),
            frontends: args.cloud_frontends,
            cp_workers: args.cp_workers,
        };
        let run = simulate_once(shape_of(args, shape)?, dir, &layout)?;
        println!("{}", run.to_json());
        return Ok(());
    }
    let work = WorkDir::new()?;
    let mut report = match args.scenario.shape() {
        Some(shape) => protocol_scenario(args, shape, work.path())?,
        None if args.scenario == Scenario::Swarm30 => swarm_scenario(args, work.path())?,
        None if args.scenario == Scenario::Flood => flood_scenario(args)?,
        None => ingest_scenario(args, work.path())?,
    };
    let misses = judge(args.scenario.target(), &mut report);
    if args.json {
        println!("{}", Value::Object(report));
    } else {
        print_table(args, &report, &misses);
    }
    if args.check && !misses.is_empty() {
        bail!("{} missed: {}", args.scenario.name(), misses.join("; "));
    }
    Ok(())
}

/// A scratch directory for the servers' databases, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir> {
        let path = std::env::temp_dir().join(format!(
            "dsmpc-bench-{}-{}",
            std::process::id(),
            crate::simulate::timestamp()
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The median of `values` (the upper one of an even count).
/// Alternating rounds of the DP-against-Prio3 comparison of `p3-validated`.
const CLIENT_ROUNDS: usize = 15;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Forgets this process's peak resident memory, so the next reading covers only what follows.
fn reset_peak_rss() {
    // Linux ≥ 4.0: writing 5 to clear_refs resets VmHWM. Elsewhere the reading stays cumulative.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory (VmHWM) of `pid`, or of this process, in bytes.
pub(crate) fn peak_rss_bytes(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// One run of a protocol scenario.
#[derive(Debug, PartialEq)]
struct SimRun {
    wall_s: f64,
    /// CPU seconds (all threads, user and system) the run took.
    cpu_s: Option<f64>,
    stages: Vec<(String, f64)>,
    totals: FlowTotals,
    field: String,
    peak_rss_bytes: Option<u64>,
}

impl SimRun {
    /// The run as one JSON object (what a `--one-run-in` process prints).
    fn to_json(&self) -> Value {
        json!({
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "stages": self.stages,
            "bytes_by_role": self.totals.bytes_by_role,
            "phases": self.totals.phases,
            "messages": self.totals.messages,
            "field": self.field,
            "peak_rss_bytes": self.peak_rss_bytes,
        })
    }

    /// Reads what [`SimRun::to_json`] wrote.
    fn from_json(text: &str) -> Result<SimRun> {
        #[derive(serde::Deserialize)]
        struct Wire {
            wall_s: f64,
            cpu_s: Option<f64>,
            stages: Vec<(String, f64)>,
            bytes_by_role: BTreeMap<String, u64>,
            phases: BTreeMap<String, f64>,
            messages: u64,
            field: String,
            peak_rss_bytes: Option<u64>,
        }
        let wire: Wire = serde_json::from_str(text)?;
        Ok(SimRun {
            wall_s: wire.wall_s,
            cpu_s: wire.cpu_s,
            stages: wire.stages,
            totals: FlowTotals {
                bytes_by_role: wire.bytes_by_role,
                phases: wire.phases,
                messages: wire.messages,
            },
            field: wire.field,
            peak_rss_bytes: wire.peak_rss_bytes,
        })
    }
}

/// The scenario's shape with `--dps` and `--dim` applied.
fn shape_of(args: &BenchArgs, mut shape: ProtocolShape) -> Result<ProtocolShape> {
    shape.dps = args.dps.unwrap_or(shape.dps);
    shape.dim = args.dim.unwrap_or(shape.dim);
    if shape.dps == 0 || shape.dim == 0 {
        bail!("--dps and --dim must be at least 1");
    }
    Ok(shape)
}

/// One run of the protocol scenario in a fresh `dsmpc bench --one-run-in` process, so that its
/// peak memory is its own: heap one run freed but the allocator kept would otherwise count
/// against the next.
fn run_in_child(args: &BenchArgs, dir: &Path, database: Option<&str>) -> Result<SimRun> {
    let exe = std::env::current_exe().context("finding the dsmpc executable")?;
    let mut command = Command::new(exe);
    command
        .args(["bench", args.scenario.name(), "--one-run-in"])
        .arg(dir)
        .args(["--cloud-frontends", &args.cloud_frontends.to_string()])
        .args(["--cp-workers", &args.cp_workers.to_string()]);
    if let Some(url) = database {
        command.args(["--run-database", url]);
    }
    if let Some(dps) = args.dps {
        command.args(["--dps", &dps.to_string()]);
    }
    if let Some(dim) = args.dim {
        command.args(["--dim", &dim.to_string()]);
    }
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .context("starting a benchmark run")?;
    if !output.status.success() {
        bail!("a benchmark run failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    SimRun::from_json(text.trim())
        .with_context(|| format!("reading a benchmark run's report {:?}", text.trim()))
}

fn protocol_scenario(
    args: &BenchArgs,
    shape: ProtocolShape,
    work: &Path,
) -> Result<serde_json::Map<String, Value>> {
    let shape = shape_of(args, shape)?;
    if args.cloud_frontends > 1 && args.database.is_none() {
        bail!("several cloud front-ends share one PostgreSQL database: give --database URL");
    }
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let dir = work.join(format!("run{i}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let fresh = match &args.database {
            Some(admin) => Some(FreshDatabase::create(admin, i)?),
            None => None,
        };
        runs.push(run_in_child(
            args,
            &dir,
            fresh.as_ref().map(|f| f.url.as_str()),
        )?);
        drop(fresh);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let walls: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let wall = median(&walls);
    let middle = runs
        .iter()
        .find(|r| r.wall_s == wall)
        .context("no run to report")?;
    let mut report = serde_json::Map::new();
    report.insert("scenario".into(), json!(args.scenario.name()));
    report.insert(
        "shape".into(),
        json!({
            "dps": shape.dps, "cps": shape.cps, "t": shape.threshold, "dim": shape.dim,
            "mode": shape.mode.name(), "function": shape.function.name(), "field": middle.field,
        }),
    );
    report.insert("runs".into(), json!(walls.len()));
    report.insert(
        "layout".into(),
        json!({
            "store": if args.database.is_some() { "postgresql" } else { "sqlite" },
            "cloud_frontends": args.cloud_frontends,
            "cp_workers": args.cp_workers,
            "processes": 1,
        }),
    );
    report.insert("wall_s".into(), json!(wall));
    report.insert("wall_runs_s".into(), json!(walls));
    if let Some(cpu) = middle.cpu_s {
        report.insert("cpu_s".into(), json!(cpu));
        let cpus: Vec<Option<f64>> = runs.iter().map(|r| r.cpu_s).collect();
        report.insert("cpu_runs_s".into(), json!(cpus));
    }
    let phases: BTreeMap<String, f64> = middle
        .stages
        .iter()
        .cloned()
        .chain(middle.totals.phases.clone())
        .collect();
    report.insert("phases_s".into(), json!(phases));
    report.insert("bytes_per_role".into(), json!(middle.totals.bytes_by_role));
    report.insert("bytes_total".into(), json!(middle.totals.bytes_total()));
    report.insert(
        "bytes_per_dp".into(),
        json!(middle.totals.bytes_of("dp") as f64 / shape.dps as f64),
    );
    let rss = runs.iter().filter_map(|r| r.peak_rss_bytes).max();
    report.insert("peak_rss_bytes".into(), json!(rss));
    if args.scenario == Scenario::P3 && !args.no_mpyc {
        let baseline = mpyc_baseline(args, shape, work)?;
        if let Some(mpyc_wall) = baseline.get("wall_s").and_then(Value::as_f64) {
            report.insert("speedup_vs_mpyc".into(), json!(mpyc_wall / wall));
        }
        report.insert("mpyc".into(), baseline);
    }
    if args.scenario == Scenario::P3Validated {
        let max = u64::try_from(shape.range.1).context("the range's maximum")?;
        let rounds = CLIENT_ROUNDS.max(args.runs as usize);
        let versus = client::compare(shape, max, rounds)?;
        for (key, ratio) in [
            ("upload_vs_prio3", "upload_ratio"),
            ("cpu_vs_prio3", "cpu_ratio_share_and_prove"),
        ] {
            report.insert(key.into(), versus[ratio].clone());
        }
        report.insert("prio3".into(), versus);
    }
    Ok(report)
}

/// Where a protocol run keeps the cloud's state and how many front-ends and CP workers serve.
struct Layout {
    database: Option<String>,
    frontends: u32,
    cp_workers: u32,
}

fn simulate_once(shape: ProtocolShape, dir: &Path, layout: &Layout) -> Result<SimRun> {
    let dps = simulate::random_entries(shape.dps, shape.function.is_weighted(), 1);
    let flow = FlowLog::counting();
    let config = SimConfig {
        cps: shape.cps,
        threshold: shape.threshold,
        function: shape.function,
        mode: shape.mode,
        scale: 0,
        weight_scale: 0,
        range: shape.range,
        dps,
        dim: shape.dim,
        inputs: simulate::Inputs::Random {
            seed: simulate::random_seed(),
        },
        drop_cps: 0,
        late_cps: 0,
        drop_dps: 0,
        cheat_cps: Vec::new(),
        cheat_dps: Vec::new(),
        validate: shape.validate,
        out_of_range_dps: Vec::new(),
        work_dir: dir.to_path_buf(),
        database: layout.database.clone(),
        frontends: layout.frontends,
        cp_workers: layout.cp_workers,
        flow: flow.clone(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    reset_peak_rss();
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let outcome = runtime.block_on(simulate::run(&config, || {}));
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_s = cpu_before
        .zip(process_cpu_seconds())
        .map(|(before, after)| after - before);
    let peak = peak_rss_bytes(None);
    runtime.shutdown_timeout(Duration::from_secs(1));
    let outcome = outcome.context("the benchmarked task failed")?;
    if !outcome.matches {
        bail!(
            "the result {:?} does not equal the plaintext {:?}",
            outcome.result.values(),
            outcome.expected
        );
    }
    if outcome.included != shape.dps as u64 {
        bail!(
            "only {} of {} data providers were included",
            outcome.included,
            shape.dps
        );
    }
    Ok(SimRun {
        wall_s,
        cpu_s,
        stages: outcome
            .stages
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        totals: flow.totals().unwrap_or_default(),
        field: outcome.task.body.field().name().to_owned(),
        peak_rss_bytes: peak,
    })
}

/// The MPyC script, written into the work directory when it runs.
const MPYC_SCRIPT: &str = include_str!("../../../bench/mpyc_sum.py");

/// The Python to run MPyC with, if one can import it.
fn mpyc_python(args: &BenchArgs) -> Option<PathBuf> {
    let usable = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import mpyc, numpy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(chosen) = &args.mpyc_python {
        return Some(chosen.clone()).filter(usable);
    }
    std::env::var_os("DSMPC_MPYC_PYTHON")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            PathBuf::from(".venv-bench/bin/python"),
            PathBuf::from("python3"),
        ])
        .find(usable)
}

/// A free TCP port base for MPyC's three parties (the OS picks; a race is possible but harmless:
/// MPyC then fails and the baseline is reported as failed).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The first of `count` consecutive ports that are all free on 127.0.0.1 and ::1, below the
/// kernel's ephemeral range (32768 and up). MPyC's party i listens on base + i at `localhost`; a
/// base from the ephemeral range can collide with the thousands of client connections the dsmpc
/// run just before made, and a party that cannot bind leaves the others waiting for it.
fn free_port_run(count: u16) -> Result<u16> {
    let start = 20_000 + (std::process::id() % 1000) as u16 * 12;
    (0..1000u16)
        .map(|i| 20_000 + (start - 20_000 + i * count) % (12_000 - count))
        .find(|&base| (base..base + count).all(port_is_free))
        .context("no run of free ports between 20000 and 32000 for MPyC")
}

fn port_is_free(port: u16) -> bool {
    let v4 = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    // ::1 may not exist (IPv6 off); then only IPv4 matters.
    let v6 = std::net::TcpListener::bind(("::1", port)).is_ok()
        || std::net::TcpListener::bind(("::1", 0)).is_err();
    v4 && v6
}

fn mpyc_baseline(args: &BenchArgs, shape: ProtocolShape, work: &Path) -> Result<Value> {
    let Some(python) = mpyc_python(args) else {
        return Ok(json!({
            "skipped": "no Python that imports mpyc and numpy (run scripts/benchmarks.sh, or pass --mpyc-python)",
        }));
    };
    let script = work.join("mpyc_sum.py");
    std::fs::write(&script, MPYC_SCRIPT)
        .with_context(|| format!("writing {}", script.display()))?;
    let mut walls = Vec::new();
    let mut inner = Vec::new();
    let mut rss = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..args.runs {
        match mpyc_once(&python, &script, shape) {
            Ok(run) => {
                walls.push(run.0);
                inner.push(run.1);
                rss.push(run.2);
            }
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    if walls.is_empty() {
        return Ok(json!({ "skipped": format!("every MPyC run failed: {}", failures.join("; ")) }));
    }
    Ok(json!({
        "failed_runs": failures,
        "python": python.display().to_string(),
        "parties": 3,
        "wall_s": median(&walls),
        "wall_runs_s": walls,
        "inner_wall_s": median(&inner),
        "peak_rss_bytes_per_party": rss.iter().max(),
        "method": "three local MPyC processes (-M3 -I0..2), SecInt(32) numpy arrays: each party inputs a third of the vectors, the parties add them and open the sum; wall = first process started to last one exited",
    }))
}

/// One MPyC run: (wall from start to the last exit, party 0's own wall, peak RSS of a party).
fn mpyc_once(python: &Path, script: &Path, shape: ProtocolShape) -> Result<(f64, f64, u64)> {
    let port = free_port_run(3)?;
    let started = Instant::now();
    let mut parties = Vec::new();
    for i in 0..3 {
        let child = Command::new(python)
            .arg(script)
            .args(["-M3", "-I", &i.to_string(), "-B", &port.to_string()])
            .args(["--no-log", &shape.dps.to_string(), &shape.dim.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        parties.push(child);
    }
    let mut peak = 0;
    let deadline = Duration::from_secs(60);
    while parties.iter_mut().any(|c| matches!(c.try_wait(), Ok(None))) {
        for c in &parties {
            peak = peak.max(peak_rss_bytes(Some(c.id())).unwrap_or(0));
        }
        if started.elapsed() > deadline {
            for c in &mut parties {
                let _ = c.kill();
            }
            bail!("MPyC did not finish within {} s", deadline.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let wall = started.elapsed().as_secs_f64();
    let mut first = None;
    for (i, child) in parties.into_iter().enumerate() {
        let out = child.wait_with_output().context("waiting for MPyC")?;
        if !out.status.success() {
            bail!(
                "MPyC party {i} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        if i == 0 {
            first = Some(out.stdout);
        }
    }
    let line = String::from_utf8_lossy(&first.unwrap_or_default()).to_string();
    let v: Value = serde_json::from_str(line.trim()).context("MPyC's JSON line")?;
    let inner = v["wall_s"].as_f64().context("MPyC's wall_s")?;
    Ok((wall, inner, peak))
}

fn swarm_scenario(args: &BenchArgs, work: &Path) -> Result<serde_json::Map<String, Value>> {
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..args.runs {
        let port = free_port()?;
        let started = Instant::now();
        let outcome = crate::peer::swarm(30, port, work, 30, false)?;
        walls.push(started.elapsed().as_secs_f64());
        rss.push(outcome.peak_rss_bytes);
    }
    let mut report = serde_json::Map::new();
    report.insert("scenario".into(), json!("swarm30"));
    report.insert("participants".into(), json!(30));
    report.insert("runs".into(), json!(walls.len()));
    report.insert("wall_s".into(), json!(median(&walls)));
    report.insert("wall_runs_s".into(), json!(walls));
    report.insert("peak_rss_bytes".into(), json!(rss.iter().max()));
    report.insert(
        "peak_rss_note".into(),
        json!("the largest participant process (each is a DP and a CP; the first also hosts the cloud and edge)"),
    );
    Ok(report)
}

fn ingest_scenario(args: &BenchArgs, work: &Path) -> Result<serde_json::Map<String, Value>> {
    let mut config = dsmpc_net::bench::IngestConfig::default();
    if let Some(dps) = args.dps {
        config.dps = dps;
    }
    let mut rates = Vec::new();
    let mut walls = Vec::new();
    let mut rss = Vec::new();
    let mut db_bytes = Vec::new();
    let mut last = None;
    for run in 0..args.runs {
        // A fresh database per run: a cloud reopening the previous run's would replay it.
        config.work_dir = Some(work.join(format!("run-{run}")));
        let fresh = match &args.database {
            Some(admin) => Some(FreshDatabase::create(admin, run)?),
            None => None,
        };
        config.database = fresh.as_ref().map(|f| f.url.clone());
        reset_peak_rss();
        let outcome = dsmpc_net::bench::ingest(&config).context("the ingest benchmark failed")?;
        if let Some(fresh) = &fresh {
            db_bytes.push(fresh.size()?);
        }
        drop(fresh);
        rss.push(peak_rss_bytes(None));
        rates.push(outcome.per_second);
        walls.push(outcome.seconds);
        last = Some(outcome);
    }
    let last = last.context("no run")?;
    let mut report = serde_json::Map::new();
    report.insert("scenario".into(), json!("ingest"));
    report.insert(
        "store".into(),
        json!(if args.database.is_some() {
            "postgresql"
        } else {
            "sqlite"
        }),
    );
    report.insert(
        "shape".into(),
        json!({
            "dps": config.dps, "tasks": config.tasks, "cps": config.cps, "t": config.threshold,
            "dim": 1, "mode": "verifiable", "connections_in_flight": config.concurrency,
        }),
    );
    report.insert("runs".into(), json!(rates.len()));
    report.insert("bundles".into(), json!(last.bundles));
    report.insert("stored".into(), json!(last.stored));
    report.insert("per_second".into(), json!(median(&rates)));
    report.insert("per_second_runs".into(), json!(rates));
    report.insert("wall_s".into(), json!(median(&walls)));
    report.insert("cpu_s".into(), json!(last.cpu_seconds));
    report.insert(
        "bytes_per_dp".into(),
        json!(last.bytes_received as f64 / last.bundles.max(1) as f64),
    );
    report.insert("peak_rss_bytes".into(), json!(rss.iter().flatten().max()));
    if let Some(&bytes) = db_bytes.last() {
        report.insert("database_bytes".into(), json!(bytes));
        report.insert(
            "database_bytes_per_bundle".into(),
            json!(bytes as f64 / last.bundles.max(1) as f64),
        );
    }
    Ok(report)
}

/// A database made on a PostgreSQL server for one benchmark run, dropped afterwards.
struct FreshDatabase {
    admin: String,
    name: String,
    url: String,
}

impl FreshDatabase {
    /// Runs `sql` on the administrator's connection, on a thread of its own (the blocking
    /// client must not run on a runtime's thread).
    fn admin(admin: &str, sql: Vec<String>) -> Result<()> {
        let admin = admin.to_owned();
        std::thread::spawn(move || -> Result<()> {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                .context("connecting to --database")?;
            for statement in sql {
                client.batch_execute(&statement)?;
            }
            Ok(())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the PostgreSQL thread panicked"))?
    }

    /// The database's size on disk (`pg_database_size`), tables, indexes and TOAST included.
    fn size(&self) -> Result<i64> {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        std::thread::spawn(move || -> Result<i64> {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)?;
            Ok(client
                .query_one("SELECT pg_database_size($1)", &[&name])?
                .get(0))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the PostgreSQL thread panicked"))?
    }

    fn create(admin: &str, run: u32) -> Result<FreshDatabase> {
        let name = format!("dsmpc_bench_{}_{run}", std::process::id());
        FreshDatabase::admin(
            admin,
            vec![
                format!("DROP DATABASE IF EXISTS {name}"),
                format!("CREATE DATABASE {name}"),
            ],
        )?;
        let (base, _) = admin
            .rsplit_once('/')
            .context("--database needs /DB at its end")?;
        Ok(FreshDatabase {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        let drop_it = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = FreshDatabase::admin(&self.admin, vec![drop_it]);
    }
}

fn flood_scenario(args: &BenchArgs) -> Result<serde_json::Map<String, Value>> {
    let config = dsmpc_net::bench::FloodConfig {
        creates: args.runs.max(1) as usize * 5,
        ..dsmpc_net::bench::FloodConfig::default()
    };
    let outcome = dsmpc_net::bench::flood(&config).context("the flood benchmark failed")?;
    let mut report = serde_json::Map::new();
    report.insert("scenario".into(), json!("flood"));
    report.insert(
        "shape".into(),
        json!({
            "idle_sockets": config.idle, "trickling_sockets": config.trickle,
            "trickle_every_s": dsmpc_net::bench::TRICKLE_EVERY.as_secs_f64(),
            "task_creates": config.creates, "dps": 10, "cps": 3,
        }),
    );
    report.insert("runs".into(), json!(config.creates));
    report.insert("wall_s".into(), json!(median(&outcome.flooded_seconds)));
    report.insert("wall_runs_s".into(), json!(outcome.flooded_seconds));
    report.insert("quiet_s".into(), json!(median(&outcome.quiet_seconds)));
    report.insert("quiet_runs_s".into(), json!(outcome.quiet_seconds));
    report.insert("sockets_open".into(), json!(outcome.sockets_open));
    report.insert(
        "attacker_connections".into(),
        json!(outcome.attacker_connections),
    );
    Ok(report)
}

/// Compares `report` with `target`, records the verdict in it and returns what was missed.
fn judge(target: Target, report: &mut serde_json::Map<String, Value>) -> Vec<String> {
    let get = |k: &str| report.get(k).and_then(Value::as_f64);
    let mut checks: Vec<(String, bool)> = Vec::new();
    let mut at_most = |name: &str, got: Option<f64>, limit: Option<f64>, unit: &str| {
        if let (Some(got), Some(limit)) = (got, limit) {
            checks.push((
                format!("{name} {got:.3}{unit} ≤ {limit}{unit}"),
                got <= limit,
            ));
        }
    };
    at_most("wall", get("wall_s"), target.wall_s, " s");
    at_most(
        "bytes per DP",
        get("bytes_per_dp"),
        target.bytes_per_dp,
        " B",
    );
    let mib = |b: f64| b / 1_048_576.0;
    at_most(
        "peak RSS",
        get("peak_rss_bytes").map(mib),
        target.peak_rss_bytes.map(|b| mib(b as f64)),
        " MiB",
    );
    if let (Some(got), Some(want)) = (get("per_second"), target.per_second) {
        checks.push((format!("{got:.0}/s ≥ {want}/s"), got >= want));
    }
    if let (Some(got), Some(want)) = (get("speedup_vs_mpyc"), target.mpyc_speedup) {
        checks.push((format!("{got:.1}× MPyC ≥ {want}×"), got >= want));
    }
    for (key, what) in [("upload_vs_prio3", "DP upload"), ("cpu_vs_prio3", "DP CPU")] {
        if let (Some(got), Some(want)) = (get(key), target.client_ratio) {
            checks.push((
                format!("{what} {got:.2}× Prio3SumVec's ≤ {want}×"),
                got <= want,
            ));
        }
    }
    let misses = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(what, _)| what.clone())
        .collect();
    report.insert(
        "targets".into(),
        Value::Object(
            checks
                .into_iter()
                .map(|(what, ok)| (what, json!(ok)))
                .collect(),
        ),
    );
    misses
}

fn mib(bytes: &Value) -> String {
    bytes
        .as_f64()
        .map_or_else(|| "n/a".into(), |b| format!("{:.1} MiB", b / 1048576.0))
}

fn print_table(args: &BenchArgs, report: &serde_json::Map<String, Value>, misses: &[String]) {
    let row = |k: &str, v: String| println!("  {k:<16} {v}");
    let get = |k: &str| report.get(k).cloned().unwrap_or(Value::Null);
    println!("dsmpc bench {}", args.scenario.name());
    if let Some(shape) = report.get("shape") {
        row("shape", shape.to_string());
    }
    let runs = |k: &str| {
        get(k)
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_f64)
                    .map(|v| format!("{v:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    if let Some(rate) = get("per_second").as_f64() {
        row(
            "per second",
            format!("{rate:.0} bundles (runs {})", runs("per_second_runs")),
        );
    }
    match (get("wall_s").as_f64(), report.contains_key("wall_runs_s")) {
        (Some(wall), true) => row(
            "wall",
            format!("{wall:.3} s median (runs {} s)", runs("wall_runs_s")),
        ),
        (Some(wall), false) => row("wall", format!("{wall:.3} s median")),
        _ => {}
    }
    if let (Some(cpu), Some(wall)) = (get("cpu_s").as_f64(), get("wall_s").as_f64()) {
        row(
            "cpu",
            format!(
                "{cpu:.2} core-s in the median run ({:.2} cores busy on average)",
                cpu / wall
            ),
        );
    }
    if let Some(Value::Object(phases)) = report.get("phases_s") {
        for (phase, secs) in phases {
            row(
                &format!("  {phase}"),
                format!("{:.3} s", secs.as_f64().unwrap_or(0.0)),
            );
        }
    }
    if let Some(Value::Object(bytes)) = report.get("bytes_per_role") {
        for (role, b) in bytes {
            row(&format!("bytes {role}"), format!("{b} sent"));
        }
    }
    if let Some(per_dp) = get("bytes_per_dp").as_f64() {
        row("bytes per DP", format!("{per_dp:.0}"));
    }
    row("peak RSS", mib(&get("peak_rss_bytes")));
    if let Some(mpyc) = report.get("mpyc") {
        match (
            mpyc.get("wall_s").and_then(Value::as_f64),
            mpyc.get("skipped"),
        ) {
            (Some(w), _) => row(
                "MPyC",
                format!(
                    "{w:.3} s median (runs {} s); dsmpc is {:.1}× faster",
                    mpyc["wall_runs_s"]
                        .as_array()
                        .map(|a| a
                            .iter()
                            .map(Value::to_string)
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default(),
                    get("speedup_vs_mpyc").as_f64().unwrap_or(f64::NAN)
                ),
            ),
            (None, Some(why)) => row("MPyC", format!("not run: {}", why.as_str().unwrap_or(""))),
            _ => {}
        }
    }
    if let Some(Value::Object(targets)) = report.get("targets") {
        for (what, ok) in targets {
            let mark = if ok.as_bool() == Some(true) {
                "met"
            } else {
                "MISSED"
            };
            row("target", format!("{what}: {mark}"));
        }
    }
    if misses.is_empty() {
        println!("OK: every target met");
    } else {
        println!("MISSED: {}", misses.join("; "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_report_survives_the_trip_from_a_child_process() {
        let run = SimRun {
            wall_s: 0.25,
            cpu_s: Some(0.43),
            stages: vec![("setup".into(), 0.01), ("sharing".into(), 0.2)],
            totals: FlowTotals {
                bytes_by_role: [("dp".to_owned(), 987), ("cloud".to_owned(), 12)].into(),
                phases: [("cp open".to_owned(), 0.1)].into(),
                messages: 42,
            },
            field: "ristretto255".into(),
            peak_rss_bytes: Some(45 << 20),
        };
        let text = run.to_json().to_string();
        assert_eq!(SimRun::from_json(&text).unwrap(), run);
        assert!(
            SimRun::from_json(&text[..text.len() - 1]).is_err(),
            "truncated"
        );
        assert!(SimRun::from_json("{}").is_err(), "fields missing");
    }

    #[test]
    fn mpyc_ports_are_free_and_below_the_ephemeral_range() {
        let base = free_port_run(3).unwrap();
        assert!((20_000..32_000 - 3).contains(&base), "{base}");
        // Holding the run's middle port makes it unusable.
        let held = std::net::TcpListener::bind(("127.0.0.1", base + 1)).unwrap();
        assert!(!port_is_free(base + 1));
        drop(held);
    }

    #[test]
    fn median_takes_the_middle_run() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[5.0]), 5.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn judge_names_every_missed_target() {
        let mut report = serde_json::Map::new();
        report.insert("wall_s".into(), json!(0.7));
        report.insert("bytes_per_dp".into(), json!(8000.0));
        report.insert("speedup_vs_mpyc".into(), json!(3.0));
        let misses = judge(Scenario::P3.target(), &mut report);
        assert_eq!(misses.len(), 2, "{misses:?}");
        assert!(misses[0].starts_with("wall 0.700 s"));
        assert!(misses[1].contains("MPyC"));
        assert_eq!(report["targets"].as_object().unwrap().len(), 3);
        let mut fine = serde_json::Map::new();
        fine.insert("per_second".into(), json!(25000.0));
        assert!(judge(Scenario::Ingest.target(), &mut fine).is_empty());
    }

    #[test]
    fn peak_rss_of_this_process_is_read() {
        let rss = peak_rss_bytes(None).expect("Linux /proc");
        assert!(rss > 1 << 20, "{rss}");
    }
}
