//! The cloud server: the core [`Cloud`] state machine behind a Noise listener, with every accepted
//! message committed to SQLite before it is acknowledged, and replayed after a restart.
//!
//! Events per task, in order: `admission` (the cloud's clock ‖ the signed request), `bundle`,
//! `close-submissions` (clock), `report`, `input-set`. Replaying them through a fresh [`Cloud`]
//! rebuilds the same state: committee, bundles, complaints' verdicts and the (deterministically
//! signed) input set.
//!
//! # Concurrency and durability
//!
//! * **Group commit.** The state sits behind one async mutex, but the store does not: a handler
//!   applies its message and queues the event while it holds the lock — so the log's order is the
//!   order the state applied — then releases the lock and waits until a writer thread has
//!   committed a transaction holding the event. The writer commits everything queued during its
//!   previous commit at once, so concurrent submissions share one `fsync`. A request that only
//!   reads waits until everything it could have seen is durable. See `journal` for details.
//! * **A failed commit stops the cloud.** The state already applied what the failed transaction
//!   held; rather than diverge from its log, the cloud refuses that message and every later one
//!   ("store failed; restart to replay") until restarted.
//! * **Waits without polling.** A [`Request::Await`] is answered as soon as its news is there:
//!   the handler re-reads the state whenever [`CloudServer::announce`] says it changed (a task
//!   created, a CP admitted, a phase changed), and otherwise at the wait's end. Bundles do not
//!   announce: nothing awaits one, and a thousand of them would wake every waiter a thousand times.
//! * **Checks before the lock.** A bundle's stateless checks (signature, digests, commitments;
//!   [`check_bundle`]) run before the state lock is taken, so both cores verify bundles while the
//!   lock is held only for the bookkeeping.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use dsmpc_core::codec::{Decode, Encode, Reader, decode_exact};
use dsmpc_core::identity::{IdentityCard, PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::merkle;
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cloud::{
    Accepted, CheckedBundle, Cloud, DEFAULT_ADMISSION_WINDOW, check_bundle, check_bundles,
};
use dsmpc_core::round1::AdmissionRequest;
use dsmpc_core::round2::{Bundle, BundleCore, ShareDelivery};
use dsmpc_core::round3::VerificationReport;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{DpKey, ListedDp, Task, TaskId, TaskParams};
use rand::rngs::ChaCha20Rng;
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::{GeneratorCache, unix_now};
use crate::flow::FlowLog;
use crate::peer::AbortOnDrop;
use crate::rpc::UNAVAILABLE;
use crate::rpc::{
    DP_LIST_PAGE, MAX_PAGE, PAGE_BYTES, Phase, REGISTER_PAGE, Request, Response, SUMMARY_PAGE,
    Status, Until, take_bundle_bytes,
};
use crate::server::Handler;
use crate::store::WorkerPart;
use crate::store::pg_shared::TaskTxError;
use crate::store::{
    CloudStore, Event, StoreError, StoreLocation, StoredCore, StoredShare, TaskStatus,
};

/// Timing of the cloud's decisions.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// How long after submissions close the cloud waits for all CPs' reports.
    pub report_timeout: Duration,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            report_timeout: Duration::from_secs(10),
        }
    }
}

mod journal;
#[cfg(test)]
mod tests;

use journal::{Ack, BundleRecord, Journal, Record};
use readers::Readers;
use registry::Registry;

mod readers;
mod registry;
mod shared;

/// A fast task that validates inputs decides its DPs from t CPs' verifier shares, so at the
/// report deadline its input set waits for t reports, up to this many report timeouts in all;
/// then it closes anyway and the edge fails the task for too few reports.
const VALIDATION_REPORT_WAIT: u64 = 5;

/// Whether `task`'s input set may close at the report deadline: t reports are in, or the task
/// needs none to decide its DPs (it does not validate in fast mode).
fn enough_to_decide(cloud: &Cloud, task: &TaskId) -> bool {
    let Ok(signed) = cloud.task(task) else {
        return true;
    };
    let params = &signed.body.params;
    let validating_fast = params.validate && params.mode == dsmpc_core::task::Mode::Fast;
    !validating_fast
        || cloud
            .reported(task)
            .is_ok_and(|r| r.len() >= params.t as usize)
}

struct Meta {
    phase: Phase,
    verifying_since: u64,
}

impl Meta {
    fn new() -> Meta {
        Meta {
            phase: Phase::Admitting,
            verifying_since: 0,
        }
    }
}

struct State {
    cloud: Cloud,
    journal: Journal,
    meta: BTreeMap<TaskId, Meta>,
    rng: ChaCha20Rng,
    /// How far each task's replica has read a shared database (several front-ends).
    marks: BTreeMap<TaskId, Mark>,
    /// The creation number of the newest task loaded from a shared database.
    last_num: i64,
}

/// The cloud server.
pub struct CloudServer {
    state: Mutex<State>,
    /// Every task's signed spec, readable without the state lock (for the stateless checks of a
    /// bundle); tasks are only ever added.
    tasks: RwLock<BTreeMap<TaskId, Arc<Signed<Task>>>>,
    /// Every task's Merkle tree over its DP list, for DPs' entries; added with the task.
    trees: RwLock<BTreeMap<TaskId, Arc<merkle::Tree>>>,
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    config: CloudConfig,
    gens: GeneratorCache,
    flow: FlowLog,
    /// Announces a change that an [`Until`] may be waiting for.
    news: tokio::sync::watch::Sender<()>,
    /// Connections that read bundles back from the store, outside the state lock.
    readers: Arc<Readers>,
    /// Who may connect: the roster's servers and the registered DPs.
    registry: Arc<Registry>,
    /// Where the store is, for registrations (on a connection of their own).
    location: StoreLocation,
    /// The shared database's connection, when the store is PostgreSQL: any number of
    /// front-ends may serve the same tasks from it ([`shared`]).
    shared: Option<shared::SharedDb>,
}

fn refused(e: impl std::fmt::Display) -> Response {
    Response::Refused(e.to_string())
}

/// An answer and what must be durable before it is sent.
type Reply = (Response, Ack);

/// A refusal that reveals nothing of the state.
fn refuse(e: impl std::fmt::Display) -> Reply {
    (refused(e), Ack::none())
}

impl CloudServer {
    /// Opens the SQLite store at `path` ([`CloudServer::open_at`]).
    pub fn open(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        path: &Path,
        config: CloudConfig,
        flow: FlowLog,
    ) -> Result<CloudServer, StoreError> {
        let location = StoreLocation::Sqlite(path.to_owned());
        CloudServer::open_at(identity, roster, &location, config, flow)
    }

