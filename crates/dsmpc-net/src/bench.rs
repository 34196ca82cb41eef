//! Benchmarks of the networked roles, as library functions (so that the `dsmpc` binary, examples
//! and tests can all run them).
//!
//! # `ingest`: how fast one cloud durably accepts data providers' bundles
//!
//! [`ingest`] measures what limits a deployment with many data providers: the cloud server taking
//! bundles. Method:
//!
//! 1. **Deployment (untimed).** One real [`CloudServer`](crate::roles::cloud::CloudServer) starts
//!    in-process on a 127.0.0.1 port, exactly as `simulate` starts it
//!    ([`crate::simulate::spawn_cloud`]): Noise channels, its SQLite event log (WAL,
//!    `synchronous=FULL`) in a work directory. The roster holds the cloud, `cps` CPs and `dps`
//!    DPs (and an edge, which is not started), each with freshly generated keys.
//! 2. **Tasks and committees (untimed).** The operator creates `tasks` tasks over all `dps` DPs
//!    (sum, d = 1, verifiable mode, Shamir `threshold`-of-`cps`) through the real RPC, and every CP
//!    is admitted to every task through the real RPC (Algorithm 1: sealed token, signed request,
//!    grant checked by the CP). No CP worker runs: nothing else competes with ingestion.
//! 3. **Bundles (untimed).** Every DP shares, commits, seals and signs its input for every task —
//!    `dps · tasks` scalar bundles, built on all cores — and each upload request is encoded.
//! 4. **Ingestion (timed).** `dps` DP clients, at most `concurrency` at a time, each open *one*
//!    Noise connection to the cloud with their own key (the handshake is timed) and submit their
//!    `tasks` bundles pipelined ([`Client::send_raw_pipelined`]: written back to back, the
//!    answers read afterwards); the cloud answers `Ok` to each only after it is committed to its
//!    event log. The window ends when the last acknowledgement arrives.
//! 5. **Check (untimed).** The cloud is stopped, its store reopened, and every task's event log
//!    must hold exactly one bundle event from each of its DPs (decoded and matched by signer);
//!    otherwise [`ingest`] fails with [`BenchError::Incomplete`] — a benchmark that lost data
//!    reports nothing.
//!
//! `per_second` is `dps · tasks / seconds`. `bytes_received` counts what the DP clients sent the
//! cloud on the wire: per connection the initiator's two handshake messages
//! ([`HANDSHAKE_BYTES`]) and per request its application message with length prefix, Noise
//! framing and tags ([`wire_len`]) — the same figure the flow log records.
//!
//! Everything runs in one process on one machine: the clients' encryption and handshakes share the
//! cores with the cloud, so the figure is a lower bound for a cloud on its own machine.

mod flood;
pub use flood::{FloodConfig, FloodReport, TRICKLE_EVERY, flood, flood_async};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsmpc_core::codec::{Encode, decode_exact};
use dsmpc_core::encoding::{Encoding, InputRange};
use dsmpc_core::identity::{PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cp::{admission_request, read_grant};
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::round1::Committee;
use dsmpc_core::round2::BundleCore;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode, Task, TaskId, TaskParams};
use futures::StreamExt;
use rand::RngExt;
use tokio::net::TcpListener;

use crate::channel::ChannelConfig;
use crate::client::{Client, Link, NetError};
use crate::flow::FlowLog;
use crate::peer::{AbortOnDrop, RemoveOnDrop};
use crate::roles::{GeneratorCache, unix_now};
use crate::rpc::{Request, Response};
use crate::server::wire_len;
use crate::simulate::{SimError, party, spawn_cloud_at};
use crate::store::{StoreError, StoreLocation};

/// Bytes a Noise initiator sends during the handshake: `-> e` (32) and `-> s, se` (64), each
/// behind a 2-byte length.
pub const HANDSHAKE_BYTES: u64 = 2 + 32 + 2 + 64;

