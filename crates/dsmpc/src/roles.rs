//! The role commands: `cloud`, `edge` and `cp` servers, and the `task create`, `dp` and `result`
//! clients, each reading its keys and the roster from a deployment directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use dsmpc_core::dpset::DpSet;
use dsmpc_core::encoding::{Encoding, InputRange, parse_fixed};
use dsmpc_core::identity::{PartyId, Role, SecretIdentity};
use dsmpc_core::roles::cp::WorkerPart;
use dsmpc_core::round1::Committee;
use dsmpc_core::round4::TaskResult;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode, Task, TaskId, TaskParams};
use dsmpc_net::channel::ChannelConfig;
use dsmpc_net::client::Link;
use dsmpc_net::deployment::{self, Deployment};
use dsmpc_net::flow::FlowLog;
use dsmpc_net::roles::cloud::{CloudConfig, CloudServer};
use dsmpc_net::roles::cp::CpWorker;
use dsmpc_net::roles::edge::{EdgeConfig, EdgeServer};
use dsmpc_net::roles::{dp, unix_now};
use dsmpc_net::server::{ServerContext, shutdown_signal};
use dsmpc_net::store::{Store, StoreLocation};
use dsmpc_net::values::Values;
use tokio::net::TcpListener;
use tracing::info;

/// Options every role command shares.
#[derive(Debug, Args)]
pub struct Common {
    /// The deployment directory (made by `dsmpc init`).
    #[arg(long, value_name = "DIR")]
    deployment: PathBuf,
    /// Append a JSON-lines flow log (one line per message and per phase) to FILE.
    #[arg(long, value_name = "FILE")]
    flow_log: Option<PathBuf>,
}

impl Common {
    /// The deployment in `deployment`, with no flow log.
    pub fn new(deployment: PathBuf) -> Common {
        Common {
            deployment,
            flow_log: None,
        }
    }

    fn load(&self) -> Result<Deployment> {
        deployment::load(&self.deployment)
            .with_context(|| format!("loading the deployment in {}", self.deployment.display()))
    }

    fn flow(&self) -> Result<FlowLog> {
        match &self.flow_log {
            Some(path) => FlowLog::open(path)
                .with_context(|| format!("opening the flow log {}", path.display())),
            None => Ok(FlowLog::disabled()),
        }
    }
}

fn identity(dep: &Deployment, id: &str) -> Result<Arc<SecretIdentity>> {
    let id = PartyId::new(id)?;
    Ok(Arc::new(
        dep.load_identity(&id)
            .with_context(|| format!("loading the keys of {id}"))?,
    ))
}

fn link(
    dep: &Deployment,
    me: &Arc<SecretIdentity>,
    peer: &PartyId,
    flow: &FlowLog,
    patience: Duration,
) -> Result<Arc<Link>> {
    let card = dep
        .roster
        .get(peer)
        .with_context(|| format!("{peer} is not in the roster"))?
        .clone();
    let address = dep.address(peer)?.to_owned();
    Ok(Arc::new(Link::new(
        me.clone(),
        card,
        address,
        ChannelConfig::default(),
        flow.clone(),
        patience,
    )))
}

async fn listen(dep: &Deployment, id: &PartyId) -> Result<TcpListener> {
    let address = dep.address(id)?;
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} for {id}"))
}