    /// Opens the store at `location` (a SQLite file or a PostgreSQL database), replays every
    /// task in it, and starts the writer thread that commits the log from then on.
    pub fn open_at(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        location: &StoreLocation,
        config: CloudConfig,
        flow: FlowLog,
    ) -> Result<CloudServer, StoreError> {
        let mut store = location.open()?;
        let cut = store.trim_segments()?;
        if cut > 0 {
            warn!(
                bytes = cut,
                "cut uncommitted bytes off the end of segment files"
            );
        }
        let mut cloud =
            Cloud::streaming(identity.clone(), roster.clone(), DEFAULT_ADMISSION_WINDOW);
        let mut rng = fast_rng();
        let (mut meta, mut marks) = (BTreeMap::new(), BTreeMap::new());
        let server_gens = GeneratorCache::default();
        for (id, status, spec) in store.tasks(None)? {
            if status == TaskStatus::Failed {
                continue;
            }
            let id = TaskId(id);
            match replay(&mut cloud, &mut rng, &mut store, &server_gens, id, &spec) {
                Ok((m, mark)) => {
                    meta.insert(id, m);
                    marks.insert(id, mark);
                }
                Err(e) => warn!(task = %id, "could not restore the task: {e}"),
            }
        }
        let (shared, last_num) = shared::SharedDb::open(location, &identity)?;
        info!(tasks = meta.len(), "cloud state restored");
        let tasks: BTreeMap<TaskId, Arc<Signed<Task>>> =
            cloud.tasks().map(|t| (t.body.id, t.clone())).collect();
        let trees = tasks
            .iter()
            .map(|(id, t)| (*id, Arc::new(t.body.dp_tree())))
            .collect();
        let state = State {
            cloud,
            journal: Journal::start(store)?,
            meta,
            rng,
            marks,
            last_num,
        };
        Ok(CloudServer {
            state: Mutex::new(state),
            tasks: RwLock::new(tasks),
            trees: RwLock::new(trees),
            identity,
            roster: roster.clone(),
            config,
            gens: server_gens,
            flow,
            news: tokio::sync::watch::Sender::new(()),
            readers: Arc::new(Readers::new(location)),
            registry: Arc::new(Registry::new(roster, location)),
            location: location.clone(),
            shared,
        })
    }

    /// Why the store failed, once a commit failed: from then on the cloud refuses everything,
    /// and only a restart (which replays the log) brings it back. `dsmpc cloud` exits then, so
    /// that its supervisor restarts it.
    pub async fn store_failure(&self) -> Option<String> {
        let state = self.state.lock().await;
        state.journal.check().err().map(|e| e.to_string())
    }

    /// Serves `listener` and applies deadlines every `tick` (see [`CloudServer::tick`]) until
    /// `shutdown` completes (or this future is dropped). Registered DPs may connect besides the
    /// servers of `context`'s roster.
    pub async fn serve_until(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        mut context: crate::server::ServerContext,
        tick: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        context.directory = self.registry.clone();
        let ticker = self.clone();
        // Each loop yields before it sleeps: a pass may block its thread (the database), and
        // a runtime that began to shut down meanwhile must get the chance to drop the task
        // rather than see it ask its stopped timer for a sleep (which panics).
        let mut background = vec![tokio::spawn(async move {
            loop {
                tokio::task::yield_now().await;
                tokio::time::sleep(tick).await;
                ticker.tick().await;
            }
        })];
        if self.shared.is_some() {
            let syncer = self.clone();
            background.push(tokio::spawn(async move {
                loop {
                    tokio::task::yield_now().await;
                    tokio::time::sleep(shared::SYNC_EVERY).await;
                    if let Err(e) = syncer.refresh(None).await {
                        warn!("{e}");
                    }
                }
            }));
        }
        let _background = AbortOnDrop(background);
        crate::server::serve(listener, context, self, shutdown).await;
    }

    /// Closes submissions and input sets whose deadlines have passed; call periodically.
    pub async fn tick(&self) {
        let now = unix_now();
        let ack = {
            let mut state = self.state.lock().await;
            if state.journal.check().is_err() {
                return;
            }
            if self.shared.is_some() {
                if self.tick_shared(&mut state, now) {
                    self.announce();
                }
                return;
            }
            let due = self.due(&state, now);
            let advanced = !due.is_empty();
            for (id, phase) in due {
                let outcome = match phase {
                    Phase::Collecting => Ok(close_submissions(&mut state, &id, now)),
                    _ => self.close_input_set(&mut state, &id),
                };
                if let Err(e) = outcome {
                    warn!(task = %id, "could not advance the task: {e}");
                }
            }
            if advanced {
                self.announce();
            }
            state.journal.barrier()
        };
        if let Err(e) = ack.durable().await {
            warn!("{e}");
        }
    }

    /// The tasks whose phase is due to end at `now`: submissions past their deadline, and
    /// input sets whose reports are in or overdue.
    fn due(&self, state: &State, now: u64) -> Vec<(TaskId, Phase)> {
        state
            .meta
            .iter()
            .filter(|(id, m)| match m.phase {
                Phase::Collecting => state
                    .cloud
                    .task(id)
                    .is_ok_and(|t| now >= t.body.params.submission_deadline),
                Phase::Verifying => {
                    let waited = now.saturating_sub(m.verifying_since);
                    let timeout = self.config.report_timeout.as_secs();
                    waited >= timeout
                        && (waited >= timeout * VALIDATION_REPORT_WAIT
                            || enough_to_decide(&state.cloud, id))
                }
                _ => false,
            })
            .map(|(id, m)| (*id, m.phase))
            .collect()
    }

    fn close_input_set(&self, state: &mut State, id: &TaskId) -> Result<Ack, String> {
        let body = self.input_set_event(state, id)?;
        // The status change is committed with or after the event: its ack covers both.
        let _ = state.journal.record(Record::Append {
            task: id.0,
            kind: "input-set",
            body,
        });
        Ok(state.journal.record(Record::SetStatus {
            task: id.0,
            status: TaskStatus::Closed,
        }))
    }

    /// Closes task `id`'s input set in the state; the `input-set` event's body.
    fn input_set_event(&self, state: &mut State, id: &TaskId) -> Result<Vec<u8>, String> {
        let started = std::time::Instant::now();
        let input_set = state.cloud.close_input_set(id).map_err(|e| e.to_string())?;
        if let Some(m) = state.meta.get_mut(id) {
            m.phase = Phase::Aggregating;
        }
        self.flow
            .phase(Some(*id), "cloud", "input-set", started.elapsed());
        info!(task = %id, included = input_set.body.included.count(), "input set closed");
        Ok(input_set.to_bytes())
    }

