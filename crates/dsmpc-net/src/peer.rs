//! Peer mode: every participant is both a data provider and a computing party, with no
//! pre-shared roster. The first process to bind the rendezvous address coordinates: it hosts the
//! cloud and the edge, numbers joiners 2..N in join order, builds the roster from the keys they
//! send, creates a weighted-sum task and tells everyone its id.
//!
//! The rendezvous is **trust on first use**: the coordinator accepts any Noise static key, and
//! joiners accept whatever key the coordinator presents. Every later message runs over Noise
//! channels pinned to the roster the coordinator distributed. Every wait is bounded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dsmpc_core::codec::{CodecError, Decode, Encode, Reader, Writer, decode_exact};
use dsmpc_core::encoding::{Encoding, InputRange};
use dsmpc_core::field::FieldId;
use dsmpc_core::identity::{IdentityCard, PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::rng::os_rng;
use dsmpc_core::task::{Function, Mode, TaskId, TaskParams};
use rand::RngExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};

use crate::channel::{Channel, ChannelConfig, StaticKey};
use crate::client::{Link, NetError};
use crate::flow::FlowLog;
use crate::roles::cp::CpWorker;
use crate::roles::{dp, unix_now};
use crate::simulate::{SimError, spawn_cloud, spawn_edge};
use crate::values::Values;

/// How long a participant's CP that has drained its deliveries waits before asking for more:
/// peers are few and usually near, so a short period keeps a swarm's rounds from waiting on
/// timers. (Other news is awaited, not polled.)
const PEER_POLL: Duration = Duration::from_millis(20);

/// The largest magnitude of an input in exact (default) mode.
pub const MAX_INPUT: i128 = 1_000_000_000;

/// What one participant does.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Parties, used only if this process coordinates.
    pub parties: u32,
    /// This participant's input.
    pub value: i128,
    /// The weights (one per participant), used if this process coordinates; a joiner checks them
    /// against the coordinator's.
    pub weights: Option<Vec<i128>>,
    /// The rendezvous host.
    pub host: String,
    /// The rendezvous port.
    pub port: u16,
    /// Shamir threshold; `None` for additive n-of-n sharing.
    pub threshold: Option<u32>,
    /// `Some(field)`: the first seed's modular semantics in that field.
    pub modular: Option<FieldId>,
    /// How long to wait for the other participants at each step.
    pub wait: Duration,
}

/// What a participant learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerOutcome {
    /// Its number, 1 for the coordinator.
    pub pid: u32,
    /// How many took part.
    pub parties: u32,
    /// Everyone's weights, by pid.
    pub weights: Vec<i128>,
    /// Its input.
    pub value: i128,
    /// The weighted sum (a residue mod p in modular mode).
    pub weighted_sum: i128,
}

/// Why a participant failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A bounded wait ran out.
    #[error("timed out after {seconds} s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
    /// Bad parameters or a misbehaving peer.
    #[error("{0}")]
    Failed(String),
    /// The network roles failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The protocol core refused something.
    #[error(transparent)]
    Core(#[from] dsmpc_core::Error),
    /// The servers could not start.
    #[error(transparent)]
    Sim(#[from] SimError),
}

/// One rendezvous message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerMessage {
    /// Joiner → coordinator: its CP and DP public cards (ids are placeholders).
    Join {
        /// The CP-role card.
        cp: Box<IdentityCard>,
        /// The DP-role card.
        dp: Box<IdentityCard>,
    },
    /// Coordinator → joiner: everything needed to take part.
    Welcome {
        /// The joiner's pid.
        pid: u32,
        /// The weights, by pid (their count is N).
        weights: Vec<i128>,
        /// Every party's card: cloud, edge, cp1..cpN (the roster), dp1..dpN (registered with
        /// the cloud).
        cards: Vec<IdentityCard>,
        /// The cloud's address.
        cloud: String,
        /// The edge's address.
        edge: String,
    },
    /// Coordinator → joiner: the task is created and its committee admitted.
    Start(TaskId),
    /// Joiner → coordinator: it has the result; the servers may stop.
    Done,
}

impl PeerMessage {
    fn name(&self) -> &'static str {
        match self {
            PeerMessage::Join { .. } => "join",
            PeerMessage::Welcome { .. } => "welcome",
            PeerMessage::Start(_) => "start",
            PeerMessage::Done => "done",
        }
    }
}