fn context(dep: &Deployment, identity: &Arc<SecretIdentity>, flow: &FlowLog) -> ServerContext {
    let roster = Arc::new(dep.roster.clone());
    ServerContext {
        identity: identity.clone(),
        roster: roster.clone(),
        directory: roster,
        channel: ChannelConfig::default(),
        flow: flow.clone(),
        max_connections: 1024,
        max_handshakes: dsmpc_net::server::MAX_HANDSHAKES,
        handshake_deadline: dsmpc_net::server::HANDSHAKE_DEADLINE,
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `dsmpc cloud`.
#[derive(Debug, Args)]
pub struct CloudArgs {
    #[command(flatten)]
    common: Common,
    /// The SQLite database (default: DIR/cloud.db).
    #[arg(long, value_name = "FILE", conflicts_with = "database")]
    db: Option<PathBuf>,
    /// Keep the cloud's state in this PostgreSQL database instead
    /// (postgresql://USER[:PASSWORD]@HOST:PORT/DB; the schema is created or migrated on start,
    /// and a database written by a newer dsmpc is refused).
    #[arg(long, value_name = "URL", value_parser = postgres_url)]
    database: Option<String>,
    /// Seconds to wait for CPs' verification reports after submissions close.
    #[arg(long, default_value_t = 10)]
    report_timeout: u64,
    /// Which of the cloud's addresses in the roster this process serves (from 1). Several
    /// front-ends share one --database; each serves any request.
    #[arg(long, default_value_t = 1, value_name = "I")]
    frontend: u32,
}

/// Accepts a PostgreSQL connection URL, refusing anything else with the form it needs.
fn postgres_url(url: &str) -> Result<String, String> {
    if StoreLocation::is_postgres_url(url) {
        Ok(url.to_owned())
    } else {
        Err("expected postgresql://USER[:PASSWORD]@HOST:PORT/DB".into())
    }
}

/// Runs the cloud server until SIGINT or SIGTERM.
pub fn run_cloud(args: &CloudArgs) -> Result<()> {
    let dep = args.common.load()?;
    let flow = args.common.flow()?;
    let me = identity(&dep, "cloud")?;
    let location = match &args.database {
        Some(url) => StoreLocation::Postgres(url.clone()),
        None => StoreLocation::Sqlite(args.db.clone().unwrap_or_else(|| dep.dir.join("cloud.db"))),
    };
    let config = CloudConfig {
        report_timeout: Duration::from_secs(args.report_timeout),
    };
    // Opened before the runtime starts: the PostgreSQL client blocks, which a runtime's
    // threads must not.
    let server = Arc::new(
        CloudServer::open_at(
            me.clone(),
            Arc::new(dep.roster.clone()),
            &location,
            config,
            flow.clone(),
        )
        .with_context(|| format!("opening the cloud's store {location}"))?,
    );
    let address = dep.frontend_address(me.id(), args.frontend)?.to_owned();
    if args.frontend > 1 && args.database.is_none() {
        bail!(
            "front-end {} shares the cloud's state with the others: give --database URL \
             (a SQLite file serves one front-end)",
            args.frontend
        );
    }
    runtime()?.block_on(async {
        let listener = TcpListener::bind(&address)
            .await
            .with_context(|| format!("binding {address} for front-end {}", args.frontend))?;
        info!(address = %listener.local_addr()?, frontend = args.frontend, "cloud listening");
        let context = context(&dep, &me, &flow);
        let watched = server.clone();
        let failed = async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Some(reason) = watched.store_failure().await {
                    return reason;
                }
            }
        };
        let (stop, failure) = tokio::sync::oneshot::channel();
        let until = async move {
            tokio::select! {
                () = shutdown_signal() => {}
                reason = failed => {
                    let _ = stop.send(reason);
                }
            }
        };
        server
            .serve_until(listener, context, Duration::from_millis(200), until)
            .await;
        match failure.await {
            // Exit, so that a supervisor restarts the cloud and it replays its log.
            Ok(reason) => bail!("{reason}; exiting so that the cloud is restarted"),
            Err(_) => Ok(()),
        }
    })
}

/// `dsmpc edge`.
#[derive(Debug, Args)]
pub struct EdgeArgs {
    #[command(flatten)]
    common: Common,
    /// The SQLite database of results (default: DIR/edge.db).
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Seconds to wait for more result shares once t valid ones arrived.
    #[arg(long, default_value_t = 2)]
    grace: u64,
    /// Seconds to wait for a task's input set after its submission deadline, and then for its
    /// result shares, before signing that it failed.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    timeout: u64,
}