/// What [`ingest`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// Data providers; each contributes to every task (default 1000).
    pub dps: usize,
    /// Tasks (default 20).
    pub tasks: usize,
    /// Committee size (default 5).
    pub cps: u32,
    /// Threshold (default 3).
    pub threshold: u32,
    /// DP clients connected at the same time (default 64).
    pub concurrency: usize,
    /// Where the cloud's SQLite database goes; `None` uses a fresh directory under the system's
    /// temporary directory, removed afterwards. A given directory is kept (with `cloud.db`), and
    /// must not hold a `cloud.db` already: a cloud reopening an earlier run's log would replay it.
    pub work_dir: Option<PathBuf>,
    /// A PostgreSQL database (empty: a cloud reopening an earlier run's log would replay it) to
    /// keep the cloud's state in instead of `cloud.db`.
    pub database: Option<String>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            dps: 1000,
            tasks: 20,
            cps: 5,
            threshold: 3,
            concurrency: 64,
            work_dir: None,
            database: None,
        }
    }
}

/// What [`ingest`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestReport {
    /// Bundles acknowledged in the timed window (`dps · tasks`).
    pub bundles: usize,
    /// Length of the timed window, in seconds.
    pub seconds: f64,
    /// `bundles / seconds`.
    pub per_second: f64,
    /// Bytes the DP clients sent the cloud in the window (handshakes and framed requests).
    pub bytes_received: u64,
    /// CPU time this whole process (cloud, its writer thread and the DP clients) used in the
    /// timed window, in seconds; `None` where `/proc/self/stat` is unavailable. On a machine
    /// busy with other work, `bundles / cpu_seconds` is the steadier figure.
    pub cpu_seconds: Option<f64>,
    /// Bundle events found in the reopened store (equal to `bundles`, or [`ingest`] fails).
    pub stored: usize,
    /// Seconds spent starting the cloud, creating tasks and admitting committees (untimed).
    pub setup_seconds: f64,
    /// Seconds spent building the bundles (untimed).
    pub prepare_seconds: f64,
}

/// Why [`ingest`] produced no figure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The configuration cannot run.
    #[error("invalid benchmark configuration: {0}")]
    Config(String),
    /// The deployment could not start.
    #[error("benchmark setup: {0}")]
    Setup(String),
    /// Talking to the cloud failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The protocol core refused something.
    #[error(transparent)]
    Core(#[from] dsmpc_core::Error),
    /// The store could not be read back.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store does not hold every acknowledged bundle.
    #[error("the store holds {stored} of the {expected} acknowledged bundles of task {task}")]
    Incomplete {
        /// The task.
        task: TaskId,
        /// Bundles that should be there.
        expected: usize,
        /// Distinct DPs' bundles found.
        stored: usize,
    },
}

impl From<SimError> for BenchError {
    fn from(e: SimError) -> Self {
        match e {
            SimError::Net(e) => BenchError::Net(e),
            SimError::Core(e) => BenchError::Core(e),
            other => BenchError::Setup(other.to_string()),
        }
    }
}

/// Runs [`ingest_async`] on a fresh multi-threaded tokio runtime (one worker per core).
pub fn ingest(config: &IngestConfig) -> Result<IngestReport, BenchError> {
    runtime()?.block_on(ingest_async(config))
}

/// A fresh multi-threaded tokio runtime (one worker per core) for a benchmark.
fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(format!("starting the tokio runtime: {e}")))
}

/// The ingest benchmark (see the [module documentation](self) for the method), on the caller's
/// tokio runtime, which must be multi-threaded.
pub async fn ingest_async(config: &IngestConfig) -> Result<IngestReport, BenchError> {
    check(config)?;
    let (dir, _cleanup) = work_dir(config)?;
    let clock = Instant::now();
    let mut deployment = Deployment::start(config, &dir).await?;
    let tasks = deployment.open_tasks(config).await?;
    let setup_seconds = clock.elapsed().as_secs_f64();

    let clock = Instant::now();
    let uploads = prepare_uploads(&deployment, &tasks).await?;
    let prepare_seconds = clock.elapsed().as_secs_f64();

    let (clock, cpu_before) = (Instant::now(), process_cpu_seconds());
    let bytes_received = deployment.submit(uploads, config.concurrency).await?;
    let seconds = clock.elapsed().as_secs_f64();
    let cpu_seconds = cpu_before
        .zip(process_cpu_seconds())
        .map(|(before, after)| after - before);

    deployment.stop();
    let expected: BTreeSet<PartyId> = deployment.dps.iter().map(|d| d.id().clone()).collect();
    let task_ids: Vec<TaskId> = tasks.iter().map(|(t, _)| t.body.id).collect();
    // Reading a PostgreSQL store blocks: off the runtime's thread.
    let stored =
        tokio::task::block_in_place(|| count_stored(&deployment.db, &task_ids, &expected))?;
    let bundles = config.dps * config.tasks;
    Ok(IngestReport {
        bundles,
        seconds,
        per_second: bundles as f64 / seconds.max(f64::MIN_POSITIVE),
        bytes_received,
        cpu_seconds,
        stored,
        setup_seconds,
        prepare_seconds,
    })
}