impl Encode for PeerMessage {
    fn encode(&self, w: &mut Writer) {
        match self {
            PeerMessage::Join { cp, dp } => {
                w.u8(1);
                cp.encode(w);
                dp.encode(w);
            }
            PeerMessage::Welcome {
                pid,
                weights,
                cards,
                cloud,
                edge,
            } => {
                w.u8(2);
                w.u32(*pid);
                w.list(weights, |w, x| w.i128(*x));
                w.list(cards, |w, c| c.encode(w));
                w.bytes(cloud.as_bytes());
                w.bytes(edge.as_bytes());
            }
            PeerMessage::Start(id) => {
                w.u8(3);
                id.encode(w);
            }
            PeerMessage::Done => w.u8(4),
        }
    }
}

fn text(r: &mut Reader<'_>, what: &'static str) -> Result<String, CodecError> {
    let raw = r.bytes(what)?;
    if raw.len() > 256 {
        return Err(CodecError::InvalidValue { what });
    }
    String::from_utf8(raw.to_vec()).map_err(|_| CodecError::InvalidValue { what })
}

impl Decode for PeerMessage {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(match r.u8("peer message type")? {
            1 => PeerMessage::Join {
                cp: Box::new(IdentityCard::decode(r)?),
                dp: Box::new(IdentityCard::decode(r)?),
            },
            2 => PeerMessage::Welcome {
                pid: r.u32("pid")?,
                weights: r.list("weights", 16, |r| r.i128("weight"))?,
                cards: r.list("cards", 64, IdentityCard::decode)?,
                cloud: text(r, "cloud address")?,
                edge: text(r, "edge address")?,
            },
            3 => PeerMessage::Start(TaskId::decode(r)?),
            4 => PeerMessage::Done,
            other => return Err(CodecError::UnknownMessageType(other)),
        })
    }
}

fn id(name: &str) -> PartyId {
    PartyId::new(name).expect("generated ids are valid")
}

fn generate(name: &str, role: Role) -> Arc<SecretIdentity> {
    Arc::new(SecretIdentity::generate(id(name), role, &mut os_rng()))
}

/// Weights uniform in 1..=10 from the operating system's CSPRNG.
pub fn random_weights(n: u32) -> Vec<i128> {
    let mut rng = os_rng();
    (0..n).map(|_| rng.random_range(1..=10)).collect()
}

/// An input uniform in 0..1000 (or in `0..p` in modular mode) from the CSPRNG.
pub fn random_value(modular: Option<FieldId>) -> i128 {
    let mut rng = os_rng();
    match modular {
        Some(FieldId::M31) => rng.random_range(0..(1i128 << 31) - 1),
        _ => rng.random_range(0..1000),
    }
}

/// The most joiners whose handshake and join message the coordinator waits for at once.
const MAX_PENDING_JOINS: usize = 64;

/// How long a connection to the rendezvous may take to complete its handshake and join.
const JOIN_WAIT: Duration = Duration::from_secs(10);

/// A joiner's channel, CP card and DP card.
type Joiner = (Channel, IdentityCard, IdentityCard);

/// What the coordinator's rendezvous loop saw next.
enum JoinStep {
    Accepted(std::io::Result<(TcpStream, std::net::SocketAddr)>),
    Done(Result<Result<Box<Joiner>, String>, tokio::task::JoinError>),
}

/// One joiner's handshake and join message, within [`JOIN_WAIT`]: its channel, CP card and DP
/// card, or why it was refused.
async fn join_one(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    cloud: Arc<SecretIdentity>,
    cfg: ChannelConfig,
) -> Result<Box<Joiner>, String> {
    let joining = async {
        let (mut ch, key) = Channel::accept(stream, StaticKey::of(&cloud), |_| true, &cfg)
            .await
            .map_err(|e| format!("{peer}: {e}"))?;
        match recv(&mut ch, "a join message", JOIN_WAIT).await {
            Ok(PeerMessage::Join { cp, dp }) if cp.noise_key == key => Ok(Box::new((ch, *cp, *dp))),
            Ok(other) => Err(format!(
                "{peer} sent {} instead of a valid join",
                other.name()
            )),
            Err(e) => Err(format!("{peer}: {e}")),
        }
    };
    timeout(JOIN_WAIT, joining)
        .await
        .map_err(|_| format!("{peer}: no join within {} s", JOIN_WAIT.as_secs()))?
}