/// Runs the edge server until SIGINT or SIGTERM.
pub fn run_edge(args: &EdgeArgs) -> Result<()> {
    let dep = args.common.load()?;
    let flow = args.common.flow()?;
    let me = identity(&dep, "edge")?;
    let db = args.db.clone().unwrap_or_else(|| dep.dir.join("edge.db"));
    let cloud_id = dep.roster.cloud().id.clone();
    let cloud = link(&dep, &me, &cloud_id, &flow, Duration::from_secs(3600))?;
    let config = EdgeConfig {
        grace: Duration::from_secs(args.grace),
        timeout: Duration::from_secs(args.timeout),
        ..EdgeConfig::default()
    };
    runtime()?.block_on(async {
        let server = Arc::new(
            EdgeServer::open(
                me.clone(),
                Arc::new(dep.roster.clone()),
                cloud,
                &db,
                config,
                flow.clone(),
            )
            .with_context(|| format!("opening the edge database {}", db.display()))?,
        );
        let listener = listen(&dep, me.id()).await?;
        info!(address = %listener.local_addr()?, "edge listening");
        let context = context(&dep, &me, &flow);
        server
            .serve_until(listener, context, shutdown_signal())
            .await;
        Ok(())
    })
}

/// `dsmpc cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    #[command(flatten)]
    common: Common,
    /// This CP's id in the roster (cp1, cp2, …).
    #[arg(long)]
    id: String,
    /// The SQLite database of this CP's task state, from which it resumes its tasks after a
    /// crash (default: DIR/ID.db; worker I > 1 of a group: DIR/ID-wI.db).
    #[arg(long, value_name = "FILE")]
    db: Option<PathBuf>,
    /// Run as worker I of a group of K that share this CP's identity (e.g. 2/3): each folds
    /// its part of every task's deliveries; worker 1 leads — it joins the committee, gathers
    /// the others' parts (through the cloud, sealed to this CP), reports and sends the one
    /// result share.
    #[arg(long, value_name = "I/K", value_parser = parse_worker_part, default_value = "1/1")]
    worker: WorkerPart,
    /// Seconds the lead waits for another worker's part once its own is folded, before it
    /// folds that part itself.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    part_wait: u64,
}

/// Parses `I/K` (`1 ≤ I ≤ K ≤ 64`).
fn parse_worker_part(text: &str) -> Result<WorkerPart, String> {
    let usage = || format!("expected I/K with 1 <= I <= K <= 64, like 2/3, not {text:?}");
    let (i, k) = text.split_once('/').ok_or_else(usage)?;
    let (i, k): (u32, u32) = (
        i.trim().parse().map_err(|_| usage())?,
        k.trim().parse().map_err(|_| usage())?,
    );
    match k {
        1..=64 => WorkerPart::new(i, k).ok_or_else(usage),
        _ => Err(usage()),
    }
}

/// Runs a CP worker until SIGINT or SIGTERM.
pub fn run_cp(args: &CpArgs) -> Result<()> {
    let dep = args.common.load()?;
    let flow = args.common.flow()?;
    let me = identity(&dep, &args.id)?;
    if me.card().role != Role::Cp {
        bail!("{} is a {}, not a cp", me.id(), me.card().role);
    }
    let patience = Duration::from_secs(3600);
    let cloud = link(&dep, &me, &dep.roster.cloud().id.clone(), &flow, patience)?;
    let edge = link(&dep, &me, &dep.roster.edge().id.clone(), &flow, patience)?;
    let db = args.db.clone().unwrap_or_else(|| {
        let name = match args.worker.worker {
            1 => format!("{}.db", me.id()),
            i => format!("{}-w{i}.db", me.id()),
        };
        dep.dir.join(name)
    });
    let state = Store::open(&db)
        .with_context(|| format!("opening the CP's state database {}", db.display()))?;
    let mut worker = CpWorker::new(me.clone(), Arc::new(dep.roster.clone()), cloud, edge, flow)
        .with_state(state);
    worker.part = args.worker;
    worker.part_wait = Duration::from_secs(args.part_wait);
    let worker = Arc::new(worker);
    info!(id = %me.id(), worker = %args.worker, "cp running");
    runtime()?.block_on(worker.run(shutdown_signal()));
    Ok(())
}

