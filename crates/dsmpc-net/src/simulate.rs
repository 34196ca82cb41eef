//! A whole task in one process: the cloud, edge and CP servers of a deployment on 127.0.0.1 with
//! their Noise channels and SQLite stores (in a work directory), data providers as concurrent
//! clients, optional faults, and the result checked against the plaintext computed directly from
//! the same inputs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsmpc_core::codec::Encode;
use dsmpc_core::encoding::{Encoding, InputRange};
use dsmpc_core::field::Field;
use dsmpc_core::identity::{IdentityCard, PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::rng::{fast_rng, os_rng};
use dsmpc_core::roles::cp::WorkerPart;
use dsmpc_core::roles::dp::{Dp, Forgery};
use dsmpc_core::round1::Committee;
use dsmpc_core::round4::TaskResult;
use dsmpc_core::sharing::ShareValue;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode, Task, TaskParams};
use dsmpc_core::with_field;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::channel::ChannelConfig;
use crate::client::{Client, Link, NetError};
use crate::flow::FlowLog;
use crate::roles::cloud::{CloudConfig, CloudServer};
use crate::roles::cp::CpWorker;
use crate::roles::edge::{EdgeConfig, EdgeServer};
use crate::roles::{GeneratorCache, dp, unix_now};
use crate::rpc::{REGISTER_PAGE, Request, Response};
use crate::server::ServerContext;

mod inputs;

pub use inputs::{CsvScan, DpEntry, Inputs, random_entries, random_seed, random_values, scan_csv};
use inputs::{ExpectedSum, InputReader};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Committee size.
    pub cps: u32,
    /// Threshold.
    pub threshold: u32,
    /// The function.
    pub function: Function,
    /// Verifiable or fast.
    pub mode: Mode,
    /// Decimal places of inputs.
    pub scale: u32,
    /// Decimal places of weights.
    pub weight_scale: u32,
    /// The declared input range (mantissas).
    pub range: (i128, i128),
    /// The data providers, in the order they upload.
    pub dps: Vec<DpEntry>,
    /// Values per input.
    pub dim: u32,
    /// Where their input vectors come from (made as each DP uploads).
    pub inputs: Inputs,
    /// How many CPs die right after admission (the highest-numbered ones).
    pub drop_cps: u32,
    /// How many CPs report only after the cloud's report deadline (the lowest-numbered ones):
    /// their reports are refused, and they must still send their result shares.
    pub late_cps: u32,
    /// How many DPs die mid-upload (the highest-numbered ones).
    pub drop_dps: usize,
    /// CPs that return a wrong result share.
    pub cheat_cps: Vec<PartyId>,
    /// DPs that send one live CP a share inconsistent with their commitments.
    pub cheat_dps: Vec<PartyId>,
    /// Whether DPs prove their inputs inside `range` (range proofs; scalar, verifiable).
    pub validate: bool,
    /// DPs that share a value outside `range`, each with the next forgery of
    /// [`Forgery::ALL`] in turn instead of a range proof (needs `validate`).
    pub out_of_range_dps: Vec<PartyId>,
    /// Where the servers keep their SQLite databases.
    pub work_dir: PathBuf,
    /// A PostgreSQL database (empty) to keep the cloud's state in instead of its SQLite file.
    pub database: Option<String>,
    /// Cloud front-ends serving at once (more than one needs `database`).
    pub frontends: u32,
    /// Workers each CP runs as (`dsmpc cp --worker I/K`).
    pub cp_workers: u32,
    /// The flow log every message is recorded in (once, by its receiving server).
    pub flow: FlowLog,
}