fn rendezvous_config(wait: Duration) -> ChannelConfig {
    ChannelConfig {
        max_message_len: 16 * 1024 * 1024,
        io_timeout: wait + Duration::from_secs(120),
        handshake_timeout: Duration::from_secs(10),
    }
}

async fn send(ch: &mut Channel, m: &PeerMessage) -> Result<(), PeerError> {
    timeout(Duration::from_secs(10), ch.send(&m.to_bytes()))
        .await
        .map_err(|_| PeerError::Timeout {
            what: format!("sending {}", m.name()),
            seconds: 10,
        })?
        .map_err(|e| PeerError::Failed(format!("rendezvous channel: {e}")))
}

async fn recv(ch: &mut Channel, what: &str, wait: Duration) -> Result<PeerMessage, PeerError> {
    let received = timeout(wait, ch.recv())
        .await
        .map_err(|_| PeerError::Timeout {
            what: what.to_owned(),
            seconds: wait.as_secs(),
        })?;
    // The rendezvous takes any key, so a close before its confirmation is a close like any other.
    let bytes = match received {
        Err(crate::channel::ChannelError::Unconfirmed) => Ok(None),
        other => other,
    }
    .map_err(|e| PeerError::Failed(format!("rendezvous channel while waiting for {what}: {e}")))?
    .ok_or_else(|| {
        PeerError::Failed(format!(
            "the other side closed the rendezvous before {what}"
        ))
    })?;
    decode_exact(&bytes)
        .map_err(|e| PeerError::Failed(format!("malformed rendezvous message ({what}): {e}")))
}

/// A running CP worker, stopped on drop.
struct Worker {
    worker: Arc<CpWorker>,
    handle: JoinHandle<()>,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.worker.stop();
        self.handle.abort();
    }
}

struct Session {
    cp: Arc<SecretIdentity>,
    dp: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    cloud: String,
    edge: String,
    wait: Duration,
}

impl Session {
    fn link(&self, me: &Arc<SecretIdentity>, peer: &IdentityCard, address: &str) -> Arc<Link> {
        Arc::new(Link::new(
            me.clone(),
            peer.clone(),
            address.to_owned(),
            ChannelConfig::default(),
            FlowLog::disabled(),
            self.wait,
        ))
    }

    fn start_worker(&self) -> Worker {
        let cloud = self.link(&self.cp, self.roster.cloud(), &self.cloud);
        let edge = self.link(&self.cp, self.roster.edge(), &self.edge);
        let mut worker = CpWorker::new(
            self.cp.clone(),
            self.roster.clone(),
            cloud,
            edge,
            FlowLog::disabled(),
        );
        worker.poll = PEER_POLL;
        worker.step_timeout = self.wait + Duration::from_secs(60);
        let worker = Arc::new(worker);
        let handle = tokio::spawn(worker.clone().run(std::future::pending()));
        Worker { worker, handle }
    }

    /// Submits `value` as this participant's DP (handing `shares` the share lines) and fetches
    /// the result from the edge.
    async fn submit_and_fetch(
        &self,
        task: TaskId,
        value: i128,
        shares: &Log<'_>,
    ) -> Result<i128, PeerError> {
        let cloud = self.link(&self.dp, self.roster.cloud(), &self.cloud);
        dp::submit_showing(
            self.dp.clone(),
            self.roster.clone(),
            &cloud,
            task,
            &Values::Decimals(vec![value.to_string()]),
            self.wait,
            |lines| {
                for line in lines {
                    shares(&format!("share for {line}"));
                }
            },
        )
        .await?;
        // The edge knows the servers only (DPs are registered with the cloud): this
        // participant asks for the result as its CP.
        let edge = self.link(&self.cp, self.roster.edge(), &self.edge);
        let result = dp::result(
            &edge,
            &self.roster,
            task,
            self.wait + Duration::from_secs(30),
        )
        .await?;
        result
            .body
            .sums
            .first()
            .copied()
            .ok_or_else(|| PeerError::Failed("the result has no values".into()))
    }
}

/// A sink for output lines.
pub type Log<'a> = dyn Fn(&str) + Sync + 'a;

