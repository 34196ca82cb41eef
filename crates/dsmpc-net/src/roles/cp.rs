//! The CP worker: watches the cloud for tasks, asks to join their committees (Algorithm 1), pulls
//! and verifies its share deliveries in pages, reports, and sends its result share to the edge.
//!
//! Connections are re-established with backoff, so a restarting cloud or edge only delays it.
//! With a state store ([`CpWorker::with_state`]) the worker survives its own `kill -9`: it saves
//! each task's state (sealed to itself) as it goes — at most every [`SAVE_EVERY`] while it
//! folds deliveries (including when it has caught up and waits for more), once submissions are
//! closed and drained, once reported, and once the edge took its result share — and a
//! restarted worker resumes each task where the saved state left it (skipping finished ones)
//! instead of pulling and verifying every delivery again.
//! Waits for news (a new task, the committee, submissions closing, the input set) are
//! [`Request::Await`]s, which the cloud answers the moment the news is there; each runs on a
//! connection of its own ([`Link::twin`]), so it holds up no other request.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsmpc_core::crypto::pedersen::Generators;
use dsmpc_core::field::Field;
use dsmpc_core::identity::{PartyId, Roster, SecretIdentity};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cp::{CpTask, Rejection, WorkerPart, admission_request, read_grant};
use dsmpc_core::round1::Committee;
use dsmpc_core::round2::ShareDelivery;
use dsmpc_core::round3::{InputSet, VerificationReport};
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Task, TaskId};
use dsmpc_core::with_field;
use tracing::{info, warn};

use super::{GeneratorCache, unix_now};
use crate::client::{Link, NetError};
use crate::flow::FlowLog;
use crate::rpc::{Phase, Request, Response, Status, Until};
use crate::store::{CpStage, CpTaskState, Store};

/// While it folds deliveries, a worker with a state store saves a task's state at most this
/// often (sealing and writing the state takes milliseconds to a second, growing with the DPs
/// accepted): a crash loses at most this much folding, which a restart pulls again.
pub const SAVE_EVERY: Duration = Duration::from_secs(2);

/// A worker's state store, shared with its blocking writes.
type StateStore = Arc<std::sync::Mutex<Store>>;

/// A CP's long-running worker.
pub struct CpWorker {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    cloud: Arc<Link>,
    edge: Arc<Link>,
    gens: GeneratorCache,
    flow: FlowLog,
    /// While submissions are open and no new deliveries are there, how long to wait (for
    /// submissions to close) before asking for deliveries again: new ones then come as one page.
    pub poll: Duration,
    /// The longest wait for a new task before asking the cloud again (it answers at once when a
    /// task is created, so this only bounds how often a quiet cloud is asked: 10 s by default).
    pub discover: Duration,
    /// How long to wait for any one step of a task.
    pub step_timeout: Duration,
    /// Fault injection for simulations: send a wrong result share.
    pub wrong_result: bool,
    /// Fault injection for simulations: wait this long before reporting, as a CP still working
    /// through a backlog would.
    pub report_delay: Duration,
    /// Which part of each task's deliveries this worker folds: all of them, or — a CP that runs
    /// as several workers — one part. Worker 1 leads: it gathers the others' parts, reports and
    /// sends the result share; the others hand their part in through the cloud.
    pub part: WorkerPart,
    /// How long the lead waits for another worker's part once submissions closed and its own
    /// part is folded, before it folds that part itself (the worker died or lags).
    pub part_wait: Duration,
    stopped: std::sync::atomic::AtomicBool,
    state: Option<StateStore>,
}

impl CpWorker {
    /// A worker for `identity`, talking to the cloud and edge over these links.
    pub fn new(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        cloud: Arc<Link>,
        edge: Arc<Link>,
        flow: FlowLog,
    ) -> CpWorker {
        CpWorker {
            identity,
            roster,
            cloud,
            edge,
            gens: GeneratorCache::default(),
            flow,
            poll: Duration::from_millis(100),
            discover: crate::rpc::MAX_AWAIT,
            step_timeout: Duration::from_secs(600),
            wrong_result: false,
            report_delay: Duration::ZERO,
            part: WorkerPart::WHOLE,
            part_wait: Duration::from_secs(5),
            stopped: std::sync::atomic::AtomicBool::new(false),
            state: None,
        }
    }

    /// Keeps each task's state in `store`, so that the worker resumes its tasks after a crash.
    pub fn with_state(mut self, store: Store) -> CpWorker {
        self.state = Some(Arc::new(std::sync::Mutex::new(store)));
        self
    }