/// What happened.
#[derive(Debug)]
pub struct SimOutcome {
    /// The signed task.
    pub task: Signed<Task>,
    /// The edge's result.
    pub result: TaskResult,
    /// How many DPs it includes.
    pub included: u64,
    /// The DPs it leaves out, by id (the result names them by position in the task's list).
    pub excluded: Vec<PartyId>,
    /// The plaintext result over the included DPs (sums of mantissas, and the total weight),
    /// accumulated as the inputs were made.
    pub expected: TaskResult,
    /// Whether they are equal.
    pub matches: bool,
    /// Seconds per stage, in order.
    pub stages: Vec<(&'static str, f64)>,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Bad parameters.
    #[error("{0}")]
    Config(String),
    /// The protocol failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The protocol core refused something.
    #[error(transparent)]
    Core(#[from] dsmpc_core::Error),
    /// A server could not start.
    #[error("{0}")]
    Setup(String),
}

struct Cluster {
    roster: Arc<Roster>,
    cloud: Arc<SecretIdentity>,
    edge: Arc<SecretIdentity>,
    /// Every DP's keys derive from this and the DP's number ([`dp_identity`]), so that the
    /// simulation keeps only the roster's public cards, not N secret identities.
    dp_seed: Arc<DpSeed>,
    addresses: BTreeMap<PartyId, String>,
    handles: Vec<JoinHandle<()>>,
    /// Each CP's workers (one unless `cp_workers` says more), in CP order.
    workers: Vec<Vec<Arc<CpWorker>>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for w in self.workers.iter().flatten() {
            w.stop();
        }
        for h in &self.handles {
            h.abort();
        }
    }
}

pub(crate) fn party(name: &str, role: Role) -> Arc<SecretIdentity> {
    Arc::new(SecretIdentity::generate(
        PartyId::new(name).expect("valid id"),
        role,
        &mut os_rng(),
    ))
}

/// The secret from which a simulation derives every DP's keys.
struct DpSeed(zeroize::Zeroizing<[u8; 32]>);

impl DpSeed {
    fn random() -> DpSeed {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        rand::Rng::fill_bytes(&mut os_rng(), seed.as_mut());
        DpSeed(seed)
    }
}

/// DP number `k`'s keys: generated from ChaCha20 keyed by `SHA-256(seed ‖ k)`, so they can be made
/// again when the DP uploads instead of being kept for all DPs (three fixed-base multiplications,
/// about 40 µs).
fn dp_identity(seed: &DpSeed, k: usize, id: &PartyId) -> SecretIdentity {
    use rand::SeedableRng;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"dsmpc/simulate/dp-keys");
    h.update(seed.0.as_slice());
    h.update((k as u64).to_le_bytes());
    let mut key = zeroize::Zeroizing::new(<[u8; 32]>::from(h.finalize()));
    let mut rng = rand::rngs::ChaCha20Rng::from_seed(*key);
    zeroize::Zeroize::zeroize(&mut *key);
    SecretIdentity::generate(id.clone(), Role::Dp, &mut rng)
}

/// The keys of the DPs `inputs` (numbers `first`, `first + 1`, …), generated on all cores
/// (three fixed-base multiplications each: about 5 s of one core for 100,000 DPs).
fn data_providers(inputs: &[DpEntry], first: usize, seed: &DpSeed) -> Vec<SecretIdentity> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let chunk = inputs.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = inputs
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                scope.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(j, i)| dp_identity(seed, first + c * chunk + j, &i.id))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// The most simulated DPs whose keys are kept from registration to upload (about 400 bytes a
/// DP: 6.5 MB at this count); beyond it each upload makes its DP's keys again (about 40 µs), so
/// that memory stays flat in N.
const KEEP_DP_KEYS_UP_TO: usize = 16_384;

impl Cluster {
    fn link(&self, me: &Arc<SecretIdentity>, peer: &IdentityCard, patience: Duration) -> Arc<Link> {
        Arc::new(Link::new(
            me.clone(),
            peer.clone(),
            self.addresses[&peer.id].clone(),
            ChannelConfig::default(),
            FlowLog::disabled(),
            patience,
        ))
    }

    /// Registers every DP's card with the cloud, as its operator would, a page at a time (the
    /// cards of 10^6 DPs would take about 450 MB at once).
    ///
    /// Returns the DPs' keys, in `config.dps` order, when there are at most
    /// [`KEEP_DP_KEYS_UP_TO`] of them (else none: each upload makes its DP's keys again).
    async fn register_dps(&self, config: &SimConfig) -> Result<Vec<Arc<SecretIdentity>>, SimError> {
        let operator = self.link(&self.cloud, self.roster.cloud(), Duration::from_secs(30));
        let keep = config.dps.len() <= KEEP_DP_KEYS_UP_TO;
        let mut kept = Vec::new();
        for (page, entries) in config.dps.chunks(REGISTER_PAGE).enumerate() {
            let keys = data_providers(entries, page * REGISTER_PAGE, &self.dp_seed);
            let cards = keys.iter().map(|k| k.card().clone()).collect();
            crate::roles::register_dps(&operator, cards).await?;
            if keep {
                kept.extend(keys.into_iter().map(Arc::new));
            }
        }
        Ok(kept)
    }