/// Runs one participant: coordinates if it can bind `host:port`, else joins. `log` receives the
/// human-readable progress lines, `secret` the lines that reveal this participant's shares.
pub async fn run(
    config: &PeerConfig,
    log: &Log<'_>,
    secret: &Log<'_>,
) -> Result<PeerOutcome, PeerError> {
    let address = format!("{}:{}", config.host, config.port);
    match TcpListener::bind(&address).await {
        Ok(listener) => {
            log(&format!("coordinating on {address}"));
            coordinate(listener, config, log, secret).await
        }
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            log(&format!("joining the coordinator at {address}"));
            join(&address, config, log, secret).await
        }
        Err(e) => Err(PeerError::Failed(format!("binding {address}: {e}"))),
    }
}

fn task_params(config: &PeerConfig, weights: &[i128]) -> Result<TaskParams, PeerError> {
    let n = weights.len() as u32;
    let encoding = match config.modular {
        Some(field) => Encoding::Modular { field },
        None => Encoding::Exact {
            input_scale: 0,
            weight_scale: 0,
            range: InputRange::new(-MAX_INPUT, MAX_INPUT)?,
        },
    };
    let (t, additive) = match config.threshold {
        Some(t) => (t, false),
        None => (n, true),
    };
    let now = unix_now();
    let deadline = config.wait.as_secs().max(5) + 60;
    let mut weights: Vec<(PartyId, i128)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (id(&format!("dp{}", i + 1)), *w))
        .collect();
    weights.sort();
    Ok(TaskParams {
        function: Function::WeightedSum,
        dim: 1,
        encoding,
        weights,
        n,
        t,
        additive,
        mode: Mode::Fast,
        admission_deadline: now + deadline,
        submission_deadline: now + deadline,
        validate: false,
    })
}

fn temp_dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!(
        "dsmpc-peer-{}-{port}-{}",
        std::process::id(),
        unix_now()
    ))
}