    /// The saved record of task `id`, if this worker keeps state and saved any.
    async fn record(&self, id: TaskId) -> Result<Option<CpTaskState>, NetError> {
        let Some(store) = self.state.clone() else {
            return Ok(None);
        };
        Ok(on_blocking(move || lock(&store).cp_task(&id.0)).await??)
    }

    /// Saves `cp`'s state of task `id` at `stage`, resuming after `cursor`; returns `cp`.
    async fn save<F: Field>(
        &self,
        id: TaskId,
        mut cp: CpTask<F>,
        stage: CpStage,
        cursor: Option<PartyId>,
    ) -> Result<CpTask<F>, NetError> {
        let Some(store) = self.state.clone() else {
            return Ok(cp);
        };
        let (cp, saved) = on_blocking(move || {
            let record = CpTaskState {
                stage,
                cursor: cursor.map(|c| c.as_str().to_owned()),
                sealed: Some(cp.seal_state(&mut fast_rng())),
            };
            let saved = lock(&store).put_cp_task(&id.0, &record);
            (cp, saved)
        })
        .await?;
        saved?;
        Ok(cp)
    }

    /// Records that task `id` is done: its state is dropped and a restart skips it.
    async fn save_done(&self, id: TaskId) -> Result<(), NetError> {
        let Some(store) = self.state.clone() else {
            return Ok(());
        };
        let done = CpTaskState {
            stage: CpStage::Done,
            cursor: None,
            sealed: None,
        };
        Ok(on_blocking(move || lock(&store).put_cp_task(&id.0, &done)).await??)
    }

    /// Makes the worker stop talking to anyone, as if its process died (for simulations).
    pub fn stop(&self) {
        self.stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn check_alive(&self) -> Result<(), NetError> {
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(NetError::Closed {
                peer: self.identity.id().clone(),
            });
        }
        Ok(())
    }