    async fn start(config: &SimConfig) -> Result<Cluster, SimError> {
        let cloud = party("cloud", Role::Cloud);
        let edge = party("edge", Role::Edge);
        let cps: Vec<_> = (1..=config.cps)
            .map(|i| party(&format!("cp{i}"), Role::Cp))
            .collect();
        let dp_seed = Arc::new(DpSeed::random());
        let cards = [&cloud, &edge]
            .into_iter()
            .chain(&cps)
            .map(|p| p.card().clone());
        let roster = Arc::new(Roster::new(cards)?);
        let setup =
            |e: std::io::Error| SimError::Setup(format!("binding a port on 127.0.0.1: {e}"));
        let mut cloud_listeners = Vec::new();
        for _ in 0..config.frontends.max(1) {
            cloud_listeners.push(TcpListener::bind("127.0.0.1:0").await.map_err(setup)?);
        }
        let edge_listener = TcpListener::bind("127.0.0.1:0").await.map_err(setup)?;
        let mut addresses = BTreeMap::new();
        let cloud_addresses: Vec<String> = cloud_listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.to_string()))
            .collect::<Result<_, _>>()
            .map_err(setup)?;
        addresses.insert(cloud.id().clone(), cloud_addresses.join(","));
        addresses.insert(
            edge.id().clone(),
            edge_listener.local_addr().map_err(setup)?.to_string(),
        );
        let mut cluster = Cluster {
            roster,
            cloud,
            edge,
            dp_seed,
            addresses,
            handles: Vec::new(),
            workers: Vec::new(),
        };
        for listener in cloud_listeners {
            cluster.start_cloud(config, listener)?;
        }
        cluster.start_edge(config, edge_listener)?;
        for cp in cps {
            cluster.start_cp(config, cp);
        }
        Ok(cluster)
    }

    fn start_cloud(&mut self, config: &SimConfig, listener: TcpListener) -> Result<(), SimError> {
        let location = match &config.database {
            Some(url) => crate::store::StoreLocation::Postgres(url.clone()),
            None => crate::store::StoreLocation::Sqlite(config.work_dir.join("cloud.db")),
        };
        let handles = spawn_cloud_at(&self.cloud, &self.roster, listener, &location, &config.flow)?;
        self.handles.extend(handles);
        Ok(())
    }

    fn start_edge(&mut self, config: &SimConfig, listener: TcpListener) -> Result<(), SimError> {
        let handles = spawn_edge(
            &self.edge,
            &self.roster,
            self.addresses[&self.roster.cloud().id].clone(),
            listener,
            &config.work_dir.join("edge.db"),
            &config.flow,
        )?;
        self.handles.extend(handles);
        Ok(())
    }

    fn start_cp(&mut self, config: &SimConfig, cp: Arc<SecretIdentity>) {
        let patience = Duration::from_secs(30);
        let late = self.workers.len() < config.late_cps as usize;
        let workers = config.cp_workers.max(1);
        let mut group = Vec::new();
        for part in (1..=workers).filter_map(|i| WorkerPart::new(i, workers)) {
            let cloud = self.link(&cp, self.roster.cloud(), patience);
            let edge = self.link(&cp, self.roster.edge(), patience);
            let mut worker = CpWorker::new(
                cp.clone(),
                self.roster.clone(),
                cloud,
                edge,
                config.flow.clone(),
            );
            worker.poll = SIM_POLL;
            worker.part = part;
            worker.wrong_result = config.cheat_cps.contains(cp.id());
            if late {
                worker.report_delay = SIM_REPORT_TIMEOUT + Duration::from_secs(1);
            }
            let worker = Arc::new(worker);
            group.push(worker.clone());
            self.handles
                .push(tokio::spawn(worker.run(std::future::pending())));
        }
        self.workers.push(group);
    }
}

fn context(me: &Arc<SecretIdentity>, roster: &Arc<Roster>, flow: &FlowLog) -> ServerContext {
    ServerContext {
        identity: me.clone(),
        roster: roster.clone(),
        directory: roster.clone(),
        channel: ChannelConfig::default(),
        flow: flow.clone(),
        max_connections: 4096,
        max_handshakes: crate::server::MAX_HANDSHAKES,
        handshake_deadline: crate::server::HANDSHAKE_DEADLINE,
    }
}