/// `dsmpc task …`.
#[derive(Debug, Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    command: TaskCommand,
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Create a task, wait until its committee is admitted, and print its id (last line).
    Create(CreateArgs),
    /// Close a task's submissions now instead of at its deadline: the DPs that have not
    /// submitted are left out, as at the deadline (as the operator: needs the cloud's key).
    Close(CloseArgs),
}

/// `dsmpc task close`.
#[derive(Debug, Args)]
pub struct CloseArgs {
    #[command(flatten)]
    common: Common,
    /// The task id.
    #[arg(long)]
    task: String,
}

/// The task's function, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Func {
    /// Σ x.
    Sum,
    /// Σ w·x.
    WeightedSum,
    /// Σ x / N.
    Mean,
    /// Σ w·x / Σ w.
    WeightedMean,
}

impl From<Func> for Function {
    fn from(f: Func) -> Function {
        match f {
            Func::Sum => Function::Sum,
            Func::WeightedSum => Function::WeightedSum,
            Func::Mean => Function::Mean,
            Func::WeightedMean => Function::WeightedMean,
        }
    }
}

/// The protocol mode, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Pedersen-checked shares over ristretto255.
    Verifiable,
    /// Seed-compressed shares over the smallest field that fits.
    Fast,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Verifiable => Mode::Verifiable,
            ModeArg::Fast => Mode::Fast,
        }
    }
}

/// `dsmpc task create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    common: Common,
    /// What to compute.
    #[arg(long, value_enum)]
    func: Func,
    /// Elements per input vector.
    #[arg(long, default_value_t = 1)]
    dim: u32,
    /// Smallest allowed input (decimal, at most --scale places).
    #[arg(long, allow_hyphen_values = true, default_value = "-1000000")]
    min: String,
    /// Largest allowed input.
    #[arg(long, allow_hyphen_values = true, default_value = "1000000")]
    max: String,
    /// Decimal places of inputs.
    #[arg(long, default_value_t = 0)]
    scale: u32,
    /// CSV file `id,weight` (weighted functions); DPs not listed get weight 1.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// Decimal places of weights.
    #[arg(long, default_value_t = 0)]
    weight_scale: u32,
    /// Result shares needed (default: the deployment's threshold).
    #[arg(long)]
    threshold: Option<u32>,
    /// Committee size (default: every CP in the roster).
    #[arg(long)]
    cps: Option<u32>,
    /// Verifiable (checked, ristretto255) or fast.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// The data providers, comma-separated (default: those of --weights, or else every DP
    /// registered with the cloud, each with weight 1).
    #[arg(long, value_delimiter = ',')]
    dps: Vec<String>,
    /// Seconds from now until the input set closes (default: the deployment's). It closes then,
    /// or as soon as every listed DP submitted.
    #[arg(long)]
    deadline: Option<u64>,
    /// Seconds to wait for the committee, which must be admitted by then (default: 60, or
    /// --deadline if that is sooner); at most --deadline.
    #[arg(long)]
    timeout: Option<u64>,
    /// Do not make DPs prove their inputs inside [--min, --max] (range proofs are on by default
    /// in verifiable mode for inputs of at most 16 elements; recorded in the task).
    #[arg(long, conflicts_with = "validate")]
    no_validate: bool,
    /// Make DPs prove their inputs inside [--min, --max] also for longer vectors (up to 4096
    /// elements; a DP spends about 0.8 ms an element proving, a CP 0.3 ms an element checking).
    #[arg(long)]
    validate: bool,
}

/// The default of `task create --timeout`.
const COMMITTEE_TIMEOUT_SECS: u64 = 60;