fn check(config: &IngestConfig) -> Result<(), BenchError> {
    let fail = |what: &str| Err(BenchError::Config(what.to_owned()));
    if config.dps == 0 || config.tasks == 0 {
        return fail("at least one data provider and one task are needed");
    }
    if config.concurrency == 0 {
        return fail("the concurrency must be at least 1");
    }
    if config.threshold == 0 || config.threshold > config.cps {
        return fail("the threshold must be between 1 and the committee size");
    }
    Ok(())
}

/// The directory for the cloud's database, and a guard that removes it if it was made here.
fn work_dir(config: &IngestConfig) -> Result<(PathBuf, Option<RemoveOnDrop>), BenchError> {
    let (dir, cleanup) = match &config.work_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let unique: u64 = fast_rng().random();
            let dir = std::env::temp_dir()
                .join(format!("dsmpc-ingest-{}-{unique:016x}", std::process::id()));
            (dir, true)
        }
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| BenchError::Setup(format!("creating {}: {e}", dir.display())))?;
    let db = dir.join("cloud.db");
    if db.exists() {
        return Err(BenchError::Config(format!(
            "{} already exists; each run needs a fresh database",
            db.display()
        )));
    }
    let guard = cleanup.then(|| RemoveOnDrop(dir.clone()));
    Ok((dir, guard))
}

/// The running cloud and everyone's keys.
struct Deployment {
    roster: Arc<Roster>,
    cloud: Arc<SecretIdentity>,
    cps: Vec<Arc<SecretIdentity>>,
    dps: Vec<Arc<SecretIdentity>>,
    address: String,
    db: StoreLocation,
    servers: Option<AbortOnDrop>,
}

/// One DP's pre-encoded upload requests, one per task.
struct Upload {
    identity: Arc<SecretIdentity>,
    requests: Vec<Vec<u8>>,
}