    /// Watches for new tasks until `shutdown` completes.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let mut seen = BTreeSet::new();
        let mut known = 0;
        let mut watch = self.cloud.twin();
        tokio::pin!(shutdown);
        while self.check_alive().is_ok() {
            let listed = tokio::select! {
                listed = super::await_tasks(&watch, known, self.discover) => listed,
                () = &mut shutdown => break,
            };
            match listed {
                Ok(ids) => {
                    known = ids.len();
                    for id in ids {
                        if seen.contains(&id) {
                            continue;
                        }
                        match super::fetch_task_with_list(&watch, id).await {
                            Ok(task) => {
                                seen.insert(id);
                                // The connection that found the task is open: the task's
                                // requests go on it at once, and the watch opens another.
                                let link = std::mem::replace(&mut watch, self.cloud.twin());
                                let worker = self.clone();
                                tokio::spawn(async move { worker.drive(task, link).await });
                            }
                            Err(e) => warn!(task = %id, "cannot fetch the task: {e}"),
                        }
                    }
                }
                Err(e) => {
                    warn!("cannot list tasks: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(self.discover) => {},
                        () = &mut shutdown => break,
                    }
                }
            }
        }
    }

    /// Joins `task` and works through its rounds, waiting for news (and joining) over `waits`.
    async fn drive(self: Arc<Self>, task: Signed<Task>, waits: Link) {
        let id = task.body.id;
        let record = match self.record(id).await {
            Ok(Some(r)) if r.stage == CpStage::Done => return,
            Ok(record) => record,
            Err(e) => {
                warn!(task = %id, "cannot read the saved state: {e}");
                return;
            }
        };
        let joined = match self.part.leads() {
            true => self.join(&task, &waits).await,
            // The lead asks to join; the other workers find the CP's index in the committee.
            false => self
                .committee(&waits, id)
                .await
                .map(|c| c.body.index_of(self.identity.id())),
        };
        match joined {
            Ok(Some(index)) => info!(task = %id, index, part = %self.part, "admitted"),
            Ok(None) => return,
            Err(e) => {
                warn!(task = %id, "not admitted: {e}");
                return;
            }
        }
        let outcome =
            with_field!(task.body.field(), F => self.work::<F>(task, record, &waits).await);
        match outcome {
            Ok(()) if !self.part.leads() => info!(task = %id, part = %self.part, "part handed in"),
            Ok(()) => info!(task = %id, "result share sent"),
            Err(e) => warn!(task = %id, "gave up on the task: {e}"),
        }
    }

    /// Algorithm 1; `None` when the committee is already complete without this CP.
    async fn join(&self, task: &Signed<Task>, cloud: &Link) -> Result<Option<u32>, NetError> {
        let id = task.body.id;
        if let Response::Committee(Some(c)) = cloud.call(&Request::GetCommittee(id)).await? {
            return Ok(c.body.index_of(self.identity.id()));
        }
        let request = admission_request(
            &self.identity,
            &self.roster,
            &id,
            unix_now(),
            &mut fast_rng(),
        );
        match cloud.call(&Request::Admit(id, request)).await {
            Ok(Response::Grant(grant)) => {
                Ok(Some(read_grant(&self.identity, &self.roster, &id, &grant)?))
            }
            Ok(other) => Err(NetError::Unexpected {
                peer: cloud.peer().clone(),
                request: "admission-request",
                got: other.kind(),
            }),
            // Refused because the committee filled up without this CP: not an error.
            Err(e @ NetError::Refused { .. }) => {
                match cloud.call(&Request::GetCommittee(id)).await? {
                    Response::Committee(Some(c)) => Ok(c.body.index_of(self.identity.id())),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn committee(&self, waits: &Link, id: TaskId) -> Result<Signed<Committee>, NetError> {
        waits
            .wait_for(
                Until::Committee(id),
                "the committee",
                self.step_timeout,
                |r| {
                    Ok(match r {
                        Response::Committee(c) => c,
                        _ => None,
                    })
                },
            )
            .await
    }

    /// The task's rounds, waiting for news over `waits`.
    async fn work<F: Field>(
        &self,
        task: Signed<Task>,
        record: Option<CpTaskState>,
        waits: &Link,
    ) -> Result<(), NetError> {
        let id = task.body.id;
        // Submissions may stay open until the task's deadline, however long that is.
        let closes_at = task.body.params.submission_deadline;
        let committee = self.committee(waits, id).await?;
        let gens = self.gens.for_task(&task.body)?;
        let (mut cp, stage, cursor) = self.start_or_resume::<F>(task, &committee, record)?;
        if stage == CpStage::Receiving {
            let started = Instant::now();
            cp = self
                .receive_all(
                    cp,
                    id,
                    cursor,
                    gens.clone(),
                    waits,
                    (self.part, closes_at),
                    true,
                )
                .await?;
            if !self.part.leads() {
                return self.hand_in(id, cp).await;
            }
            cp = self.gather_parts(cp, id, gens.clone(), waits).await?;
            self.flow.phase(
                Some(id),
                "cp",
                "decrypt+verify+aggregate",
                started.elapsed(),
            );
            tokio::time::sleep(self.report_delay).await;
            self.report(id, cp.report()).await?;
            cp = self.save(id, cp, CpStage::Reported, None).await?;
        }
        let input_set = self.input_set(waits, id).await?;
        let mut redeliveries = Vec::new();
        for dp in cp.needs_redelivery(&input_set.body) {
            let request = Request::GetDelivery {
                task: id,
                dp,
                index: cp.index(),
            };
            if let Response::Delivery(Some(d)) = self.cloud.call(&request).await? {
                redeliveries.push(d);
            }
        }
        let mut payload = cp.finish(&input_set, &redeliveries, gens.as_deref())?;
        if self.wrong_result {
            payload.sum.as_mut_slice()[0] += F::ONE;
        }
        self.check_alive()?;
        let share = cp.seal_result(&payload, &mut fast_rng());
        match self.edge.call(&Request::SubmitResultShare(id, share)).await {
            Ok(_) => {}
            // The edge has decided about this CP's share (a share sent before a crash was
            // taken, or the task is over): sending it again changes nothing.
            Err(NetError::Refused { reason, .. }) => {
                warn!(task = %id, "the edge refused the result share: {reason}")
            }
            Err(e) => return Err(e),
        }
        self.save_done(id).await
    }

    /// A new [`CpTask`] for `task`, or the one `record` saved before a crash, with its stage and
    /// the DP after which deliveries are still to be pulled.
    fn start_or_resume<F: Field>(
        &self,
        task: Signed<Task>,
        committee: &Signed<Committee>,
        record: Option<CpTaskState>,
    ) -> Result<(CpTask<F>, CpStage, Option<PartyId>), NetError> {
        let id = task.body.id;
        let (identity, roster) = (self.identity.clone(), self.roster.clone());
        let Some(CpTaskState {
            stage,
            cursor,
            sealed: Some(sealed),
        }) = record
        else {
            return Ok((
                CpTask::new(identity, roster, task, committee)?,
                CpStage::Receiving,
                None,
            ));
        };
        let cp = CpTask::resume(identity, roster, task, committee, &sealed)?;
        let cursor = cursor.as_deref().map(PartyId::new).transpose()?;
        info!(
            task = %id,
            %stage,
            accepted = cp.accepted().count(),
            "resumed from the saved state"
        );
        Ok((cp, stage, cursor))
    }

    /// A worker that is not the lead: seals what it folded to the CP itself and hands it in
    /// through the cloud, for the lead to absorb.
    async fn hand_in<F: Field>(&self, id: TaskId, cp: CpTask<F>) -> Result<(), NetError> {
        let part = self.part;
        let index = cp.index();
        let (_, sealed) = on_blocking(move || {
            let mut cp = cp;
            let sealed = cp.seal_part(part, &mut fast_rng());
            (cp, sealed)
        })
        .await?;
        self.check_alive()?;
        let request = Request::PutCpPart {
            task: id,
            index,
            part,
            sealed,
        };
        self.cloud.call(&request).await?;
        self.save_done(id).await
    }

    /// The lead: adds every other worker's part to `cp`. A part not handed in within
    /// [`CpWorker::part_wait`] (or that does not open, or overlaps) is folded by the lead itself
    /// from the cloud's deliveries, so a worker's death costs time, not the task.
    async fn gather_parts<F: Field>(
        &self,
        mut cp: CpTask<F>,
        id: TaskId,
        gens: Option<Arc<Generators>>,
        waits: &Link,
    ) -> Result<CpTask<F>, NetError> {
        let workers = self.part.workers;
        for worker in 2..=workers {
            let Some(part) = WorkerPart::new(worker, workers) else {
                continue;
            };
            let waited = Instant::now();
            loop {
                self.check_alive()?;
                let request = Request::GetCpPart {
                    task: id,
                    index: cp.index(),
                    part,
                };
                if let Response::CpPart(Some(sealed)) = self.cloud.call(&request).await? {
                    let absorbed;
                    (cp, absorbed) = on_blocking(move || {
                        let absorbed = cp.absorb_part(part, &sealed);
                        (cp, absorbed)
                    })
                    .await?;
                    match absorbed {
                        Ok(()) => {
                            info!(task = %id, %part, "absorbed a worker's part");
                            break;
                        }
                        Err(e) => warn!(task = %id, %part, "a worker's part was refused: {e}"),
                    }
                } else if waited.elapsed() < self.part_wait {
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
                warn!(task = %id, %part, "folding the part of a worker that did not hand it in");
                cp = self
                    .receive_all(cp, id, None, gens.clone(), waits, (part, 0), false)
                    .await?;
                break;
            }
        }
        Ok(cp)
    }

    /// Pulls deliveries of `part` page by page, from the one after `after`, until submissions
    /// are closed and every page is drained; with `save`, saves the state at most every
    /// [`SAVE_EVERY`] and once drained (a lead folding another worker's part does not: its
    /// saved cursor is its own part's). It gives up waiting for submissions to close only once
    /// both the step timeout and the step timeout after `closes_at` (the task's submission
    /// deadline, Unix seconds) have passed.
    #[allow(clippy::too_many_arguments)]
    async fn receive_all<F: Field>(
        &self,
        mut cp: CpTask<F>,
        id: TaskId,
        mut after: Option<PartyId>,
        gens: Option<Arc<Generators>>,
        waits: &Link,
        (part, closes_at): (WorkerPart, u64),
        save: bool,
    ) -> Result<CpTask<F>, NetError> {
        let start = Instant::now();
        let mut closed = false;
        let mut saved_at = Instant::now();
        let mut unsaved = false;
        loop {
            self.check_alive()?;
            let request = match part {
                WorkerPart::WHOLE => Request::GetDeliveries {
                    task: id,
                    index: cp.index(),
                    after: after.clone(),
                },
                part => Request::GetPartDeliveries {
                    task: id,
                    index: cp.index(),
                    part,
                    after: after.clone(),
                },
            };
            let Response::Deliveries(page) = self.cloud.call(&request).await? else {
                return Err(NetError::Unexpected {
                    peer: self.cloud.peer().clone(),
                    request: "get-deliveries",
                    got: "other",
                });
            };
            if let Some(last) = page.last() {
                after = Some(last.core.signer.clone());
                let rejections;
                (cp, rejections) = receive_page(cp, page, gens.clone()).await?;
                for r in rejections {
                    warn!(task = %id, dp = %r.dp, "refused a delivery: {}", r.error);
                }
                unsaved = save;
                if save && saved_at.elapsed() >= SAVE_EVERY {
                    cp = self.save(id, cp, CpStage::Receiving, after.clone()).await?;
                    (saved_at, unsaved) = (Instant::now(), false);
                }
                continue;
            }
            // Caught up. Saving seals and writes the whole state, which grows with the DPs
            // accepted, so it is not done on every catch-up — with DPs trickling in, a worker
            // catches up after nearly every page, and saving each time made a task of N DPs
            // cost O(N²) (83% of a CP worker's CPU at 3·10^4 DPs). It saves once
            // SAVE_EVERY has passed since the last save, and once submissions are closed.
            if unsaved && (closed || saved_at.elapsed() >= SAVE_EVERY) {
                cp = self.save(id, cp, CpStage::Receiving, after.clone()).await?;
                (saved_at, unsaved) = (Instant::now(), false);
                info!(task = %id, accepted = cp.accepted().count(), "state saved");
            }
            if closed {
                return Ok(cp);
            }
            // Nothing new: wait up to `poll` for submissions to close, then ask again (what came
            // meanwhile is one page). Once they are closed, one more page drains the rest.
            let until = Until::Phase(id, Phase::Verifying);
            if let Response::Status(s) = waits.wait_once(until, self.poll).await? {
                closed = s.phase >= Phase::Verifying;
            }
            let past_deadline = unix_now() > closes_at.saturating_add(self.step_timeout.as_secs());
            if !closed && start.elapsed() > self.step_timeout && past_deadline {
                return Err(NetError::Timeout {
                    what: "submissions to close".into(),
                    seconds: self.step_timeout.as_secs(),
                });
            }
        }
    }

    /// Sends this CP's verification report. A report that arrives after the cloud fixed the input
    /// set (its report deadline passed while this CP was still verifying a backlog) is refused,
    /// but the input set, not the report, decides which DPs the result covers: a late CP still
    /// aligns its aggregate with it and sends its result share, so a slow committee does not
    /// leave the edge short of shares. Only its complaints are lost, and it logs that.
    async fn report(&self, id: TaskId, report: Signed<VerificationReport>) -> Result<(), NetError> {
        let complaints = report.body.complaints.len();
        match self.cloud.call(&Request::Report(id, report)).await {
            Ok(_) => Ok(()),
            Err(refused @ NetError::Refused { .. }) => {
                let closed = matches!(
                    self.cloud.call(&Request::GetStatus(id)).await?,
                    Response::Status(Status {
                        input_set: Some(_),
                        ..
                    })
                );
                if !closed {
                    return Err(refused);
                }
                warn!(
                    task = %id,
                    complaints,
                    "the input set was fixed before this CP reported; going on to the result share"
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn input_set(&self, waits: &Link, id: TaskId) -> Result<Signed<InputSet>, NetError> {
        waits
            .wait_for(
                Until::Phase(id, Phase::Aggregating),
                "the input set",
                self.step_timeout,
                |r| {
                    Ok(match r {
                        Response::Status(s) => s.input_set,
                        _ => None,
                    })
                },
            )
            .await
    }
}

/// Runs [`CpTask::receive`] on one page on tokio's blocking pool: it is CPU-bound (milliseconds to
/// seconds) and spreads over rayon's threads, and must not hold up this runtime's workers, which
/// in a simulation also serve the cloud and the edge. The page is dropped as soon as it is read.
async fn receive_page<F: Field>(
    mut cp: CpTask<F>,
    page: Vec<ShareDelivery>,
    gens: Option<Arc<Generators>>,
) -> Result<(CpTask<F>, Vec<Rejection>), NetError> {
    on_blocking(move || {
        let rejections = cp.receive(&page, gens.as_deref(), &mut fast_rng());
        drop(page);
        (cp, rejections)
    })
    .await
}

/// Runs `work` on tokio's blocking pool (share verification, sealing and saving state).
async fn on_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => Ok(done),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(NetError::Timeout {
            what: "the CP's work (the runtime is shutting down)".into(),
            seconds: 0,
        }),
    }
}

/// The state store, even if a thread panicked while holding it (each write is one transaction,
/// so the database is never half-written).
fn lock(store: &StateStore) -> std::sync::MutexGuard<'_, Store> {
    store
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