impl CreateArgs {
    /// Seconds until the committee must be admitted and until the input set closes. A deadline
    /// before the admission deadline is refused, never moved.
    fn windows(&self, default_deadline: u64) -> Result<(u64, u64)> {
        let deadline = self.deadline.unwrap_or(default_deadline);
        if deadline == 0 {
            bail!("--deadline 0 would close the input set before anyone could submit");
        }
        match self.timeout {
            Some(0) => bail!("--timeout 0 leaves no time to admit the committee"),
            Some(timeout) if timeout > deadline => bail!(
                "--deadline {deadline} closes the input set before the committee's admission \
                 deadline (--timeout {timeout}): give a --deadline of at least {timeout}, or a \
                 shorter --timeout"
            ),
            Some(timeout) => Ok((timeout, deadline)),
            None => Ok((COMMITTEE_TIMEOUT_SECS.min(deadline), deadline)),
        }
    }
}

fn read_weights(path: &Path, scale: u32) -> Result<BTreeMap<PartyId, i128>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut weights = BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (id, w) = line
            .split_once(',')
            .with_context(|| format!("{}:{}: expected id,weight", path.display(), n + 1))?;
        if n == 0 && id.trim() == "id" {
            continue;
        }
        let id =
            PartyId::new(id.trim()).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        let w = parse_fixed(w.trim(), scale)
            .with_context(|| format!("{}:{}", path.display(), n + 1))?;
        if weights.insert(id.clone(), w).is_some() {
            bail!("{}:{}: {id} is listed twice", path.display(), n + 1);
        }
    }
    Ok(weights)
}

impl CreateArgs {
    fn params(&self, dep: &Deployment) -> Result<TaskParams> {
        let function = Function::from(self.func);
        let listed = match &self.weights {
            Some(path) => read_weights(path, self.weight_scale)?,
            None => BTreeMap::new(),
        };
        // No --dps: the DPs of the weights file, or (an empty list) every DP registered with
        // the cloud, each with weight 1.
        let dps: Vec<PartyId> = if self.dps.is_empty() {
            listed.keys().cloned().collect()
        } else {
            self.dps
                .iter()
                .map(|d| PartyId::new(d.trim()))
                .collect::<Result<_, _>>()?
        };
        let unit = 10i128.pow(self.weight_scale.min(18));
        let mut weights: Vec<(PartyId, i128)> = dps
            .into_iter()
            .map(|d| {
                let w = if function.is_weighted() {
                    listed.get(&d).copied().unwrap_or(unit)
                } else {
                    1
                };
                (d, w)
            })
            .collect();
        weights.sort();
        weights.dedup_by(|a, b| a.0 == b.0);
        let n = self
            .cps
            .unwrap_or(dep.roster.of_role(Role::Cp).count() as u32);
        let now = unix_now();
        let (admission, submission) = self.windows(dep.defaults.submission_secs)?;
        let mode = self.mode.map_or(dep.defaults.mode, Mode::from);
        Ok(TaskParams {
            validate: self.validate || (!self.no_validate && Task::validates_by_default(self.dim)),
            function,
            dim: self.dim,
            encoding: Encoding::Exact {
                input_scale: self.scale,
                weight_scale: if function.is_weighted() {
                    self.weight_scale
                } else {
                    0
                },
                range: InputRange::new(
                    parse_fixed(&self.min, self.scale).context("--min")?,
                    parse_fixed(&self.max, self.scale).context("--max")?,
                )?,
            },
            weights,
            n,
            t: self.threshold.unwrap_or(dep.defaults.threshold).min(n),
            additive: false,
            mode,
            admission_deadline: now + admission,
            submission_deadline: now + submission,
        })
    }
}

/// Runs `dsmpc task …`.
pub fn run_task(args: &TaskArgs) -> Result<()> {
    let args = match &args.command {
        TaskCommand::Create(args) => args,
        TaskCommand::Close(args) => {
            let task: TaskId = args.task.parse()?;
            close_submissions(&args.common, task)?;
            eprintln!("task {task}: submissions closed");
            return Ok(());
        }
    };
    let (task, committee) = create_task(args)?;
    let members: Vec<&str> = committee
        .body
        .members
        .iter()
        .map(|m| m.card.id.as_str())
        .collect();
    eprintln!(
        "task {}: {} over {} data providers, {}-of-{} {} mode in {}; committee {}",
        task.body.id,
        task.body.params.function,
        task.body.dps,
        task.body.params.t,
        task.body.params.n,
        task.body.params.mode,
        task.body.field(),
        members.join(", ")
    );
    println!("{}", task.body.id);
    Ok(())
}

