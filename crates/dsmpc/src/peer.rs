//! `dsmpc participant` (peer mode: every process is a data provider and a computing party; the
//! first to bind the rendezvous port coordinates) and `dsmpc swarm` (N participant processes,
//! checked against the plaintext weighted sum).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use dsmpc_core::field::FieldId;
use dsmpc_core::rng::os_rng;
use dsmpc_net::peer::{self, PeerConfig, PeerOutcome};
use rand::RngExt;

/// `dsmpc participant`.
///
/// The rendezvous on HOST:PORT is trust on first use: the coordinator admits any Noise key that
/// connects, and joiners accept the coordinator's key unseen. Run it only where every process that
/// can reach HOST:PORT is meant to take part. All later traffic is pinned to the roster the
/// coordinator hands out.
#[derive(Debug, Args)]
pub struct ParticipantArgs {
    /// Parties (used only by the coordinator; joiners take N from it).
    #[arg(long, default_value_t = 3)]
    parties: u32,
    /// This participant's input (default: random in 0..1000, or in 0..p with --field m31).
    #[arg(long, allow_hyphen_values = true)]
    value: Option<i128>,
    /// Weights w1,...,wN by pid (coordinator; a joiner checks them; default: random in 1..10).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    weights: Option<Vec<i128>>,
    /// Also print `{time}: ...` lines with the field, the secret input and its shares.
    #[arg(long)]
    sec: bool,
    /// Rendezvous host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Rendezvous port.
    #[arg(long, default_value_t = 53709)]
    port: u16,
    /// Shamir sharing with this threshold (default: additive n-of-n).
    #[arg(long)]
    threshold: Option<u32>,
    /// `m31`: the first seed's semantics (inputs and weights in 0..2^31-1, result mod p).
    /// Default: exact integers in ±10^9 over the smallest field that holds the sum.
    #[arg(long)]
    field: Option<FieldId>,
    /// Seconds to wait for the other participants at each step.
    #[arg(long, default_value_t = 30)]
    wait: u64,
    /// Print a JSON object as the last line of stdout.
    #[arg(long)]
    json: bool,
}