    /// Makes `task` readable without the state lock (for bundles' checks and DP entries).
    fn remember_task(&self, task: &Arc<Signed<Task>>) {
        let id = task.body.id;
        self.trees
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(task.body.dp_tree()));
        self.tasks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, task.clone());
    }

    /// On a shared database, catches task `task` (or, with `None`, every open task) up with
    /// what other front-ends committed, and wakes the waits if anything changed.
    async fn refresh(&self, task: Option<TaskId>) -> Result<(), String> {
        if self.shared.is_none() {
            return Ok(());
        }
        let mut state = self.state.lock().await;
        state.journal.check().map_err(|e| e.to_string())?;
        let changed = match task {
            Some(id) => self.sync_task(&mut state, &id)?,
            None => self.sync_all(&mut state)?,
        };
        if changed {
            self.announce();
        }
        Ok(())
    }

    /// The signed task `id`, without taking the state lock.
    fn task(&self, id: &TaskId) -> Option<Arc<Signed<Task>>> {
        let tasks = self.tasks.read().unwrap_or_else(PoisonError::into_inner);
        tasks.get(id).cloned()
    }

    /// A refusal unless `peer` is the cloud's operator (it holds the cloud's key), who alone
    /// may `what`.
    fn unless_operator(&self, peer: &IdentityCard, what: &str) -> Option<Reply> {
        (peer.id != *self.identity.id()).then(|| {
            refuse(format!(
                "only the cloud operator (holding the cloud's key) may {what}"
            ))
        })
    }

    async fn create_task(&self, peer: &IdentityCard, mut params: TaskParams) -> Reply {
        if let Some(refusal) = self.unless_operator(peer, "create tasks") {
            return refusal;
        }
        let keys = match self.registered_keys(&mut params).await {
            Ok(keys) => keys,
            Err(reason) => return refuse(reason),
        };
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if let Err(e) = state.journal.check() {
            return refuse(e);
        }
        let task = match state.cloud.create_task(params, keys, &mut state.rng) {
            Ok(t) => t,
            Err(e) => return refuse(e),
        };
        let id = task.body.id;
        // The signed task is a header; its DP list is kept beside it for replay.
        let dp_list = encode_dp_list(&task.body.listed_dps(0, usize::MAX));
        let ack = match &self.shared {
            Some(db) => match db.create_task(&id, &task.to_bytes(), &dp_list) {
                Ok(seq) => {
                    state.marks.insert(id, Self::created_mark(seq));
                    Ack::none()
                }
                Err(e) => {
                    let reason = format!("writing task {id} to the shared database failed: {e}");
                    return refuse(state.journal.fail(reason));
                }
            },
            None => {
                let _ = state.journal.record(Record::CreateTask {
                    task: id.0,
                    spec: task.to_bytes(),
                });
                state.journal.record(Record::Append {
                    task: id.0,
                    kind: "dp-list",
                    body: dp_list,
                })
            }
        };
        state.meta.insert(id, Meta::new());
        self.remember_task(&task);
        info!(task = %id, function = %task.body.params.function, "task created");
        self.announce();
        (Response::Task(task.header()), ack)
    }

    /// The registry's verifying key of every DP `params` lists, in order; an empty list in
    /// `params` means every registered DP, each with weight 1. The reason names the first DP
    /// that is not registered.
    async fn registered_keys(&self, params: &mut TaskParams) -> Result<Vec<DpKey>, String> {
        if params.weights.is_empty() {
            let unit = params.encoding.unit_weight().ok_or_else(|| {
                format!(
                    "the weight scale exceeds {}",
                    dsmpc_core::encoding::MAX_SCALE
                )
            })?;
            let all = self.readers.read(|store| store.registered_dps()).await?;
            if all.is_empty() {
                return Err(
                    "no data provider is registered; register DPs with `dsmpc dp register` \
                     (or `dsmpc init --dps N`)"
                        .into(),
                );
            }
            let (weights, keys) = all.into_iter().map(|(id, key)| ((id, unit), key)).unzip();
            params.weights = weights;
            return Ok(keys);
        }
        let ids: Vec<PartyId> = params.weights.iter().map(|(id, _)| id.clone()).collect();
        match self.readers.read(move |store| store.dp_keys(&ids)).await? {
            Ok(keys) => Ok(keys),
            Err(dp) => Err(format!(
                "{dp} is not a registered data provider; register its card with \
                 `dsmpc dp register`"
            )),
        }
    }

    /// The operator closes task `id`'s submissions before their deadline (a federated-learning
    /// round whose clients have all answered, say): exactly what the deadline would do, now.
    async fn close_now(&self, peer: &IdentityCard, id: TaskId) -> Reply {
        if let Some(refusal) = self.unless_operator(peer, "close submissions") {
            return refusal;
        }
        let now = unix_now();
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if let Err(e) = state.journal.check() {
            return refuse(e);
        }
        if self.shared.is_some() {
            let closed = self.locked(state, id, None, |this, state, ttx| {
                if !Self::may_close(state, &id).map_err(TaskTxError::Refused)? {
                    return Ok(false);
                }
                this.close_submissions_in(state, &id, now, ttx)?;
                Ok(true)
            });
            return match closed {
                Ok(closed) => {
                    if closed {
                        self.announce();
                    }
                    (Response::Ok, Ack::none())
                }
                Err(reason) => refuse(reason),
            };
        }
        match Self::may_close(state, &id) {
            Err(reason) => refuse(reason),
            Ok(false) => (Response::Ok, state.journal.barrier()),
            Ok(true) => {
                let ack = close_submissions(state, &id, now);
                self.announce();
                (Response::Ok, ack)
            }
        }
    }

    /// Whether task `id`'s submissions are open to be closed (false: closed already); an
    /// unknown task, or one whose committee is not admitted yet, is refused.
    fn may_close(state: &State, id: &TaskId) -> Result<bool, String> {
        match state.meta.get(id).map(|m| m.phase) {
            None => Err(format!("unknown task {id}")),
            Some(Phase::Admitting) => Err(format!(
                "task {id} has no admitted committee yet: its submissions have not opened"
            )),
            Some(Phase::Collecting) => Ok(true),
            Some(_) => Ok(false),
        }
    }

    /// Registers DPs' cards (the operator only), on a store connection of its own.
    async fn register_dps(&self, peer: &IdentityCard, cards: Vec<IdentityCard>) -> Reply {
        if let Some(refusal) = self.unless_operator(peer, "register DPs") {
            return refusal;
        }
        if cards.len() > REGISTER_PAGE {
            return refuse(format!(
                "{} cards in one registration; at most {REGISTER_PAGE}",
                cards.len()
            ));
        }
        for card in &cards {
            if self.roster.get(&card.id).is_some()
                || self.roster.by_noise_key(&card.noise_key).is_some()
            {
                return refuse(format!(
                    "{} has the id or Noise key of a server in the roster",
                    card.id
                ));
            }
        }
        let location = self.location.clone();
        let registered = tokio::task::spawn_blocking(move || {
            location
                .open()
                .and_then(|mut store| store.register_dps(&cards))
                .map(|done| (done, cards))
        })
        .await;
        match registered {
            Ok(Ok((done, cards))) => {
                self.registry.remember(&cards);
                info!(
                    added = done.added,
                    already = done.already,
                    "data providers registered"
                );
                let response = Response::Registered {
                    added: done.added,
                    already: done.already,
                };
                (response, Ack::none())
            }
            Ok(Err(e)) => refuse(e),
            Err(e) => refuse(format!("the registration failed: {e}")),
        }
    }

    async fn admit(&self, task: TaskId, request: Signed<AdmissionRequest>) -> Reply {
        let now = unix_now();
        let mut event = now.to_le_bytes().to_vec();
        event.extend(request.to_bytes());
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if let Err(e) = state.journal.check() {
            return refuse(e);
        }
        if self.shared.is_some() {
            return self.admit_shared(state, task, &request, now, &event);
        }
        let admission = match state.cloud.admit(&task, &request, now, &mut state.rng) {
            Ok(a) => a,
            Err(e) => return (refused(e), state.journal.barrier()),
        };
        let ack = state.journal.record(Record::Append {
            task: task.0,
            kind: "admission",
            body: event,
        });
        if admission.committee.is_some()
            && let Some(m) = state.meta.get_mut(&task)
        {
            m.phase = Phase::Collecting;
            info!(task = %task, "committee complete");
        }
        self.announce();
        (Response::Grant(admission.grant), ack)
    }

    /// [`CloudServer::admit`] on a shared database: under the task's row lock.
    fn admit_shared(
        &self,
        state: &mut State,
        task: TaskId,
        request: &Signed<AdmissionRequest>,
        now: u64,
        event: &[u8],
    ) -> Reply {
        let granted = self.locked(state, task, None, |_, state, ttx| {
            let admission = state
                .cloud
                .admit(&task, request, now, &mut state.rng)
                .map_err(|e| TaskTxError::Refused(e.to_string()))?;
            Self::append_in(state, &task, "admission", event, ttx)?;
            if admission.committee.is_some()
                && let Some(m) = state.meta.get_mut(&task)
            {
                m.phase = Phase::Collecting;
                info!(task = %task, "committee complete");
            }
            Ok(admission.grant)
        });
        match granted {
            Ok(grant) => {
                self.announce();
                (Response::Grant(grant), Ack::none())
            }
            Err(e) => refuse(e),
        }
    }

    /// Checks the bundle before taking the state lock (signature, digests, commitments: the
    /// costly part), then applies and queues it under the lock.
    /// `body` is the bundle's encoding as it arrived, if known.
    async fn submit_bundle(
        &self,
        peer: &IdentityCard,
        task: TaskId,
        bundle: Bundle,
        body: Option<Vec<u8>>,
    ) -> Reply {
        if self.task(&task).is_none()
            && let Err(e) = self.refresh(Some(task)).await
        {
            return refuse(e);
        }
        let signed = match self.bundle_task(peer, &task, &bundle) {
            Ok(signed) => signed,
            Err(reason) => return refuse(reason),
        };
        match check_bundle(&signed, bundle) {
            Ok(checked) => self.apply_bundle(&signed, checked, body).await,
            Err(e) => refuse(e),
        }
    }

    /// The signed task `peer` submits `bundle` for; the refusal's reason unless `peer` signed
    /// the bundle and the task exists.
    fn bundle_task(
        &self,
        peer: &IdentityCard,
        task: &TaskId,
        bundle: &Bundle,
    ) -> Result<Arc<Signed<Task>>, String> {
        if bundle.core.signer != peer.id {
            return Err(format!(
                "{} may not submit {}'s bundle",
                peer.id, bundle.core.signer
            ));
        }
        self.task(task)
            .ok_or_else(|| format!("unknown task {task}"))
    }

    /// Applies a checked bundle under the state lock and queues it for the store.
    async fn apply_bundle(
        &self,
        signed: &Signed<Task>,
        checked: CheckedBundle,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let task = signed.body.id;
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if let Err(e) = state.journal.check() {
            return refuse(e);
        }
        if state
            .meta
            .get(&task)
            .is_some_and(|m| m.phase > Phase::Collecting)
        {
            return (refused("submissions are closed"), state.journal.barrier());
        }
        if self.shared.is_some() {
            return self.place_checked(state, signed, checked, body);
        }
        let (arrival, bundle) = match state.cloud.accept_checked_bundle(checked) {
            Ok(Accepted::New {
                arrival,
                bundle: Some(bundle),
            }) => (arrival, bundle),
            // An identical resend: answer once the first copy is durable.
            Ok(_) => return (Response::Ok, state.journal.barrier()),
            Err(e) => return (refused(e), state.journal.barrier()),
        };
        let ack = state
            .journal
            .record(Record::Bundle(bundle_record(task, arrival, &bundle, body)));
        let everyone_in = state
            .cloud
            .bundle_count(&task)
            .is_ok_and(|count| count == signed.body.params.weights.len());
        if everyone_in {
            let closed = close_submissions(state, &task, unix_now());
            self.announce();
            return (Response::Ok, closed);
        }
        (Response::Ok, ack)
    }

    /// [`CloudServer::apply_bundle`] on a shared database: the database places the bundle (or
    /// refuses it); the replica learns of it when it catches up.
    fn place_checked(
        &self,
        state: &mut State,
        signed: &Signed<Task>,
        checked: CheckedBundle,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let task = signed.body.id;
        let complete = |state: &State| state.cloud.committee(&task).is_ok_and(|c| c.is_some());
        if !complete(state) {
            if let Err(e) = self.sync_task(state, &task) {
                return refuse(e);
            }
            if !complete(state) {
                return refuse("the committee is not complete yet");
            }
        }
        let listed = signed.body.params.weights.len() as u64;
        let record = bundle_record(task, 0, checked.bundle(), body);
        (Response::Ok, Self::place_bundle(state, listed, record))
    }

    async fn report(&self, task: TaskId, report: Signed<VerificationReport>) -> Reply {
        let bytes = report.to_bytes();
        let wanted = Cloud::complained_about(&report.body);
        let stored = match self.stored_deliveries(task, wanted).await {
            Ok(stored) => stored,
            Err(e) => return refuse(e),
        };
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if let Err(e) = state.journal.check() {
            return refuse(e);
        }
        if self.shared.is_some() {
            return self.report_shared(state, task, report, &bytes, &stored);
        }
        if state.meta.get(&task).map(|m| m.phase) != Some(Phase::Verifying) {
            let refusal = refused("the task is not waiting for verification reports");
            return (refusal, state.journal.barrier());
        }
        let gens = match state.cloud.task(&task).map(|t| self.gens.for_task(&t.body)) {
            Ok(Ok(g)) => g,
            Ok(Err(e)) | Err(e) => return (refused(e), state.journal.barrier()),
        };
        if let Err(e) = state
            .cloud
            .accept_report_judging(&task, report, gens.as_deref(), &stored)
        {
            return (refused(e), state.journal.barrier());
        }
        let mut ack = state.journal.record(Record::Append {
            task: task.0,
            kind: "report",
            body: bytes,
        });
        let all_in = state.cloud.task(&task).is_ok_and(|t| {
            state
                .cloud
                .reported(&task)
                .is_ok_and(|r| r.len() == t.body.params.n as usize)
        });
        if all_in {
            match self.close_input_set(state, &task) {
                Ok(closed) => ack = closed,
                Err(e) => warn!(task = %task, "could not close the input set: {e}"),
            }
        }
        self.announce();
        (Response::Ok, ack)
    }

    /// [`CloudServer::report`] on a shared database: under the task's row lock, closing the
    /// input set in the same transaction when the report is the last.
    fn report_shared(
        &self,
        state: &mut State,
        task: TaskId,
        report: Signed<VerificationReport>,
        bytes: &[u8],
        stored: &[ShareDelivery],
    ) -> Reply {
        let accepted = self.locked(state, task, None, |this, state, ttx| {
            let refused = |e: String| TaskTxError::Refused(e);
            if state.meta.get(&task).map(|m| m.phase) != Some(Phase::Verifying) {
                return Err(refused(
                    "the task is not waiting for verification reports".into(),
                ));
            }
            let signed = state
                .cloud
                .task(&task)
                .map_err(|e| refused(e.to_string()))?;
            let gens = this
                .gens
                .for_task(&signed.body)
                .map_err(|e| refused(e.to_string()))?;
            let n = signed.body.params.n as usize;
            state
                .cloud
                .accept_report_judging(&task, report, gens.as_deref(), stored)
                .map_err(|e| refused(e.to_string()))?;
            Self::append_in(state, &task, "report", bytes, ttx)?;
            if state.cloud.reported(&task).is_ok_and(|r| r.len() == n) {
                this.close_input_set_in(state, &task, ttx)?;
            }
            Ok(())
        });
        match accepted {
            Ok(()) => {
                self.announce();
                (Response::Ok, Ack::none())
            }
            Err(e) => refuse(e),
        }
    }

    /// Answers a request that only reads the state, once everything it could have seen is
    /// durable.
    async fn read(&self, read: impl FnOnce(&State) -> Response) -> Reply {
        let mut state = self.state.lock().await;
        if let Err(e) = state.journal.check() {
            return refuse(e);
        }
        let response = read(&state);
        (response, state.journal.barrier())
    }

    /// Wakes every [`Request::Await`] in progress to look at the state again. Called with the
    /// state lock held, after the change.
    fn announce(&self) {
        self.news.send_replace(());
    }

    /// Answers `until` once its news is there (the state changed to show it) or `millis` (cut to
    /// [`crate::rpc::MAX_AWAIT`]) have passed, whichever comes first; like [`CloudServer::read`],
    /// once everything the answer could have seen is durable.
    async fn await_news(&self, until: &Until, millis: u32) -> Reply {
        crate::server::answer_on_news(&self.news, millis, || async {
            let mut state = self.state.lock().await;
            if let Err(e) = state.journal.check() {
                return (refuse(e), true);
            }
            let (response, ready) = Self::news(&state, until);
            ((response, state.journal.barrier()), ready)
        })
        .await
    }

    /// The answer `until` gets now, and whether it carries the news (a refusal always does).
    fn news(state: &State, until: &Until) -> (Response, bool) {
        match until {
            Until::Tasks { known } => {
                let ids: Vec<TaskId> = state.cloud.tasks().map(|t| t.body.id).collect();
                let ready = ids.len() > *known as usize;
                (Response::TaskIds(ids), ready)
            }
            Until::Committee(task) => match state.cloud.committee(task) {
                Ok(c) => (Response::Committee(c.cloned()), c.is_some()),
                Err(e) => (refused(e), true),
            },
            Until::Phase(task, phase) => match Self::status(state, *task) {
                Response::Status(s) => {
                    let ready = s.phase >= *phase;
                    (Response::Status(s), ready)
                }
                other => (other, true),
            },
            Until::Result(_) => (refused("results are served by the edge"), true),
        }
    }

    fn status(state: &State, task: TaskId) -> Response {
        let Some(meta) = state.meta.get(&task) else {
            return refused(format!("unknown task {task}"));
        };
        let status = Status {
            phase: meta.phase,
            submitted: state.cloud.bundle_count(&task).unwrap_or_default() as u64,
            reported: state.cloud.reported(&task).unwrap_or_default(),
            input_set: state.cloud.input_set(&task).ok().flatten().cloned(),
        };
        Response::Status(status)
    }
}