/// Creates the task `args` describe (as the cloud's operator) and waits until its committee is
/// admitted.
pub fn create_task(args: &CreateArgs) -> Result<(Signed<Task>, Signed<Committee>)> {
    let dep = args.common.load()?;
    let flow = args.common.flow()?;
    let me = identity(&dep, "cloud")?;
    let params = args.params(&dep)?;
    let (admission, _) = args.windows(dep.defaults.submission_secs)?;
    let cloud = link(&dep, &me, me.id(), &flow, Duration::from_secs(10))?;
    let (task, committee) = runtime()?.block_on(dp::create_task(
        &cloud,
        params,
        Duration::from_secs(admission),
    ))?;
    Ok((task, committee))
}

/// Closes `task`'s submissions now (as the cloud's operator).
pub fn close_submissions(common: &Common, task: TaskId) -> Result<()> {
    let dep = common.load()?;
    let flow = common.flow()?;
    let me = identity(&dep, "cloud")?;
    let cloud = link(&dep, &me, me.id(), &flow, Duration::from_secs(10))?;
    runtime()?.block_on(dp::close_submissions(&cloud, task))?;
    Ok(())
}

/// `dsmpc dp`: submit an input, or (`dsmpc dp register`) register DPs with the cloud.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group = clap::ArgGroup::new("input").required(true).args(["value", "values", "values_file"])
)]
pub struct DpArgs {
    #[command(subcommand)]
    command: Option<DpCommand>,
    #[command(flatten)]
    common: Option<Common>,
    /// This data provider's id (dp1, dp2, …).
    #[arg(long, required = true)]
    id: Option<String>,
    /// The task id printed by `dsmpc task create`.
    #[arg(long, required = true)]
    task: Option<String>,
    /// A scalar input.
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
    /// A vector input, comma-separated.
    #[arg(long, allow_hyphen_values = true, value_delimiter = ',')]
    values: Option<Vec<String>>,
    /// A file of inputs: one value a line (or separated by commas/spaces), or a `.npy` array of
    /// integers or floats.
    #[arg(long, value_name = "FILE")]
    values_file: Option<PathBuf>,
    /// Seconds to wait for the cloud and the committee.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum DpCommand {
    /// Register data providers' keys with the cloud (as its operator: needs the cloud's key),
    /// so that tasks may list them and they may connect.
    Register(RegisterArgs),
}

/// `dsmpc dp register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    common: Common,
    /// A file of `[[party]]` blocks with role "dp", as `dsmpc keygen --role dp` printed them
    /// (repeatable).
    #[arg(long, value_name = "FILE", required = true)]
    card: Vec<PathBuf>,
}

/// Runs `dsmpc dp register`: sends the cards to the cloud, which stores them in its registry.
fn run_register(args: &RegisterArgs) -> Result<()> {
    let dep = args.common.load()?;
    let flow = args.common.flow()?;
    let mut cards = Vec::new();
    for path in &args.card {
        cards.extend(deployment::read_dp_cards(path)?);
    }
    let me = identity(&dep, "cloud")?;
    let cloud = link(&dep, &me, me.id(), &flow, Duration::from_secs(10))?;
    let count = cards.len();
    let done = runtime()?.block_on(dsmpc_net::roles::register_dps(&cloud, cards))?;
    eprintln!(
        "registered {} new data provider{} ({} already registered with these keys) of {count}",
        done.added,
        if done.added == 1 { "" } else { "s" },
        done.already
    );
    Ok(())
}