/// Starts the cloud server of `roster` on `listener` (state in the SQLite file `db`), with the
/// short report timeout simulations use; returns its tasks (abort them to stop it).
pub fn spawn_cloud(
    cloud: &Arc<SecretIdentity>,
    roster: &Arc<Roster>,
    listener: TcpListener,
    db: &std::path::Path,
    flow: &FlowLog,
) -> Result<Vec<JoinHandle<()>>, SimError> {
    let location = crate::store::StoreLocation::Sqlite(db.to_owned());
    spawn_cloud_at(cloud, roster, listener, &location, flow)
}

/// [`spawn_cloud`] with its store at `location` (SQLite or PostgreSQL). On a multi-threaded
/// runtime: opening a PostgreSQL store blocks, and leaves the runtime's thread to do it.
pub fn spawn_cloud_at(
    cloud: &Arc<SecretIdentity>,
    roster: &Arc<Roster>,
    listener: TcpListener,
    location: &crate::store::StoreLocation,
    flow: &FlowLog,
) -> Result<Vec<JoinHandle<()>>, SimError> {
    let cloud_config = CloudConfig {
        report_timeout: SIM_REPORT_TIMEOUT,
    };
    let open = || {
        CloudServer::open_at(
            cloud.clone(),
            roster.clone(),
            location,
            cloud_config,
            flow.clone(),
        )
    };
    let server = match location {
        crate::store::StoreLocation::Postgres(_) => tokio::task::block_in_place(open),
        crate::store::StoreLocation::Sqlite(_) => open(),
    }
    .map_err(|e| SimError::Setup(e.to_string()))?;
    let serving = Arc::new(server).serve_until(
        listener,
        context(cloud, roster, flow),
        Duration::from_millis(50),
        std::future::pending(),
    );
    Ok(vec![tokio::spawn(serving)])
}

/// Starts the edge server of `roster` on `listener` (results in the SQLite file `db`), talking to
/// the cloud at `cloud_address`; returns its tasks (abort them to stop it).
pub fn spawn_edge(
    edge: &Arc<SecretIdentity>,
    roster: &Arc<Roster>,
    cloud_address: String,
    listener: TcpListener,
    db: &std::path::Path,
    flow: &FlowLog,
) -> Result<Vec<JoinHandle<()>>, SimError> {
    let cloud_link = Arc::new(Link::new(
        edge.clone(),
        roster.cloud().clone(),
        cloud_address,
        ChannelConfig::default(),
        FlowLog::disabled(),
        Duration::from_secs(30),
    ));
    let edge_config = EdgeConfig {
        grace: Duration::from_millis(500),
        ..EdgeConfig::default()
    };
    let server = EdgeServer::open(
        edge.clone(),
        roster.clone(),
        cloud_link,
        db,
        edge_config,
        flow.clone(),
    )
    .map_err(|e| SimError::Setup(e.to_string()))?;
    let serving = Arc::new(server).serve_until(
        listener,
        context(edge, roster, flow),
        std::future::pending(),
    );
    Ok(vec![tokio::spawn(serving)])
}

fn task_params(config: &SimConfig) -> Result<TaskParams, SimError> {
    let now = unix_now();
    let deadline = if config.drop_dps > 0 {
        3 + config.dps.len() as u64 / 200
    } else {
        3600
    };
    let mut weights: Vec<(PartyId, i128)> = config
        .dps
        .iter()
        .map(|i| (i.id.clone(), i.weight))
        .collect();
    weights.sort();
    Ok(TaskParams {
        function: config.function,
        dim: config.dim,
        encoding: Encoding::Exact {
            input_scale: config.scale,
            weight_scale: config.weight_scale,
            range: InputRange::new(config.range.0, config.range.1)?,
        },
        weights,
        n: config.cps,
        t: config.threshold,
        additive: false,
        mode: config.mode,
        admission_deadline: now + deadline.min(60),
        submission_deadline: now + deadline,
        validate: config.validate,
    })
}