/// The queued form of a new bundle: its encoding as it arrived (`body`, when known and
/// consistent with the decoded bundle) or encoded again.
fn bundle_record(task: TaskId, pos: u64, bundle: &Bundle, body: Option<Vec<u8>>) -> BundleRecord {
    let share_lens: Vec<u64> = bundle
        .shares
        .iter()
        .map(|s| 36 + s.ciphertext.len() as u64)
        .collect();
    let shares_len = 4 + share_lens.iter().sum::<u64>() as usize;
    let count = (bundle.shares.len() as u32).to_le_bytes();
    let fits = |b: &Vec<u8>| {
        b.len()
            .checked_sub(shares_len)
            .and_then(|core_len| b.get(core_len..core_len + 4))
            == Some(&count[..])
    };
    let body = body.filter(fits).unwrap_or_else(|| bundle.to_bytes());
    BundleRecord {
        task: task.0,
        pos,
        dp: bundle.core.signer.as_str().to_owned(),
        core_len: body.len() - shares_len,
        body,
        share_lens,
    }
}

/// The DP list as the `dp-list` event stores it ([`dsmpc_core::task::encode_listed_dps`]).
fn encode_dp_list(list: &[ListedDp]) -> Vec<u8> {
    let mut w = dsmpc_core::codec::Writer::new();
    dsmpc_core::task::encode_listed_dps(&mut w, list);
    w.into_bytes()
}