/// Runs `dsmpc dp`: submits the input and returns once the cloud durably stored it (or, with
/// `register`, registers DPs).
pub fn run_dp(args: &DpArgs) -> Result<()> {
    if let Some(DpCommand::Register(register)) = &args.command {
        return run_register(register);
    }
    let (Some(common), Some(id), Some(task)) = (&args.common, &args.id, &args.task) else {
        bail!("give --deployment, --id and --task (or `dsmpc dp register`)");
    };
    let values = match (&args.value, &args.values, &args.values_file) {
        (Some(v), _, _) => Values::Decimals(vec![v.clone()]),
        (_, Some(vs), _) => Values::Decimals(vs.clone()),
        (_, _, Some(path)) => {
            // Fail before connecting if the file cannot even be opened; it is read (streaming)
            // once the task's input scale is known.
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            Values::File(path.clone())
        }
        _ => bail!("give --value, --values or --values-file"),
    };
    let task: TaskId = task.parse()?;
    submit(common, id, task, &values, Duration::from_secs(args.timeout))?;
    eprintln!("{id}: input for task {task} stored by the cloud");
    Ok(())
}

/// Submits `values` as data provider `id` of the deployment `common` names to `task`, waiting
/// up to `timeout` for the cloud and the committee; returns once the cloud durably stored them.
pub fn submit(
    common: &Common,
    id: &str,
    task: TaskId,
    values: &Values,
    timeout: Duration,
) -> Result<()> {
    let dep = common.load()?;
    let flow = common.flow()?;
    let me = identity(&dep, id)?;
    let cloud = link(&dep, &me, &dep.roster.cloud().id.clone(), &flow, timeout)?;
    let roster = Arc::new(dep.roster.clone());
    runtime()?.block_on(dp::submit(me, roster, &cloud, task, values, timeout))?;
    Ok(())
}

/// `dsmpc result`.
#[derive(Debug, Args)]
pub struct ResultArgs {
    #[command(flatten)]
    common: Common,
    /// The task id.
    #[arg(long)]
    task: String,
    /// Seconds to wait for the result.
    #[arg(long, default_value_t = 0)]
    wait: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Whose keys to connect with: any server of the roster (the edge knows no DPs).
    #[arg(long, default_value = "cloud")]
    id: String,
}

/// Runs `dsmpc result`.
pub fn run_result(args: &ResultArgs) -> Result<()> {
    let task: TaskId = args.task.parse()?;
    let named = result(&args.common, &args.id, task, Duration::from_secs(args.wait))?;
    if args.json {
        println!("{}", named.json());
    } else {
        println!("{}", named.text());
    }
    Ok(())
}

/// A task's result with the DPs it includes and leaves out named.
pub struct NamedResult {
    /// The task.
    pub task: TaskId,
    /// The edge's signed result.
    pub result: TaskResult,
    /// The DPs it includes, ids.
    pub included: Vec<PartyId>,
    /// The DPs of the task's list it leaves out.
    pub excluded: Vec<PartyId>,
}

impl NamedResult {
    /// What `dsmpc result --json` prints.
    pub fn json(&self) -> serde_json::Value {
        let r = &self.result;
        let ids = |v: &[PartyId]| v.iter().map(|p| p.as_str().to_owned()).collect::<Vec<_>>();
        let culprits: Vec<&str> = r.culprits.iter().map(|c| c.party.as_str()).collect();
        serde_json::json!({
            "task": self.task.to_string(),
            "function": r.function.name(),
            "result": r.values(),
            "included": ids(&self.included),
            "excluded": ids(&self.excluded),
            "culprits": culprits,
            "culprit_reasons": r.culprits.iter().map(|c| serde_json::json!({"party": c.party.as_str(), "reason": c.reason.name()})).collect::<Vec<_>>(),
        })
    }

    /// What `dsmpc result` prints.
    fn text(&self) -> String {
        let r = &self.result;
        let culprits: Vec<String> = r
            .culprits
            .iter()
            .map(|c| format!("{} ({})", c.party, c.reason))
            .collect();
        [
            format!("task:     {}", self.task),
            format!("function: {}", r.function),
            format!("result:   {}", r.values().join(", ")),
            format!("included: {}", listing(&self.included)),
            format!("excluded: {}", listing(&self.excluded)),
            format!("culprits: {}", culprits.join(", ")),
        ]
        .join("\n")
    }
}