async fn coordinate(
    listener: TcpListener,
    config: &PeerConfig,
    log: &Log<'_>,
    secret: &Log<'_>,
) -> Result<PeerOutcome, PeerError> {
    let n = config.parties;
    if n < 2 {
        return Err(PeerError::Failed(
            "peer mode needs at least 2 parties".into(),
        ));
    }
    let weights = match &config.weights {
        Some(w) if w.len() != n as usize => {
            return Err(PeerError::Failed(format!(
                "{} weights given for {n} parties",
                w.len()
            )));
        }
        Some(w) => w.clone(),
        None => random_weights(n),
    };
    let params = task_params(config, &weights)?;
    dsmpc_core::task::Task::validate(&params)?;
    let cloud = generate("cloud", Role::Cloud);
    let edge = generate("edge", Role::Edge);
    let my_cp = generate("cp1", Role::Cp);
    let my_dp = generate("dp1", Role::Dp);
    let cfg = rendezvous_config(config.wait);

    // Trust on first use: any static key may join, as long as it is the one its CP card names.
    // Joiners are taken concurrently, each within JOIN_WAIT, at most MAX_PENDING_JOINS at once
    // (a newer connection ends the oldest pending one): a stranger that connects and says
    // nothing holds up no one.
    let deadline = Instant::now() + config.wait;
    let mut joiners: Vec<(Channel, IdentityCard, IdentityCard)> = Vec::new();
    let mut pending = tokio::task::JoinSet::new();
    let mut order: std::collections::VecDeque<tokio::task::AbortHandle> = Default::default();
    while joiners.len() + 1 < n as usize {
        let step = timeout_at(deadline, async {
            tokio::select! {
                accepted = listener.accept() => JoinStep::Accepted(accepted),
                Some(done) = pending.join_next(), if !pending.is_empty() => JoinStep::Done(done),
            }
        })
        .await;
        match step {
            Err(_) => {
                return Err(PeerError::Timeout {
                    what: format!("participants: {} of {n} joined", joiners.len() + 1),
                    seconds: config.wait.as_secs(),
                });
            }
            Ok(JoinStep::Accepted(Ok((stream, peer)))) => {
                order.retain(|h| !h.is_finished());
                if order.len() >= MAX_PENDING_JOINS
                    && let Some(oldest) = order.pop_front()
                {
                    oldest.abort();
                }
                let (cloud, cfg) = (cloud.clone(), cfg.clone());
                order.push_back(pending.spawn(join_one(stream, peer, cloud, cfg)));
            }
            Ok(JoinStep::Accepted(Err(e))) => {
                tracing::warn!("rendezvous accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(JoinStep::Done(Ok(Ok(joiner)))) => {
                log(&format!("participant {} joined", joiners.len() + 2));
                joiners.push(*joiner);
            }
            Ok(JoinStep::Done(Ok(Err(reason)))) => tracing::warn!(%reason, "refused a joiner"),
            Ok(JoinStep::Done(Err(_))) => {} // ended by a newer connection
        }
    }
    pending.abort_all();
    drop(listener);

    let mut cps = vec![my_cp.card().clone()];
    let mut dps = vec![my_dp.card().clone()];
    for (k, (_, cp, dp)) in joiners.iter().enumerate() {
        let pid = k + 2;
        cps.push(IdentityCard {
            id: id(&format!("cp{pid}")),
            role: Role::Cp,
            ..cp.clone()
        });
        dps.push(IdentityCard {
            id: id(&format!("dp{pid}")),
            role: Role::Dp,
            ..dp.clone()
        });
    }
    let cards: Vec<IdentityCard> = [cloud.card().clone(), edge.card().clone()]
        .into_iter()
        .chain(cps)
        .chain(dps.iter().cloned())
        .collect();
    let roster = Arc::new(servers_of(&cards)?);

    let setup = |e: std::io::Error| PeerError::Failed(format!("binding a server port: {e}"));
    let cloud_listener = TcpListener::bind(format!("{}:0", config.host))
        .await
        .map_err(setup)?;
    let edge_listener = TcpListener::bind(format!("{}:0", config.host))
        .await
        .map_err(setup)?;
    let cloud_addr = cloud_listener.local_addr().map_err(setup)?.to_string();
    let edge_addr = edge_listener.local_addr().map_err(setup)?.to_string();
    let dir = temp_dir(config.port);
    std::fs::create_dir_all(&dir)
        .map_err(|e| PeerError::Failed(format!("creating {}: {e}", dir.display())))?;
    let _cleanup = RemoveOnDrop(dir.clone());
    let flow = FlowLog::disabled();
    let mut servers = spawn_cloud(
        &cloud,
        &roster,
        cloud_listener,
        &dir.join("cloud.db"),
        &flow,
    )?;
    servers.extend(spawn_edge(
        &edge,
        &roster,
        cloud_addr.clone(),
        edge_listener,
        &dir.join("edge.db"),
        &flow,
    )?);
    let _servers = AbortOnDrop(servers);

    for (k, (ch, _, _)) in joiners.iter_mut().enumerate() {
        let welcome = PeerMessage::Welcome {
            pid: k as u32 + 2,
            weights: weights.clone(),
            cards: cards.clone(),
            cloud: cloud_addr.clone(),
            edge: edge_addr.clone(),
        };
        send(ch, &welcome).await?;
    }
    log(&format!(
        "all {n} participants joined; weights {}",
        join_weights(&weights)
    ));

    let session = Session {
        cp: my_cp,
        dp: my_dp,
        roster: roster.clone(),
        cloud: cloud_addr.clone(),
        edge: edge_addr,
        wait: config.wait,
    };
    let _worker = session.start_worker();
    let operator = session.link(&cloud, roster.cloud(), &cloud_addr);
    crate::roles::register_dps(&operator, dps).await?;
    let (task, _) =
        dp::create_task(&operator, params, config.wait + Duration::from_secs(30)).await?;
    log(&format!("task {} created", task.body.id));
    for (ch, _, _) in &mut joiners {
        send(ch, &PeerMessage::Start(task.body.id)).await?;
    }
    let weighted_sum = session
        .submit_and_fetch(task.body.id, config.value, secret)
        .await?;
    // Keep the servers up until every joiner has its result.
    let until = config.wait + Duration::from_secs(60);
    for (k, (ch, _, _)) in joiners.iter_mut().enumerate() {
        match recv(ch, &format!("participant {} to finish", k + 2), until).await {
            Ok(PeerMessage::Done) => {}
            Ok(other) => tracing::warn!(message = other.name(), "unexpected rendezvous message"),
            Err(e) => tracing::warn!(error = %e, "a participant did not confirm its result"),
        }
    }
    Ok(PeerOutcome {
        pid: 1,
        parties: n,
        weights,
        value: config.value,
        weighted_sum,
    })
}

/// The roster of the servers among `cards` (the DPs' cards are registered with the cloud).
fn servers_of(cards: &[IdentityCard]) -> Result<Roster, PeerError> {
    let servers = cards.iter().filter(|c| c.role != Role::Dp).cloned();
    Ok(Roster::new(servers)?)
}

fn join_weights(weights: &[i128]) -> String {
    weights
        .iter()
        .map(i128::to_string)
        .collect::<Vec<_>>()
        .join(":")
}

pub(crate) struct RemoveOnDrop(pub(crate) PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct AbortOnDrop(pub(crate) Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

async fn join(
    address: &str,
    config: &PeerConfig,
    log: &Log<'_>,
    secret: &Log<'_>,
) -> Result<PeerOutcome, PeerError> {
    let cp = SecretIdentity::generate(id("cp0"), Role::Cp, &mut os_rng());
    let dp = SecretIdentity::generate(id("dp0"), Role::Dp, &mut os_rng());
    let cfg = rendezvous_config(config.wait);
    let (mut ch, _) = Channel::dial_any(address, StaticKey::of(&cp), &cfg)
        .await
        .map_err(|e| PeerError::Failed(format!("rendezvous with {address}: {e}")))?;
    let join = PeerMessage::Join {
        cp: Box::new(cp.card().clone()),
        dp: Box::new(dp.card().clone()),
    };
    send(&mut ch, &join).await?;
    let (pid, weights, cards, cloud, edge) =
        match recv(&mut ch, "the coordinator's welcome", config.wait).await? {
            PeerMessage::Welcome {
                pid,
                weights,
                cards,
                cloud,
                edge,
            } => (pid, weights, cards, cloud, edge),
            other => {
                return Err(PeerError::Failed(format!(
                    "the coordinator sent {} instead of welcome",
                    other.name()
                )));
            }
        };
    let n = weights.len() as u32;
    if pid < 2 || pid > n {
        return Err(PeerError::Failed(format!(
            "the coordinator gave pid {pid} of {n}"
        )));
    }
    if let Some(mine) = &config.weights
        && *mine != weights
    {
        return Err(PeerError::Failed(format!(
            "the coordinator's weights {} differ from --weights {}",
            join_weights(&weights),
            join_weights(mine)
        )));
    }
    let cp = Arc::new(SecretIdentity::from_secret_bytes(
        id(&format!("cp{pid}")),
        Role::Cp,
        &cp.secret_bytes(),
    )?);
    let dp = Arc::new(SecretIdentity::from_secret_bytes(
        id(&format!("dp{pid}")),
        Role::Dp,
        &dp.secret_bytes(),
    )?);
    let roster = Arc::new(servers_of(&cards)?);
    for me in [&cp, &dp] {
        if !cards.contains(me.card()) {
            return Err(PeerError::Failed(format!(
                "the coordinator's roster does not hold this participant's {} keys",
                me.id()
            )));
        }
    }
    log(&format!(
        "joined as participant {pid} of {n}; weights {}",
        join_weights(&weights)
    ));
    let session = Session {
        cp,
        dp,
        roster,
        cloud,
        edge,
        wait: config.wait,
    };
    let _worker = session.start_worker();
    let until = config.wait + Duration::from_secs(60);
    let task = match recv(&mut ch, "the task", until).await? {
        PeerMessage::Start(task) => task,
        other => {
            return Err(PeerError::Failed(format!(
                "the coordinator sent {} instead of start",
                other.name()
            )));
        }
    };
    let weighted_sum = session.submit_and_fetch(task, config.value, secret).await?;
    let _ = send(&mut ch, &PeerMessage::Done).await;
    Ok(PeerOutcome {
        pid,
        parties: n,
        weights,
        value: config.value,
        weighted_sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_strictly() {
        let card = SecretIdentity::generate(id("cp0"), Role::Cp, &mut os_rng())
            .card()
            .clone();
        let messages = [
            PeerMessage::Join {
                cp: Box::new(card.clone()),
                dp: Box::new(card.clone()),
            },
            PeerMessage::Welcome {
                pid: 2,
                weights: vec![1, 2, 3],
                cards: vec![card],
                cloud: "127.0.0.1:1".into(),
                edge: "127.0.0.1:2".into(),
            },
            PeerMessage::Start(TaskId([7; 16])),
            PeerMessage::Done,
        ];
        for m in messages {
            let bytes = m.to_bytes();
            assert_eq!(decode_exact::<PeerMessage>(&bytes).unwrap(), m);
            assert!(decode_exact::<PeerMessage>(&bytes[..bytes.len() - 1]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(decode_exact::<PeerMessage>(&longer).is_err());
        }
        assert!(decode_exact::<PeerMessage>(&[9]).is_err());
    }
}