fn decode_dp_list(body: &[u8]) -> Result<Vec<ListedDp>, String> {
    let mut r = Reader::new(body);
    let list = dsmpc_core::task::decode_listed_dps(&mut r).map_err(|e| e.to_string())?;
    r.finish().map_err(|e| e.to_string())?;
    Ok(list)
}

/// A stored bundle's core and share, decoded.
fn to_delivery(stored: StoredShare, index: u32) -> Result<ShareDelivery, String> {
    let corrupt = |e: dsmpc_core::codec::CodecError| {
        format!("the store holds a bad bundle of {}: {e}", stored.dp)
    };
    Ok(ShareDelivery {
        core: decode_exact(&stored.core).map_err(corrupt)?,
        index,
        share: decode_exact(&stored.share).map_err(corrupt)?,
    })
}

/// Closes submissions (the last DP submitted, or the deadline passed); returns the ack of the
/// `close-submissions` event.
fn close_submissions(state: &mut State, id: &TaskId, now: u64) -> Ack {
    let ack = state.journal.record(Record::Append {
        task: id.0,
        kind: "close-submissions",
        body: now.to_le_bytes().to_vec(),
    });
    if let Some(m) = state.meta.get_mut(id) {
        m.phase = Phase::Verifying;
        m.verifying_since = now;
    }
    info!(task = %id, "submissions closed");
    ack
}

/// How far a front-end's replica of a task has read the store: the last event it applied and
/// how many bundles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Mark {
    seq: u64,
    bundles: u64,
}

/// Where a replayed report's complaints find the shares they judge: DP, CP index → the stored
/// share, if any.
type ShareSource<'a> = dyn FnMut(&str, u32) -> Result<Option<StoredShare>, String> + 'a;