/// The result of `task`, fetched from the edge with the keys of `id` (any server of the roster),
/// waiting up to `wait` for it, with the DPs it includes and leaves out named.
pub fn result(common: &Common, id: &str, task: TaskId, wait: Duration) -> Result<NamedResult> {
    let dep = common.load()?;
    let flow = common.flow()?;
    let me = identity(&dep, id)?;
    let edge = link(
        &dep,
        &me,
        &dep.roster.edge().id.clone(),
        &flow,
        Duration::from_secs(10),
    )?;
    let result = runtime()?.block_on(dp::result(&edge, &dep.roster, task, wait))?;
    let (included, excluded) = name_result(&dep, &me, &flow, task, &result.body.included)?;
    Ok(NamedResult {
        task,
        result: result.body,
        included,
        excluded,
    })
}

/// The ids of the DPs a result includes and of those it leaves out: the result names them by
/// position in the task's DP list, which is fetched from the cloud and checked against the
/// signed task.
fn name_result(
    dep: &Deployment,
    me: &Arc<SecretIdentity>,
    flow: &FlowLog,
    task: TaskId,
    included: &DpSet,
) -> Result<(Vec<PartyId>, Vec<PartyId>)> {
    let cloud_id = dep.roster.cloud().id.clone();
    let cloud = link(dep, me, &cloud_id, flow, Duration::from_secs(10))?;
    let listed = runtime()?
        .block_on(dsmpc_net::roles::fetch_task_with_list(&cloud, task))
        .context("fetching the task's DP list to name the DPs")?;
    listed.verify(&task, &dep.roster, Role::Cloud)?;
    dsmpc_core::roles::check_set_len(&listed.body, included, "result")?;
    Ok((
        listed.body.ids_in(included),
        listed.body.ids_missing(included),
    ))
}

/// Up to [`NAMES_SHOWN`] ids, then how many more.
fn listing(ids: &[PartyId]) -> String {
    let shown: Vec<&str> = ids.iter().take(NAMES_SHOWN).map(PartyId::as_str).collect();
    match ids.len().checked_sub(NAMES_SHOWN) {
        Some(more) if more > 0 => format!(
            "{} … and {more} more ({} in all)",
            shown.join(", "),
            ids.len()
        ),
        _ => shown.join(", "),
    }
}

/// How many DP ids `dsmpc result` prints in text (`--json` gives them all).
const NAMES_SHOWN: usize = 50;

/// Logs to stderr: human-readable on a terminal, JSON lines otherwise; `RUST_LOG` filters.
pub fn init_logging() {
    init_logging_at("info");
}

/// Logs to stderr like [`init_logging`], showing `default` and above unless `RUST_LOG` says
/// otherwise.
pub fn init_logging_at(default: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init`: the Python package may run several commands in one process, and only the
    // first sets the logger.
    let _ = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().try_init()
    };
}

/// Logs to `path` (JSON lines), for commands whose own output is the terminal's. In a process
/// that runs several such commands (the Python package), each call moves the log to its own
/// `path`: the logger is installed once and writes to the file of the latest call.
pub fn init_logging_to(path: &Path) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    if let Ok(mut current) = LOG_FILE.lock() {
        *current = Some(file);
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| CurrentLogFile)
        .json()
        .try_init();
    Ok(())
}

/// The file [`init_logging_to`]'s logger writes to: that of its latest call.
static LOG_FILE: std::sync::Mutex<Option<std::fs::File>> = std::sync::Mutex::new(None);

/// A writer into [`LOG_FILE`], whichever file it holds when an event is written (the
/// formatter hands over each event in one `write`).
struct CurrentLogFile;

impl std::io::Write for CurrentLogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match LOG_FILE.lock().as_deref_mut() {
            Ok(Some(file)) => file.write(buf),
            _ => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match LOG_FILE.lock().as_deref_mut() {
            Ok(Some(file)) => file.flush(),
            _ => Ok(()),
        }
    }
}