impl Deployment {
    async fn start(config: &IngestConfig, dir: &Path) -> Result<Deployment, BenchError> {
        let cloud = party("cloud", Role::Cloud);
        let cps: Vec<_> = (1..=config.cps)
            .map(|i| party(&format!("cp{i}"), Role::Cp))
            .collect();
        let dps: Vec<_> = (1..=config.dps)
            .map(|k| party(&format!("dp{k}"), Role::Dp))
            .collect();
        // The roster needs an edge; none runs, since ingestion never reaches it.
        let edge = party("edge", Role::Edge);
        let cards = [&cloud, &edge]
            .into_iter()
            .chain(&cps)
            .map(|p| p.card().clone());
        let roster = Arc::new(Roster::new(cards)?);
        let setup = |e: std::io::Error| BenchError::Setup(format!("binding 127.0.0.1: {e}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(setup)?;
        let address = listener.local_addr().map_err(setup)?.to_string();
        let db = match &config.database {
            Some(url) => StoreLocation::Postgres(url.clone()),
            None => StoreLocation::Sqlite(dir.join("cloud.db")),
        };
        let servers = spawn_cloud_at(&cloud, &roster, listener, &db, &FlowLog::disabled())?;
        let operator = Link::new(
            cloud.clone(),
            roster.cloud().clone(),
            address.clone(),
            ChannelConfig::default(),
            FlowLog::disabled(),
            Duration::from_secs(30),
        );
        let cards = dps.iter().map(|dp| dp.card().clone()).collect();
        crate::roles::register_dps(&operator, cards).await?;
        Ok(Deployment {
            roster,
            cloud,
            cps,
            dps,
            address,
            db,
            servers: Some(AbortOnDrop(servers)),
        })
    }

    /// Stops the cloud server.
    fn stop(&mut self) {
        self.servers = None;
    }

    async fn connect(&self, me: &SecretIdentity) -> Result<Client, NetError> {
        let cloud = self.roster.cloud();
        let config = ChannelConfig::default();
        Client::connect(me, cloud, &self.address, &config, FlowLog::disabled()).await
    }

    /// Creates the tasks and admits every CP to each; returns each task with its committee.
    async fn open_tasks(
        &self,
        config: &IngestConfig,
    ) -> Result<Vec<(Signed<Task>, Signed<Committee>)>, BenchError> {
        let mut operator = self.connect(&self.cloud).await?;
        let mut cps = Vec::new();
        for cp in &self.cps {
            cps.push((cp, self.connect(cp).await?));
        }
        let mut tasks = Vec::with_capacity(config.tasks);
        for _ in 0..config.tasks {
            let params = self.task_params(config)?;
            let task = match operator.call(&Request::CreateTask(params)).await? {
                Response::Task(t) => t,
                other => return Err(operator.unexpected("create-task", &other).into()),
            };
            for (cp, client) in &mut cps {
                self.admit(cp, client, &task.body.id).await?;
            }
            let committee = match operator.call(&Request::GetCommittee(task.body.id)).await? {
                Response::Committee(Some(c)) => c,
                other => return Err(operator.unexpected("committee", &other).into()),
            };
            tasks.push((task, committee));
        }
        Ok(tasks)
    }

    fn task_params(&self, config: &IngestConfig) -> Result<TaskParams, BenchError> {
        let mut weights: Vec<(PartyId, i128)> =
            self.dps.iter().map(|d| (d.id().clone(), 1)).collect();
        weights.sort();
        let now = unix_now();
        Ok(TaskParams {
            function: Function::Sum,
            dim: 1,
            encoding: Encoding::Exact {
                input_scale: 0,
                weight_scale: 0,
                range: InputRange::new(-1000, 1000)?,
            },
            weights,
            n: config.cps,
            t: config.threshold,
            additive: false,
            mode: Mode::Verifiable,
            admission_deadline: now + 3600,
            submission_deadline: now + 3600,
            validate: false,
        })
    }

    /// Algorithm 1 over the RPC, the grant checked as a CP checks it.
    async fn admit(
        &self,
        cp: &SecretIdentity,
        client: &mut Client,
        task: &TaskId,
    ) -> Result<u32, BenchError> {
        let request = admission_request(cp, &self.roster, task, unix_now(), &mut fast_rng());
        match client.call(&Request::Admit(*task, request)).await? {
            Response::Grant(grant) => Ok(read_grant(cp, &self.roster, task, &grant)?),
            other => Err(client.unexpected("admission-request", &other).into()),
        }
    }

    /// The timed part: every DP connects once and uploads its bundles; returns the bytes sent.
    async fn submit(&self, uploads: Vec<Upload>, concurrency: usize) -> Result<u64, BenchError> {
        let sessions = uploads.into_iter().map(|upload| self.upload(upload));
        let sent: Vec<Result<u64, BenchError>> = futures::stream::iter(sessions)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        sent.into_iter().sum()
    }

    /// One DP's session: one connection, its requests pipelined, each acknowledged.
    async fn upload(&self, upload: Upload) -> Result<u64, BenchError> {
        let mut client = self.connect(&upload.identity).await?;
        let mut sent = HANDSHAKE_BYTES;
        let answers = client.send_raw_pipelined(&upload.requests).await?;
        for (request, answer) in upload.requests.iter().zip(&answers) {
            match answer {
                Response::Ok => sent += wire_len(request.len()) as u64,
                other => return Err(client.unexpected("bundle", other).into()),
            }
        }
        Ok(sent)
    }
}

/// Builds and encodes every DP's bundle for every task, on all cores.
async fn prepare_uploads(
    deployment: &Deployment,
    tasks: &[(Signed<Task>, Signed<Committee>)],
) -> Result<Vec<Upload>, BenchError> {
    let tasks = Arc::new(tasks.to_vec());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = deployment.dps.len().div_ceil(workers);
    let mut jobs = Vec::new();
    for dps in deployment.dps.chunks(chunk) {
        let (dps, tasks, roster) = (dps.to_vec(), tasks.clone(), deployment.roster.clone());
        jobs.push(tokio::task::spawn_blocking(move || {
            dps.into_iter()
                .map(|dp| uploads_of(dp, &roster, &tasks))
                .collect::<Result<Vec<Upload>, BenchError>>()
        }));
    }
    let mut uploads = Vec::with_capacity(deployment.dps.len());
    for job in jobs {
        let built = job
            .await
            .map_err(|e| BenchError::Setup(format!("a bundle builder failed: {e}")))?;
        uploads.extend(built?);
    }
    Ok(uploads)
}

/// One DP's encoded upload requests: a random input in ±1000 per task.
fn uploads_of(
    identity: Arc<SecretIdentity>,
    roster: &Arc<Roster>,
    tasks: &[(Signed<Task>, Signed<Committee>)],
) -> Result<Upload, BenchError> {
    let dp = Dp::new(identity.clone(), roster.clone());
    let gens = GeneratorCache::default();
    let mut rng = fast_rng();
    let mut requests = Vec::with_capacity(tasks.len());
    for (task, committee) in tasks {
        let generators = gens.for_task(&task.body)?;
        let input = [rng.random_range(-1000..=1000)];
        let bundle = dsmpc_core::with_field!(task.body.field(), F => {
            dp.submit::<F, _>(&task.body, &committee.body, &input, generators.as_deref(), &mut rng)
        })?;
        requests.push(Request::SubmitBundle(task.body.id, bundle).to_bytes());
    }
    Ok(Upload { identity, requests })
}

/// The shape of one of `dsmpc bench`'s protocol scenarios (issue 6): `p1`, `p3`, `p3v`, `p5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolShape {
    /// Data providers.
    pub dps: usize,
    /// Computing parties (n).
    pub cps: u32,
    /// Threshold (t).
    pub threshold: u32,
    /// Input dimension (d).
    pub dim: u32,
    /// Verifiable or fast.
    pub mode: Mode,
    /// Sum or weighted sum.
    pub function: Function,
    /// Whether DPs prove their inputs in range.
    pub validate: bool,
    /// The declared input range.
    pub range: (i128, i128),
}

/// The shape of the protocol scenario `name`, or `None` if `name` is not one.
pub fn protocol_shape(name: &str) -> Option<ProtocolShape> {
    let (dps, cps, threshold, dim, mode, function) = match name {
        "p1" | "p1-validated" => (1000, 5, 3, 1, Mode::Verifiable, Function::WeightedSum),
        "p3" | "p3-validated" => (1000, 3, 2, 1000, Mode::Fast, Function::Sum),
        "p3v" => (1000, 3, 2, 1000, Mode::Verifiable, Function::Sum),
        "p5" => (100_000, 7, 4, 1, Mode::Verifiable, Function::WeightedSum),
        "scale-d" => (1000, 3, 2, 1_000_000, Mode::Fast, Function::Sum),
        "scale-n" => (1_000_000, 5, 3, 1, Mode::Fast, Function::Sum),
        _ => return None,
    };
    Some(ProtocolShape {
        dps,
        cps,
        threshold,
        dim,
        mode,
        function,
        validate: name.ends_with("-validated"),
        // p3-validated proves 16 bits an element, as Prio3SumVec of 16 bits does.
        range: if name == "p3-validated" {
            (0, 65_535)
        } else {
            (-1000, 1000)
        },
    })
}

/// CPU time (user and system) this process has used so far, over all its threads (exited ones
/// included), in seconds: fields 14 and 15 of `/proc/self/stat`, in clock ticks of 1/100 s (the
/// value of `USER_HZ` on every Linux architecture dsmpc builds for). `None` where there is no
/// such file (not Linux).
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count fields after its
    // last ')'. The text after it starts at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// Reopens the store and counts, per task, the distinct expected DPs with a stored bundle; fails
/// unless every task holds every DP's bundle.
fn count_stored(
    db: &StoreLocation,
    tasks: &[TaskId],
    expected: &BTreeSet<PartyId>,
) -> Result<usize, BenchError> {
    let mut store = db.open()?;
    let mut total = 0;
    for task in tasks {
        let mut seen = BTreeSet::new();
        for stored in store.bundle_cores(&task.0)? {
            if let Ok(core) = decode_exact::<Signed<BundleCore>>(&stored.core)
                && core.signer.as_str() == stored.dp
                && expected.contains(&core.signer)
            {
                seen.insert(core.signer);
            }
        }
        if seen.len() != expected.len() {
            return Err(BenchError::Incomplete {
                task: *task,
                expected: expected.len(),
                stored: seen.len(),
            });
        }
        total += seen.len();
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_shapes_are_those_of_the_performance_issue() {
        let p1 = protocol_shape("p1").unwrap();
        assert_eq!((p1.dps, p1.cps, p1.threshold, p1.dim), (1000, 5, 3, 1));
        assert_eq!(
            (p1.mode, p1.function),
            (Mode::Verifiable, Function::WeightedSum)
        );
        let p3 = protocol_shape("p3").unwrap();
        assert_eq!((p3.dps, p3.cps, p3.threshold, p3.dim), (1000, 3, 2, 1000));
        assert_eq!((p3.mode, p3.function), (Mode::Fast, Function::Sum));
        let p3v = protocol_shape("p3v").unwrap();
        assert_eq!(
            p3v,
            ProtocolShape {
                mode: Mode::Verifiable,
                ..p3
            }
        );
        let p5 = protocol_shape("p5").unwrap();
        assert_eq!((p5.dps, p5.cps, p5.threshold, p5.dim), (100_000, 7, 4, 1));
        assert_eq!(
            (p5.mode, p5.function),
            (Mode::Verifiable, Function::WeightedSum)
        );
        for other in ["swarm30", "ingest", "P1", ""] {
            assert_eq!(protocol_shape(other), None, "{other:?}");
        }
    }

    #[test]
    fn cpu_time_of_this_process_is_read_and_grows_with_work() {
        let before = process_cpu_seconds().expect("Linux /proc");
        // About 0.1 s of work: ten ticks of the 100 Hz counter.
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < std::time::Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let after = process_cpu_seconds().expect("Linux /proc");
        assert!(after > before, "{before} -> {after}");
    }

    #[test]
    fn a_small_ingest_stores_every_bundle() {
        let config = IngestConfig {
            dps: 20,
            tasks: 3,
            concurrency: 8,
            ..IngestConfig::default()
        };
        let report = ingest(&config).unwrap();
        assert_eq!(report.bundles, 60);
        assert_eq!(report.stored, 60);
        assert!(report.per_second > 0.0);
        assert!(report.bytes_received > 60 * 500);
    }

    #[test]
    fn bad_configurations_are_refused() {
        for config in [
            IngestConfig {
                dps: 0,
                ..IngestConfig::default()
            },
            IngestConfig {
                concurrency: 0,
                ..IngestConfig::default()
            },
            IngestConfig {
                threshold: 6,
                ..IngestConfig::default()
            },
        ] {
            assert!(matches!(ingest(&config), Err(BenchError::Config(_))));
        }
    }

    #[test]
    fn a_work_directory_holding_an_earlier_database_is_refused() {
        let dir = std::env::temp_dir().join(format!(
            "dsmpc-ingest-test-{:016x}",
            fast_rng().random::<u64>()
        ));
        let _cleanup = RemoveOnDrop(dir.clone());
        let config = IngestConfig {
            dps: 4,
            tasks: 1,
            work_dir: Some(dir.clone()),
            ..IngestConfig::default()
        };
        assert_eq!(ingest(&config).unwrap().stored, 4);
        let again = ingest(&config).unwrap_err();
        assert!(
            matches!(&again, BenchError::Config(m) if m.contains("cloud.db already exists")),
            "{again}"
        );
    }
}