/// The signed task in `spec`, with the DP list of its `dp-list` event among `events`.
fn restore_spec(spec: &[u8], events: &[Event]) -> Result<Signed<Task>, String> {
    let mut task: Signed<Task> = decode_exact(spec).map_err(|e| e.to_string())?;
    let list = events
        .iter()
        .find(|e| e.kind == "dp-list")
        .ok_or("its DP list is not in the store")?;
    task.body
        .attach_dp_list(decode_dp_list(&list.body)?)
        .map_err(|e| e.to_string())?;
    if events.iter().any(|e| e.kind == "bundle") {
        return Err(
            "its bundles were stored by an older dsmpc (in the event log, schema 1); \
                    it cannot be resumed"
                .into(),
        );
    }
    Ok(task)
}

/// Rebuilds one task from its signed spec, its events and its stored bundles; returns its
/// phase and how far it read.
fn replay(
    cloud: &mut Cloud,
    rng: &mut ChaCha20Rng,
    store: &mut CloudStore,
    gens: &GeneratorCache,
    id: TaskId,
    spec: &[u8],
) -> Result<(Meta, Mark), String> {
    let events = store.events(&id.0).map_err(|e| e.to_string())?;
    let task = restore_spec(spec, &events)?;
    cloud
        .restore_task(task.clone())
        .map_err(|e| e.to_string())?;
    let generators = gens.for_task(&task.body).map_err(|e| e.to_string())?;
    let cores = store.bundle_cores(&id.0).map_err(|e| e.to_string())?;
    let (mut meta, mut mark) = (Meta::new(), Mark::default());
    let mut shares =
        |dp: &str, index: u32| store.share_of(&id.0, dp, index).map_err(|e| e.to_string());
    let replica = Replica {
        cloud,
        rng,
        gens: generators.as_deref(),
        id,
    };
    replica.catch_up(&mut meta, &mut mark, events, cores, &mut shares)?;
    Ok((meta, mark))
}

/// One task of a [`Cloud`] being brought up to date with the store.
struct Replica<'a> {
    cloud: &'a mut Cloud,
    rng: &'a mut ChaCha20Rng,
    gens: Option<&'a dsmpc_core::crypto::pedersen::Generators>,
    id: TaskId,
}

impl Replica<'_> {
    /// Applies `events` and `cores` that follow `mark`: admissions first (bundles are taken
    /// only once the committee is complete), then the bundles in their order of arrival, then
    /// the other events (submissions close before any report is taken, and no bundle is taken
    /// after that). An event that does not apply is skipped with a warning, as in replay.
    fn catch_up(
        self,
        meta: &mut Meta,
        mark: &mut Mark,
        events: Vec<Event>,
        cores: Vec<StoredCore>,
        shares: &mut ShareSource<'_>,
    ) -> Result<(), String> {
        let id = self.id;
        let last = events.last().map(|e| e.seq);
        let (admissions, rest): (Vec<_>, Vec<_>) =
            events.into_iter().partition(|e| e.kind == "admission");
        for event in &admissions {
            match replay_admission(self.cloud, self.rng, &id, &event.body) {
                Ok(true) => meta.phase = meta.phase.max(Phase::Collecting),
                Ok(false) => {}
                Err(e) => warn!(task = %id, seq = event.seq, "admission did not replay: {e}"),
            }
        }
        for stored in cores {
            let restored = decode_exact::<Signed<BundleCore>>(&stored.core)
                .map_err(|e| e.to_string())
                .and_then(|core| {
                    self.cloud
                        .restore_bundle(&id, &core)
                        .map_err(|e| e.to_string())
                });
            match restored {
                Ok(arrival) if arrival == stored.pos => mark.bundles = arrival + 1,
                Ok(arrival) => {
                    return Err(format!(
                        "{}'s bundle is stored at position {} but replayed at {arrival}",
                        stored.dp, stored.pos
                    ));
                }
                Err(e) => return Err(format!("{}'s stored bundle did not replay: {e}", stored.dp)),
            }
        }
        for event in rest {
            let body = &event.body;
            let result = match event.kind.as_str() {
                "dp-list" => Ok(()),
                "close-submissions" => {
                    meta.phase = Phase::Verifying;
                    meta.verifying_since =
                        u64::from_le_bytes(body.as_slice().try_into().unwrap_or_default());
                    Ok(())
                }
                "report" => replay_report(self.cloud, shares, &id, body, self.gens),
                "input-set" => {
                    meta.phase = Phase::Aggregating;
                    self.cloud
                        .close_input_set(&id)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                other => Err(format!("unknown event kind {other:?}")),
            };
            if let Err(e) = result {
                warn!(task = %id, seq = event.seq, kind = %event.kind, "event did not replay: {e}");
            }
        }
        if let Some(last) = last {
            mark.seq = mark.seq.max(last);
        }
        Ok(())
    }
}

/// Replays one `report` event, judging its complaints against the stored shares again.
fn replay_report(
    cloud: &mut Cloud,
    shares: &mut ShareSource<'_>,
    id: &TaskId,
    body: &[u8],
    gens: Option<&dsmpc_core::crypto::pedersen::Generators>,
) -> Result<(), String> {
    let report = decode_exact::<Signed<VerificationReport>>(body).map_err(|e| e.to_string())?;
    let mut stored = Vec::new();
    for (dp, index) in Cloud::complained_about(&report.body) {
        if let Some(s) = shares(dp.as_str(), index)? {
            stored.push(to_delivery(s, index)?);
        }
    }
    cloud
        .accept_report_judging(id, report, gens, &stored)
        .map_err(|e| e.to_string())
}

/// Replays one `admission` event (the clock ‖ the signed request); returns whether it completed
/// the committee.
fn replay_admission(
    cloud: &mut Cloud,
    rng: &mut ChaCha20Rng,
    id: &TaskId,
    body: &[u8],
) -> Result<bool, String> {
    let mut r = Reader::new(body);
    let now = r.u64("clock").map_err(|e| e.to_string())?;
    let request = Signed::<AdmissionRequest>::decode(&mut r).map_err(|e| e.to_string())?;
    let admission = cloud
        .admit(id, &request, now, rng)
        .map_err(|e| e.to_string())?;
    Ok(admission.committee.is_some())
}

impl Handler for CloudServer {
    async fn handle(self: Arc<Self>, peer: IdentityCard, request: Request) -> Response {
        self.answer(peer, request, None).await
    }

    async fn handle_encoded(
        self: Arc<Self>,
        peer: IdentityCard,
        request: Request,
        encoded: Vec<u8>,
    ) -> Response {
        self.answer(peer, request, Some(encoded)).await
    }

    async fn handle_batch(
        self: Arc<Self>,
        peer: IdentityCard,
        mut requests: Vec<(Request, Vec<u8>)>,
    ) -> Vec<Response> {
        if requests.len() == 1 {
            let (request, encoded) = requests.remove(0);
            return vec![self.answer(peer, request, Some(encoded)).await];
        }
        self.answer_batch(peer, requests).await
    }
}