/// Runs the simulation; `on_submit` is called after each DP's upload (for a progress bar).
pub async fn run(
    config: &SimConfig,
    on_submit: impl Fn() + Send + Sync,
) -> Result<SimOutcome, SimError> {
    let mut stages = Vec::new();
    let clock = Instant::now();
    Task::validate(&task_params(config)?)?;
    let cluster = Cluster::start(config).await?;
    let kept_keys = cluster.register_dps(config).await?;
    stages.push(("setup", clock.elapsed().as_secs_f64()));
    // The deadlines count from now: registering 10^6 DPs with a PostgreSQL cloud takes minutes,
    // longer than the admission window.
    let params = task_params(config)?;

    let clock = Instant::now();
    let operator = cluster.link(
        &cluster.cloud,
        cluster.roster.cloud(),
        Duration::from_secs(30),
    );
    let (task, committee) = dp::create_task(&operator, params, Duration::from_secs(60)).await?;
    for group in cluster.workers.iter().rev().take(config.drop_cps as usize) {
        for worker in group {
            worker.stop();
        }
    }
    stages.push(("admission", clock.elapsed().as_secs_f64()));

    let clock = Instant::now();
    let expected = with_field!(task.body.field(), F => submit_all::<F>(&cluster, config, &task, &committee, &kept_keys, &on_submit).await)?;
    stages.push(("sharing", clock.elapsed().as_secs_f64()));

    let clock = Instant::now();
    let edge = cluster.link(
        &cluster.cloud,
        cluster.roster.edge(),
        Duration::from_secs(30),
    );
    let result = dp::result(
        &edge,
        &cluster.roster,
        task.body.id,
        Duration::from_secs(600),
    )
    .await?;
    stages.push(("aggregation", clock.elapsed().as_secs_f64()));
    let names = ListNames::of(&config.dps);
    let included = &result.body.included;
    dsmpc_core::roles::check_set_len(&task.body, included, "result")?;
    let (sums, weight_total) = expected.finish(|id| {
        names
            .position_of(&config.dps, id)
            .is_some_and(|i| included.contains(i))
    });
    let excluded = included
        .iter_missing()
        .filter_map(|i| names.id_at(&config.dps, i))
        .cloned()
        .collect();
    let expected = TaskResult {
        sums,
        weight_total,
        ..result.body.clone()
    };
    let matches = expected.sums == result.body.sums
        && expected.weight_total == result.body.weight_total
        && expected.values() == result.body.values();
    Ok(SimOutcome {
        task,
        included: result.body.included.count(),
        excluded,
        result: result.body,
        expected,
        matches,
        stages,
    })
}

/// The simulated DPs in the order of the task's list (ids ascending), as indices into
/// `config.dps`: what turns the positions a result names into ids (4 bytes a DP, not a second
/// list of ids).
struct ListNames {
    order: Vec<u32>,
}

impl ListNames {
    fn of(dps: &[DpEntry]) -> ListNames {
        let mut order: Vec<u32> = (0..dps.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| dps[a as usize].id.cmp(&dps[b as usize].id));
        ListNames { order }
    }

    fn id_at<'a>(&self, dps: &'a [DpEntry], position: u64) -> Option<&'a PartyId> {
        let k = *self.order.get(usize::try_from(position).ok()?)?;
        dps.get(k as usize).map(|e| &e.id)
    }

    fn position_of(&self, dps: &[DpEntry], id: &PartyId) -> Option<u64> {
        self.order
            .binary_search_by(|&k| dps[k as usize].id.cmp(id))
            .ok()
            .map(|i| i as u64)
    }
}

/// How many DP uploads are in flight at most: enough to keep both cores and the cloud's group
/// commits busy, few enough that prepared bundles do not pile up in memory.
const UPLOADS_IN_FLIGHT: usize = 64;

/// About how many bytes the uploads in flight may hold at once (inputs, shares, sealed bundles and
/// their encodings, at the DP and at the cloud): long vectors get fewer uploads in flight.
const IN_FLIGHT_BYTES: usize = 256 << 20;

/// How many uploads of `dim` values to `n` CPs may be in flight: about 16 bytes per value per CP
/// and two more copies of the input, within [`IN_FLIGHT_BYTES`], at least one.
fn uploads_in_flight(dim: usize, n: usize) -> usize {
    let per_upload = dim.max(1).saturating_mul(n + 2).saturating_mul(16);
    (IN_FLIGHT_BYTES / per_upload).clamp(1, UPLOADS_IN_FLIGHT)
}

/// How long a simulated CP that has drained its deliveries waits before asking for more: every
/// party runs on loopback, so a short period costs little. (News — a task, the committee, closed
/// submissions, the input set, the result — is awaited, not polled: it arrives within a round trip.)
const SIM_POLL: Duration = Duration::from_millis(20);