fn clock() -> String {
    let secs = dsmpc_net::roles::unix_now() % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Runs one participant.
pub fn run_participant(args: &ParticipantArgs) -> Result<()> {
    let value = args.value.unwrap_or_else(|| peer::random_value(args.field));
    if args.field.is_none() && value.abs() > peer::MAX_INPUT {
        bail!(
            "--value must lie in ±{} (or use --field m31)",
            peer::MAX_INPUT
        );
    }
    let config = PeerConfig {
        parties: args.parties,
        value,
        weights: args.weights.clone(),
        host: args.host.clone(),
        port: args.port,
        threshold: args.threshold,
        modular: args.field,
        wait: Duration::from_secs(args.wait),
    };
    if args.sec {
        let field = args
            .field
            .map_or("exact integers".to_owned(), |f| f.to_string());
        println!("{{{}}}: field: {field}", clock());
        println!("{{{}}}: secret: {value}", clock());
    }
    let log = |m: &str| println!("[{}]: {m}", clock());
    let sec = args.sec;
    let secret = move |m: &str| {
        if sec {
            println!("{{{}}}: {m}", clock());
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the runtime")?;
    let outcome: PeerOutcome = runtime.block_on(peer::run(&config, &log, &secret))?;
    println!("[{}]: weighted sum: {}", clock(), outcome.weighted_sum);
    if args.json {
        let weights: Vec<String> = outcome.weights.iter().map(i128::to_string).collect();
        println!(
            "{{\"pid\":{},\"parties\":{},\"weights\":[{}],\"value\":{},\"weighted_sum\":{}}}",
            outcome.pid,
            outcome.parties,
            weights.join(","),
            outcome.value,
            outcome.weighted_sum
        );
    }
    Ok(())
}

/// `dsmpc swarm`.
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// Participant processes to start.
    n: u32,
    /// Pass --sec to every participant.
    #[arg(long)]
    sec: bool,
    /// Rendezvous port.
    #[arg(long, default_value_t = 53709)]
    port: u16,
    /// Logs go to DIR/<timestamp>/participant_<i>.log.
    #[arg(long, value_name = "DIR", default_value = "log")]
    log_dir: PathBuf,
    /// Seconds each participant waits for the others at each step.
    #[arg(long, default_value_t = 30)]
    wait: u64,
}

/// Kills the children still running when dropped.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Starts N participants, waits for them and checks every result against the plaintext.
pub fn run_swarm(args: &SwarmArgs) -> Result<()> {
    let outcome = swarm(args.n, args.port, &args.log_dir, args.wait, args.sec)?;
    println!(
        "success: all {} participants computed the weighted sum {}, equal to the plaintext (logs in {})",
        args.n,
        outcome.weighted_sum,
        outcome.dir.display()
    );
    Ok(())
}

/// A swarm that succeeded.
#[derive(Debug)]
pub struct SwarmOutcome {
    /// The weighted sum every participant computed.
    pub weighted_sum: i128,
    /// Where the participants' logs are.
    pub dir: PathBuf,
    /// The largest peak resident memory of a participant, as last sampled while it ran.
    pub peak_rss_bytes: u64,
}

/// How long the first participant may take to start coordinating.
const COORDINATOR_START: Duration = Duration::from_secs(10);

/// Waits until the first participant's log says it coordinates (so the others join it rather
/// than race for the port), or it exits, or [`COORDINATOR_START`] passes.
fn await_coordinator(log: &Path, first: &mut Child) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < COORDINATOR_START {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("coordinating on") {
            return Ok(());
        }
        if let Some(status) = first.try_wait()? {
            bail!(
                "the first participant exited with {status} before coordinating (log {})",
                log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    bail!(
        "the first participant did not start coordinating within {} s (log {})",
        COORDINATOR_START.as_secs(),
        log.display()
    )
}

/// Starts `n` participants coordinating on `port`, with logs under `log_dir/<timestamp>/`, waits
/// for them and checks every result against the plaintext; an error names every failure.
pub fn swarm(n: u32, port: u16, log_dir: &Path, wait: u64, sec: bool) -> Result<SwarmOutcome> {
    if n < 2 {
        bail!("a swarm needs at least 2 participants");
    }
    let dir = log_dir.join(crate::simulate::timestamp());
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = os_rng();
    let values: Vec<i128> = (0..n).map(|_| rng.random_range(0..1000)).collect();
    let weights: Vec<i128> = (0..n).map(|_| rng.random_range(1..=10)).collect();
    let weights_arg = weights
        .iter()
        .map(i128::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let exe = std::env::current_exe().context("finding the dsmpc binary")?;
    let mut children = Children(Vec::new());
    let mut logs = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let path = dir.join(format!("participant_{}.log", i + 1));
        let out = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        let err = out.try_clone()?;
        let mut cmd = Command::new(&exe);
        cmd.args(["participant", "--json", "--parties", &n.to_string()])
            .args(["--port", &port.to_string(), "--wait", &wait.to_string()])
            .args(["--value", &value.to_string(), "--weights", &weights_arg])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if sec {
            cmd.arg("--sec");
        }
        children
            .0
            .push(cmd.spawn().context("starting a participant")?);
        if i == 0 {
            await_coordinator(&path, &mut children.0[0])?;
        }
        logs.push(path);
    }
    let limit = Duration::from_secs(3 * wait + 60);
    let start = Instant::now();
    let mut statuses = vec![None; n as usize];
    let mut peak_rss_bytes = 0;
    while statuses.iter().any(Option::is_none) && start.elapsed() < limit {
        for (s, c) in statuses.iter_mut().zip(&mut children.0) {
            if s.is_none() {
                peak_rss_bytes =
                    peak_rss_bytes.max(crate::bench::peak_rss_bytes(Some(c.id())).unwrap_or(0));
                *s = c.try_wait().context("waiting for a participant")?;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for (i, (status, log)) in statuses.iter().zip(&logs).enumerate() {
        let who = format!("participant {} ({})", i + 1, log.display());
        match status {
            None => failures.push(format!("{who}: still running after {} s", limit.as_secs())),
            Some(s) if !s.success() => failures.push(format!("{who}: exited with {s}")),
            Some(_) => match last_json(log) {
                Some(v) => results.push((i, v)),
                None => failures.push(format!("{who}: no JSON result line")),
            },
        }
    }
    // The pid each process got decides which weight applies to its value.
    let mut weight_of = vec![None; n as usize];
    for (i, v) in &results {
        let pid = v["pid"].as_u64().unwrap_or(0) as usize;
        if pid == 0 || pid > n as usize || weight_of[pid - 1].is_some() {
            failures.push(format!("participant {}: bad or duplicate pid {pid}", i + 1));
        } else {
            weight_of[pid - 1] = Some(*i);
        }
        if v["value"].as_i64().map(i128::from) != Some(values[*i]) {
            failures.push(format!("participant {}: reports a different value", i + 1));
        }
    }
    let expected: Option<i128> = if failures.is_empty() {
        weight_of
            .iter()
            .zip(&weights)
            .map(|(i, w)| i.map(|i| w * values[i]))
            .sum()
    } else {
        None
    };
    if let Some(expected) = expected {
        for (i, v) in &results {
            let got = v["weighted_sum"].as_i64().map(i128::from);
            if got != Some(expected) {
                failures.push(format!(
                    "participant {}: weighted sum {} but the plaintext is {expected}",
                    i + 1,
                    v["weighted_sum"]
                ));
            }
        }
    }
    match (expected, failures.is_empty()) {
        (Some(weighted_sum), true) => Ok(SwarmOutcome {
            weighted_sum,
            dir,
            peak_rss_bytes,
        }),
        _ => {
            for f in &failures {
                println!("failure: {f}");
            }
            bail!(
                "{} problem(s) among {n} participants (logs in {})",
                failures.len(),
                dir.display()
            )
        }
    }
}

fn last_json(path: &std::path::Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .rev()
        .filter(|l| l.starts_with("{\"pid\""))
        .find_map(|l| serde_json::from_str(l).ok())
}