/// The answer of `reply` once what it depends on is durable; a refusal if the commit failed.
async fn settle((response, ack): Reply) -> Response {
    match ack.durable().await {
        Ok(()) => response,
        Err(e) => refused(e),
    }
}

/// One request of a batch on its way through [`CloudServer::answer_batch`].
enum Step {
    /// A bundle whose checks run with the batch's other bundles; then its verdict.
    Bundle {
        task: Arc<Signed<Task>>,
        body: Option<Vec<u8>>,
    },
    /// Any other request, dispatched in its turn (boxed: a request is much larger than a
    /// bundle step).
    Dispatch(Box<Request>, Vec<u8>),
}

impl CloudServer {
    /// Answers requests that arrived back to back on one connection exactly as one by one, in
    /// order, but checks their bundles' signatures in one batch before applying any (the checks
    /// need no state), and waits once for everything to be durable.
    async fn answer_batch(
        &self,
        peer: IdentityCard,
        requests: Vec<(Request, Vec<u8>)>,
    ) -> Vec<Response> {
        let mut steps = Vec::with_capacity(requests.len());
        let (mut tasks, mut bundles) = (Vec::new(), Vec::new());
        for (request, encoded) in requests {
            let Request::SubmitBundle(task, bundle) = request else {
                steps.push(Step::Dispatch(Box::new(request), encoded));
                continue;
            };
            match self.bundle_task(&peer, &task, &bundle) {
                Ok(signed) => {
                    let body = take_bundle_bytes(encoded);
                    tasks.push(signed.clone());
                    bundles.push(bundle);
                    steps.push(Step::Bundle { task: signed, body });
                }
                // Refused again in its turn, the way a lone request is.
                Err(_) => steps.push(Step::Dispatch(
                    Box::new(Request::SubmitBundle(task, bundle)),
                    encoded,
                )),
            }
        }
        let items = tasks.iter().map(|task| &**task).zip(bundles).collect();
        let mut verdicts = check_bundles(items, &mut fast_rng()).into_iter();
        let mut replies = Vec::with_capacity(steps.len());
        for step in steps {
            let reply = match step {
                Step::Bundle { task, body, .. } => match verdicts.next() {
                    Some(Ok(checked)) => self.apply_bundle(&task, checked, body).await,
                    Some(Err(e)) => refuse(e),
                    None => refuse("the cloud lost this bundle's verdict"),
                },
                Step::Dispatch(request, encoded) => {
                    self.dispatch(peer.clone(), *request, Some(encoded)).await
                }
            };
            replies.push(reply);
        }
        let mut answers = Vec::with_capacity(replies.len());
        for reply in replies {
            answers.push(settle(reply).await);
        }
        answers
    }

    /// Answers `request` (whose encoding, if given, a bundle is stored as) once what the answer
    /// depends on is durable.
    async fn answer(
        &self,
        peer: IdentityCard,
        request: Request,
        encoded: Option<Vec<u8>>,
    ) -> Response {
        settle(self.dispatch(peer, request, encoded).await).await
    }

    /// Answers `request`; the answer may be sent once the ack completes.
    async fn dispatch(
        &self,
        peer: IdentityCard,
        request: Request,
        encoded: Option<Vec<u8>>,
    ) -> Reply {
        if let Err(e) = self.refresh_for(&request).await {
            return refuse(e);
        }
        match request {
            Request::CreateTask(params) => self.create_task(&peer, params).await,
            Request::RegisterDps(cards) => self.register_dps(&peer, cards).await,
            Request::ListTasks => {
                self.read(|state| {
                    Response::TaskIds(state.cloud.tasks().map(|t| t.body.id).collect())
                })
                .await
            }
            Request::GetTask(task) => {
                self.read(|state| match state.cloud.task(&task) {
                    Ok(t) => Response::Task(t.header()),
                    Err(e) => refused(e),
                })
                .await
            }
            Request::Admit(task, req) => self.admit(task, req).await,
            Request::GetCommittee(task) => {
                self.read(|state| match state.cloud.committee(&task) {
                    Ok(c) => Response::Committee(c.cloned()),
                    Err(e) => refused(e),
                })
                .await
            }
            Request::CloseSubmissions(task) => self.close_now(&peer, task).await,
            Request::SubmitBundle(task, bundle) => {
                let body = encoded.and_then(take_bundle_bytes);
                self.submit_bundle(&peer, task, bundle, body).await
            }
            Request::GetDeliveries { task, index, after } => {
                self.deliveries(&peer.id, task, index, WorkerPart::WHOLE, after)
                    .await
            }
            Request::GetPartDeliveries {
                task,
                index,
                part,
                after,
            } => self.deliveries(&peer.id, task, index, part, after).await,
            Request::PutCpPart {
                task,
                index,
                part,
                sealed,
            } => self.put_cp_part(&peer.id, task, index, part, sealed).await,
            Request::GetCpPart { task, index, part } => {
                self.cp_part(&peer.id, task, index, part).await
            }
            Request::GetDelivery { task, dp, index } => {
                self.delivery(&peer.id, task, dp, index).await
            }
            Request::Report(task, report) => self.report(task, report).await,
            Request::GetStatus(task) => self.read(|state| Self::status(state, task)).await,
            Request::GetSummaries { task, from } => self.summaries(task, from).await,
            Request::GetDpEntry { task, dp } => self.dp_entry(task, &dp),
            Request::GetDpList { task, from } => self.dp_list(task, from),
            Request::Await { millis, until } => self.await_news(&until, millis).await,
            Request::SubmitResultShare(..) | Request::GetResult(_) => {
                refuse("result shares and results are served by the edge")
            }
        }
    }

    /// On a shared database, catches up what `request` reads where a stale answer would
    /// mislead: a CP's cursor, a committee, a status, a task this front-end has not seen.
    async fn refresh_for(&self, request: &Request) -> Result<(), String> {
        if self.shared.is_none() {
            return Ok(());
        }
        match request {
            Request::ListTasks => self.refresh(None).await,
            Request::GetCommittee(task)
            | Request::GetStatus(task)
            | Request::GetDeliveries { task, .. }
            | Request::GetPartDeliveries { task, .. }
            | Request::GetDelivery { task, .. }
            | Request::GetSummaries { task, .. } => self.refresh(Some(*task)).await,
            Request::GetTask(task)
            | Request::GetDpEntry { task, .. }
            | Request::GetDpList { task, .. }
                if self.task(task).is_none() =>
            {
                self.refresh(Some(*task)).await
            }
            _ => Ok(()),
        }
    }