/// How long the simulated cloud waits for CP reports once submissions close. Short, so that a run
/// with dead CPs ends quickly; CPs still verifying a backlog then report late (see `late_cps`).
const SIM_REPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest input a simulated DP prepares on its tokio worker (fast mode: about 0.2 µs per
/// element, plus the seals).
const INLINE_DIM: usize = 1024;
/// The longest input a simulated DP prepares on its tokio worker in verifiable mode (commitments
/// cost about 7 µs per element at t = 2).
const INLINE_VERIFIABLE_DIM: usize = 16;

/// One simulated DP's upload: shares prepared and sealed (short jobs on the tokio worker, long
/// ones on a blocking thread, so that DPs use every core), then submitted over its own Noise
/// connection.
struct Upload {
    /// The DP.
    id: PartyId,
    /// Its keys, if the simulation kept them from registration.
    keys: Option<Arc<SecretIdentity>>,
    /// Its number: with the seed, its keys (see [`dp_identity`]).
    number: usize,
    seed: Arc<DpSeed>,
    roster: Arc<Roster>,
    address: String,
    task: Arc<Task>,
    committee: Arc<Committee>,
    gens: Option<Arc<dsmpc_core::crypto::pedersen::Generators>>,
    values: Vec<i128>,
    /// The committee position a cheating DP sends a bad share to.
    cheat_target: Option<usize>,
    /// How a DP whose input is outside the range forges its range proof.
    forgery: Option<Forgery>,
    dies: bool,
}

impl Upload {
    fn bundle<F: Field>(
        &self,
        identity: &Arc<SecretIdentity>,
    ) -> Result<dsmpc_core::round2::Bundle, SimError> {
        let dp = Dp::new(identity.clone(), self.roster.clone());
        let mut prepared = match self.forgery {
            Some(forgery) => dp.prepare_out_of_range::<F, _>(
                &self.task,
                &self.values,
                forgery,
                self.gens.as_deref(),
                &mut fast_rng(),
            )?,
            None => dp.prepare::<F, _>(
                &self.task,
                &self.values,
                self.gens.as_deref(),
                &mut fast_rng(),
            )?,
        };
        if let Some(target) = self.cheat_target
            && let ShareValue::Explicit(v) = &mut prepared.payloads[target].share
        {
            v.as_mut_slice()[0] += F::ONE;
        }
        Ok(dp.seal(&self.task, &self.committee, &prepared, &mut fast_rng()))
    }

    /// Whether this DP's bundle takes well under a millisecond to prepare (p1: 0.26 ms, p3:
    /// 0.18 ms): the tokio worker then prepares it itself, which saves the hand-off to a blocking
    /// thread and back (wake-ups and context switches, about 3% of p1's and p3's CPU). Longer
    /// preparations (p3v: 5 ms) go to the blocking pool, so that they do not hold up the
    /// servers' connections on the same workers.
    fn prepares_quickly(&self) -> bool {
        let per_element_is_cheap =
            self.gens.is_none() || self.values.len() <= INLINE_VERIFIABLE_DIM;
        // A range proof takes about a millisecond.
        let proves = self.task.params.validate;
        per_element_is_cheap && !proves && self.values.len() <= INLINE_DIM
    }

    async fn run<F: Field>(self) -> Result<(), SimError> {
        let identity = match &self.keys {
            Some(keys) => keys.clone(),
            None => Arc::new(dp_identity(&self.seed, self.number, &self.id)),
        };
        let upload = Arc::new(self);
        let bundle = if upload.prepares_quickly() {
            upload.bundle::<F>(&identity)?
        } else {
            let (preparing, keys) = (upload.clone(), identity.clone());
            tokio::task::spawn_blocking(move || preparing.bundle::<F>(&keys))
                .await
                .map_err(|e| SimError::Setup(format!("a data provider's thread failed: {e}")))??
        };
        let request = Request::SubmitBundle(upload.task.id, bundle);
        let cloud = upload.roster.cloud();
        if upload.dies {
            // The upload stops halfway: the cloud receives a truncated frame and stores nothing.
            let first = crate::deployment::split_addresses(&upload.address)[0].to_owned();
            let mut client = Client::connect(
                &identity,
                cloud,
                &first,
                &ChannelConfig::default(),
                FlowLog::disabled(),
            )
            .await?;
            let bytes = request.to_bytes();
            let _ = client.send_raw(&bytes[..bytes.len() / 2]).await;
            return Ok(());
        }
        let link = Link::new(
            identity.clone(),
            cloud.clone(),
            upload.address.clone(),
            ChannelConfig::default(),
            FlowLog::disabled(),
            Duration::from_secs(30),
        );
        match link.call(&request).await? {
            Response::Ok => Ok(()),
            other => Err(SimError::Config(format!(
                "the cloud answered {} to {}'s bundle",
                other.kind(),
                identity.id()
            ))),
        }
    }
}

/// The committee position of the first CP that stays alive: a cheating DP targets it, so its
/// bad share is actually checked.
fn cheat_target(config: &SimConfig, committee: &Committee) -> usize {
    let live_cps = config.cps - config.drop_cps;
    committee
        .members
        .iter()
        .position(|m| {
            m.card
                .id
                .as_str()
                .trim_start_matches("cp")
                .parse::<u32>()
                .is_ok_and(|i| i <= live_cps)
        })
        .unwrap_or(0)
}

async fn submit_all<F: Field>(
    cluster: &Cluster,
    config: &SimConfig,
    task: &Signed<Task>,
    committee: &Signed<Committee>,
    kept_keys: &[Arc<SecretIdentity>],
    on_submit: &(impl Fn() + Send + Sync),
) -> Result<ExpectedSum, SimError> {
    let gens = GeneratorCache::default().for_task(&task.body)?;
    let dropped: std::collections::HashSet<&PartyId> = config
        .dps
        .iter()
        .rev()
        .take(config.drop_dps)
        .map(|i| &i.id)
        .collect();
    let target = cheat_target(config, &committee.body);
    let shared_task = Arc::new(task.body.clone());
    let shared_committee = Arc::new(committee.body.clone());
    let address = cluster.addresses[&cluster.roster.cloud().id].clone();
    let dim = config.dim as usize;
    let mut reader = InputReader::open(&config.inputs, dim, config.range)?;
    let mut expected = ExpectedSum::new(dim);
    let in_flight = uploads_in_flight(dim, config.cps as usize);
    let mut uploads = tokio::task::JoinSet::new();
    let finished = |done: Result<Result<(), SimError>, tokio::task::JoinError>| {
        done.map_err(|e| SimError::Setup(format!("a data provider's task failed: {e}")))??;
        on_submit();
        Ok::<(), SimError>(())
    };
    for (k, entry) in config.dps.iter().enumerate() {
        while uploads.len() >= in_flight {
            if let Some(done) = uploads.join_next().await {
                finished(done)?;
            }
        }
        let values = reader.values(k, entry)?;
        let dies = dropped.contains(&entry.id);
        let cheats = config.cheat_dps.contains(&entry.id);
        let forgery = config
            .out_of_range_dps
            .iter()
            .position(|id| id == &entry.id)
            .map(|i| Forgery::ALL[i % Forgery::ALL.len()]);
        let mut values = values;
        if forgery.is_some()
            && let Some(first) = values.first_mut()
        {
            // Just past the range's end: the most a cheater could hope to slip through.
            *first = config.range.1 + 1 + (k % 3) as i128;
        }
        if dies || cheats || forgery.is_some() {
            expected.add_uncertain(entry, values.clone());
        } else {
            expected.add(entry.weight, &values);
        }
        let upload = Upload {
            id: entry.id.clone(),
            number: k,
            seed: cluster.dp_seed.clone(),
            keys: kept_keys.get(k).cloned(),
            roster: cluster.roster.clone(),
            address: address.clone(),
            task: shared_task.clone(),
            committee: shared_committee.clone(),
            gens: gens.clone(),
            values,
            cheat_target: cheats.then_some(target),
            forgery,
            dies,
        };
        uploads.spawn(upload.run::<F>());
    }
    while let Some(done) = uploads.join_next().await {
        finished(done)?;
    }
    Ok(expected)
}

/// Calls `each` with every DP's entry and input vector, in upload order, making them again from
/// `config.inputs` as a simulation does (for `--sec`, which prints them).
pub fn for_each_input(
    config: &SimConfig,
    mut each: impl FnMut(&DpEntry, &[i128]),
) -> Result<(), SimError> {
    let mut reader = InputReader::open(&config.inputs, config.dim as usize, config.range)?;
    for (k, entry) in config.dps.iter().enumerate() {
        each(entry, &reader.values(k, entry)?);
    }
    Ok(())
}