    /// A page of CP `index`'s deliveries after DP `after`, read from the store outside the state
    /// lock (the store holds only committed bundles, so nothing in it can be taken back).
    async fn deliveries(
        &self,
        peer: &PartyId,
        task: TaskId,
        index: u32,
        part: WorkerPart,
        after: Option<PartyId>,
    ) -> Reply {
        let start = {
            let state = self.state.lock().await;
            if let Err(e) = state.journal.check() {
                return refuse(e);
            }
            if !self.may_read_index(&state, peer, &task, index) {
                return refuse(format!("{peer} is not CP {index} of the task"));
            }
            let start = match after
                .map(|dp| state.cloud.arrival_of(&task, &dp))
                .transpose()
            {
                Ok(start) => start.flatten(),
                Err(e) => return refuse(e),
            };
            // Nothing arrived after `start`: a CP's poll costs no read of the store.
            let arrived = state.cloud.bundle_count(&task).unwrap_or_default() as u64;
            if start.map_or(arrived == 0, |s| s + 1 >= arrived) {
                return (Response::Deliveries(Vec::new()), Ack::none());
            }
            start
        };
        let read = self
            .readers
            .read(move |store| {
                store.part_shares_after(&task.0, index, part, start, MAX_PAGE as usize, PAGE_BYTES)
            })
            .await;
        let deliveries = read.and_then(|page| {
            page.into_iter()
                .map(|stored| to_delivery(stored, index))
                .collect::<Result<Vec<_>, _>>()
        });
        match deliveries {
            Ok(d) => (Response::Deliveries(d), Ack::none()),
            Err(e) => refuse(e),
        }
    }

    /// Keeps a CP worker's sealed part for its lead: only the CP at `index` may hand one in.
    async fn put_cp_part(
        &self,
        peer: &PartyId,
        task: TaskId,
        index: u32,
        part: WorkerPart,
        sealed: Vec<u8>,
    ) -> Reply {
        if let Err(refusal) = self.check_cp(peer, &task, index).await {
            return refusal;
        }
        let location = self.location.clone();
        let stored = tokio::task::spawn_blocking(move || {
            location
                .open()
                .and_then(|mut store| store.put_cp_part(&task.0, index, part, &sealed))
        })
        .await;
        match stored {
            Ok(Ok(())) => {
                info!(task = %task, index, %part, "a CP worker handed in its part");
                (Response::Ok, Ack::none())
            }
            Ok(Err(e)) => refuse(format!("{UNAVAILABLE}{e}")),
            Err(e) => refuse(format!("storing the part failed: {e}")),
        }
    }

    /// A CP worker's sealed part, for the CP at `index` only.
    async fn cp_part(&self, peer: &PartyId, task: TaskId, index: u32, part: WorkerPart) -> Reply {
        if let Err(refusal) = self.check_cp(peer, &task, index).await {
            return refusal;
        }
        match self
            .readers
            .read(move |store| store.cp_part(&task.0, index, part))
            .await
        {
            Ok(found) => (Response::CpPart(found), Ack::none()),
            Err(e) => refuse(e),
        }
    }

    /// `Err` with the refusal unless `peer` is CP `index` of `task`.
    async fn check_cp(&self, peer: &PartyId, task: &TaskId, index: u32) -> Result<(), Reply> {
        let state = self.state.lock().await;
        if self.may_read_index(&state, peer, task, index) && peer != self.identity.id() {
            return Ok(());
        }
        Err(refuse(format!("{peer} is not CP {index} of the task")))
    }

    /// DP `dp`'s delivery for CP `index`, from the store.
    async fn delivery(&self, peer: &PartyId, task: TaskId, dp: PartyId, index: u32) -> Reply {
        {
            let state = self.state.lock().await;
            if !self.may_read_index(&state, peer, &task, index) {
                return refuse(format!("{peer} is not CP {index} of the task"));
            }
        }
        match self.stored_deliveries(task, vec![(dp, index)]).await {
            Ok(mut found) => (Response::Delivery(found.pop()), Ack::none()),
            Err(e) => refuse(e),
        }
    }

    /// The stored deliveries `wanted` (DP, CP index) that exist, from the store.
    async fn stored_deliveries(
        &self,
        task: TaskId,
        wanted: Vec<(PartyId, u32)>,
    ) -> Result<Vec<ShareDelivery>, String> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        self.readers
            .read(move |store| {
                let mut found = Vec::new();
                for (dp, index) in wanted {
                    if let Some(stored) = store.share_of(&task.0, dp.as_str(), index)? {
                        found.push((stored, index));
                    }
                }
                Ok(found)
            })
            .await?
            .into_iter()
            .map(|(stored, index)| to_delivery(stored, index))
            .collect()
    }

    /// The signed cores of the input set's DPs from position `from` on (at most
    /// [`SUMMARY_PAGE`]), from the store.
    async fn summaries(&self, task: TaskId, from: u32) -> Reply {
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let page: Vec<PartyId> = {
            let state = self.state.lock().await;
            match (state.cloud.input_set(&task), state.cloud.task(&task)) {
                (Ok(Some(set)), Ok(listed)) => set
                    .body
                    .included
                    .iter_skipping(from as u64)
                    .take(SUMMARY_PAGE)
                    .filter_map(|i| listed.body.listed_id(i).cloned())
                    .collect(),
                (Ok(None), _) => {
                    return refuse(format!("the input set of task {task} is not closed"));
                }
                (Err(e), _) | (_, Err(e)) => return refuse(e),
            }
        };
        let cores = self
            .readers
            .read(move |store| {
                let names: Vec<&str> = page.iter().map(PartyId::as_str).collect();
                store.cores_of(&task.0, &names)
            })
            .await;
        let summaries = cores.and_then(|cores| {
            cores
                .into_iter()
                .flatten()
                .map(|core| {
                    decode_exact::<Signed<BundleCore>>(&core)
                        .map_err(|e| format!("the store holds a bad bundle core: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
        });
        match summaries {
            Ok(s) => (Response::Summaries(s), Ack::none()),
            Err(e) => refuse(e),
        }
    }

    /// `dp`'s entry in `task`'s DP list with its Merkle proof (no lock: tasks and their trees
    /// never change once made).
    fn dp_entry(&self, task: TaskId, dp: &PartyId) -> Reply {
        let tree = self
            .trees
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&task)
            .cloned();
        match (self.task(&task), tree) {
            (Some(signed), Some(tree)) => (
                Response::DpEntry(signed.body.entry_in(&tree, dp)),
                Ack::none(),
            ),
            _ => refuse(format!("unknown task {task}")),
        }
    }

    /// A page of `task`'s DP list from position `from` on.
    fn dp_list(&self, task: TaskId, from: u64) -> Reply {
        let Some(signed) = self.task(&task) else {
            return refuse(format!("unknown task {task}"));
        };
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let page = signed.body.listed_dps(from, DP_LIST_PAGE);
        (Response::DpList(page), Ack::none())
    }

    /// Deliveries are sealed to their CP, but only that CP (or the cloud itself) may fetch them.
    fn may_read_index(&self, state: &State, peer: &PartyId, task: &TaskId, index: u32) -> bool {
        if peer == self.identity.id() {
            return true;
        }
        let is_member = state
            .cloud
            .committee(task)
            .ok()
            .flatten()
            .is_some_and(|c| c.body.index_of(peer) == Some(index));
        is_member && self.roster.expect(peer, Role::Cp).is_ok()
    }
}
