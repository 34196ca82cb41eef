//! The cloud server: the core [`Cloud`] state machine behind a Noise listener, with every accepted
//! message committed to SQLite before it is acknowledged, and replayed after a restart.
//!
//! Events per task, in order: `admission` (the cloud's clock ‖ the signed request), `bundle`,
//! `close-submissions` (clock), `report`, `input-set`. Replaying them through a fresh [`Cloud`]
//! rebuilds the same state: committee, bundles, complaints' verdicts and the (deterministically
//! signed) input set.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dsmpc_core::codec::{Decode, Encode, Reader, decode_exact};
use dsmpc_core::identity::{IdentityCard, PartyId, Role, Roster, SecretIdentity};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cloud::{Cloud, DEFAULT_ADMISSION_WINDOW};
use dsmpc_core::round1::AdmissionRequest;
use dsmpc_core::round2::{Bundle, ShareDelivery};
use dsmpc_core::round3::VerificationReport;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Task, TaskId, TaskParams};
use rand::rngs::ChaCha20Rng;
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::{GeneratorCache, unix_now};
use crate::flow::FlowLog;
use crate::rpc::{MAX_PAGE, PAGE_BYTES, Phase, Request, Response, Status};
use crate::server::Handler;
use crate::store::{Store, StoreError, TaskStatus};

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

struct Meta {
    phase: Phase,
    verifying_since: u64,
}

struct State {
    cloud: Cloud,
    store: Store,
    meta: BTreeMap<TaskId, Meta>,
    rng: ChaCha20Rng,
}

/// The cloud server.
pub struct CloudServer {
    state: Mutex<State>,
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    config: CloudConfig,
    gens: GeneratorCache,
    flow: FlowLog,
}

fn refused(e: impl std::fmt::Display) -> Response {
    Response::Refused(e.to_string())
}

impl CloudServer {
    /// Opens the store at `path` and replays every task in it.
    pub fn open(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        path: &Path,
        config: CloudConfig,
        flow: FlowLog,
    ) -> Result<CloudServer, StoreError> {
        let store = Store::open(path)?;
        let cloud = Cloud::new(identity.clone(), roster.clone(), DEFAULT_ADMISSION_WINDOW);
        let mut state = State {
            cloud,
            store,
            meta: BTreeMap::new(),
            rng: fast_rng(),
        };
        let server_gens = GeneratorCache::default();
        for (id, status, spec) in state.store.tasks(None)? {
            if status == TaskStatus::Failed {
                continue;
            }
            if let Err(e) = replay(&mut state, &server_gens, TaskId(id), &spec) {
                warn!(task = %TaskId(id), "could not restore the task: {e}");
            }
        }
        info!(tasks = state.meta.len(), "cloud state restored");
        Ok(CloudServer {
            state: Mutex::new(state),
            identity,
            roster,
            config,
            gens: server_gens,
            flow,
        })
    }

    /// Serves `listener` and applies deadlines every `tick` (see [`CloudServer::tick`]) until
    /// `shutdown` completes.
    pub async fn serve_until(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        context: crate::server::ServerContext,
        tick: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let ticker = self.clone();
        let ticking = tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                ticker.tick().await;
            }
        });
        crate::server::serve(listener, context, self, shutdown).await;
        ticking.abort();
    }

    /// Closes submissions and input sets whose deadlines have passed; call periodically.
    pub async fn tick(&self) {
        let now = unix_now();
        let mut state = self.state.lock().await;
        let due: Vec<(TaskId, Phase)> = state
            .meta
            .iter()
            .filter(|(id, m)| match m.phase {
                Phase::Collecting => state
                    .cloud
                    .task(id)
                    .is_ok_and(|t| now >= t.body.params.submission_deadline),
                Phase::Verifying => now >= m.verifying_since + self.config.report_timeout.as_secs(),
                _ => false,
            })
            .map(|(id, m)| (*id, m.phase))
            .collect();
        for (id, phase) in due {
            let outcome = match phase {
                Phase::Collecting => close_submissions(&mut state, &id, now),
                _ => self.close_input_set(&mut state, &id),
            };
            if let Err(e) = outcome {
                warn!(task = %id, "could not advance the task: {e}");
            }
        }
    }

    fn close_input_set(&self, state: &mut State, id: &TaskId) -> Result<(), String> {
        let started = std::time::Instant::now();
        let input_set = state.cloud.close_input_set(id).map_err(|e| e.to_string())?;
        state
            .store
            .append(&id.0, "input-set", &input_set.to_bytes())
            .map_err(|e| e.to_string())?;
        state
            .store
            .set_status(&id.0, TaskStatus::Closed)
            .map_err(|e| e.to_string())?;
        if let Some(m) = state.meta.get_mut(id) {
            m.phase = Phase::Aggregating;
        }
        self.flow
            .phase(Some(*id), "cloud", "input-set", started.elapsed());
        info!(task = %id, included = input_set.body.included.len(), "input set closed");
        Ok(())
    }

    async fn create_task(&self, peer: &IdentityCard, params: TaskParams) -> Response {
        if peer.id != *self.identity.id() {
            return refused("only the cloud operator (holding the cloud's key) may create tasks");
        }
        let mut state = self.state.lock().await;
        let state = &mut *state;
        let task = match state.cloud.create_task(params, &mut state.rng) {
            Ok(t) => t,
            Err(e) => return refused(e),
        };
        if let Err(e) = state.store.create_task(&task.body.id.0, &task.to_bytes()) {
            return refused(e);
        }
        state.meta.insert(
            task.body.id,
            Meta {
                phase: Phase::Admitting,
                verifying_since: 0,
            },
        );
        info!(task = %task.body.id, function = %task.body.params.function, "task created");
        Response::Task(task)
    }

    async fn admit(&self, task: TaskId, request: Signed<AdmissionRequest>) -> Response {
        let now = unix_now();
        let mut state = self.state.lock().await;
        let state = &mut *state;
        let admission = match state.cloud.admit(&task, &request, now, &mut state.rng) {
            Ok(a) => a,
            Err(e) => return refused(e),
        };
        let mut event = now.to_le_bytes().to_vec();
        event.extend(request.to_bytes());
        if let Err(e) = state.store.append(&task.0, "admission", &event) {
            return refused(e);
        }
        if admission.committee.is_some()
            && let Some(m) = state.meta.get_mut(&task)
        {
            m.phase = Phase::Collecting;
            info!(task = %task, "committee complete");
        }
        Response::Grant(admission.grant)
    }

    async fn submit_bundle(&self, peer: &IdentityCard, task: TaskId, bundle: Bundle) -> Response {
        if bundle.core.signer != peer.id {
            return refused(format!(
                "{} may not submit {}'s bundle",
                peer.id, bundle.core.signer
            ));
        }
        let bytes = bundle.to_bytes();
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if state
            .meta
            .get(&task)
            .is_some_and(|m| m.phase > Phase::Collecting)
        {
            return refused("submissions are closed");
        }
        if let Err(e) = state.cloud.accept_bundle(&task, bundle) {
            return refused(e);
        }
        if let Err(e) = state.store.append(&task.0, "bundle", &bytes) {
            return refused(e);
        }
        let everyone_in = state.cloud.task(&task).is_ok_and(|t| {
            state
                .cloud
                .submitted(&task)
                .is_ok_and(|s| s.len() == t.body.params.weights.len())
        });
        if everyone_in && let Err(e) = close_submissions(state, &task, unix_now()) {
            warn!(task = %task, "could not close submissions: {e}");
        }
        Response::Ok
    }

    async fn report(&self, task: TaskId, report: Signed<VerificationReport>) -> Response {
        let bytes = report.to_bytes();
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if state.meta.get(&task).map(|m| m.phase) != Some(Phase::Verifying) {
            return refused("the task is not waiting for verification reports");
        }
        let gens = match state.cloud.task(&task).map(|t| self.gens.for_task(&t.body)) {
            Ok(Ok(g)) => g,
            Ok(Err(e)) | Err(e) => return refused(e),
        };
        if let Err(e) = state.cloud.accept_report(&task, report, gens.as_deref()) {
            return refused(e);
        }
        if let Err(e) = state.store.append(&task.0, "report", &bytes) {
            return refused(e);
        }
        let all_in = state.cloud.task(&task).is_ok_and(|t| {
            state
                .cloud
                .reported(&task)
                .is_ok_and(|r| r.len() == t.body.params.n as usize)
        });
        if all_in && let Err(e) = self.close_input_set(state, &task) {
            warn!(task = %task, "could not close the input set: {e}");
        }
        Response::Ok
    }

    async fn status(&self, task: TaskId) -> Response {
        let state = self.state.lock().await;
        let Some(meta) = state.meta.get(&task) else {
            return refused(format!("unknown task {task}"));
        };
        let status = Status {
            phase: meta.phase,
            submitted: state.cloud.submitted(&task).unwrap_or_default(),
            reported: state.cloud.reported(&task).unwrap_or_default(),
            input_set: state.cloud.input_set(&task).ok().flatten().cloned(),
        };
        Response::Status(status)
    }
}

/// The longest prefix of `deliveries` whose ciphertexts fit in [`PAGE_BYTES`] (at least one), so
/// a CP's memory per page stays bounded whatever the vector length.
fn within_budget(mut deliveries: Vec<ShareDelivery>) -> Vec<ShareDelivery> {
    let mut total = 0;
    let keep = deliveries
        .iter()
        .position(|d| {
            total += d.share.ciphertext.len();
            total > PAGE_BYTES
        })
        .map_or(deliveries.len(), |i| i.max(1));
    deliveries.truncate(keep);
    deliveries
}

fn close_submissions(state: &mut State, id: &TaskId, now: u64) -> Result<(), String> {
    state
        .store
        .append(&id.0, "close-submissions", &now.to_le_bytes())
        .map_err(|e| e.to_string())?;
    if let Some(m) = state.meta.get_mut(id) {
        m.phase = Phase::Verifying;
        m.verifying_since = now;
    }
    info!(task = %id, "submissions closed");
    Ok(())
}

/// Rebuilds one task from its signed spec and events.
fn replay(state: &mut State, gens: &GeneratorCache, id: TaskId, spec: &[u8]) -> Result<(), String> {
    let task: Signed<Task> = decode_exact(spec).map_err(|e| e.to_string())?;
    state
        .cloud
        .restore_task(task.clone())
        .map_err(|e| e.to_string())?;
    let mut meta = Meta {
        phase: Phase::Admitting,
        verifying_since: 0,
    };
    let generators = gens.for_task(&task.body).map_err(|e| e.to_string())?;
    for event in state.store.events(&id.0).map_err(|e| e.to_string())? {
        let body = &event.body;
        let result = match event.kind.as_str() {
            "admission" => {
                let mut r = Reader::new(body);
                let now = r.u64("clock").map_err(|e| e.to_string())?;
                let request =
                    Signed::<AdmissionRequest>::decode(&mut r).map_err(|e| e.to_string())?;
                let admission = state.cloud.admit(&id, &request, now, &mut state.rng);
                if admission.as_ref().is_ok_and(|a| a.committee.is_some()) {
                    meta.phase = Phase::Collecting;
                }
                admission.map(|_| ()).map_err(|e| e.to_string())
            }
            "bundle" => decode_exact::<Bundle>(body)
                .map_err(|e| e.to_string())
                .and_then(|b| state.cloud.accept_bundle(&id, b).map_err(|e| e.to_string())),
            "close-submissions" => {
                meta.phase = Phase::Verifying;
                meta.verifying_since =
                    u64::from_le_bytes(body.as_slice().try_into().unwrap_or_default());
                Ok(())
            }
            "report" => decode_exact::<Signed<VerificationReport>>(body)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    state
                        .cloud
                        .accept_report(&id, r, generators.as_deref())
                        .map_err(|e| e.to_string())
                }),
            "input-set" => {
                meta.phase = Phase::Aggregating;
                state
                    .cloud
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
    state.meta.insert(id, meta);
    Ok(())
}

impl Handler for CloudServer {
    async fn handle(self: Arc<Self>, peer: IdentityCard, request: Request) -> Response {
        match request {
            Request::CreateTask(params) => self.create_task(&peer, params).await,
            Request::ListTasks => {
                let state = self.state.lock().await;
                Response::Tasks(state.cloud.tasks().cloned().collect())
            }
            Request::Admit(task, req) => self.admit(task, req).await,
            Request::GetCommittee(task) => {
                let state = self.state.lock().await;
                match state.cloud.committee(&task) {
                    Ok(c) => Response::Committee(c.cloned()),
                    Err(e) => refused(e),
                }
            }
            Request::SubmitBundle(task, bundle) => self.submit_bundle(&peer, task, bundle).await,
            Request::GetDeliveries { task, index, after } => {
                let state = self.state.lock().await;
                if !self.may_read_index(&state, &peer.id, &task, index) {
                    return refused(format!("{} is not CP {index} of the task", peer.id));
                }
                match state
                    .cloud
                    .deliveries_after(&task, index, after.as_ref(), MAX_PAGE as usize)
                {
                    Ok(d) => Response::Deliveries(within_budget(d)),
                    Err(e) => refused(e),
                }
            }
            Request::GetDelivery { task, dp, index } => {
                let state = self.state.lock().await;
                if !self.may_read_index(&state, &peer.id, &task, index) {
                    return refused(format!("{} is not CP {index} of the task", peer.id));
                }
                match state.cloud.delivery(&task, &dp, index) {
                    Ok(d) => Response::Delivery(d),
                    Err(e) => refused(e),
                }
            }
            Request::Report(task, report) => self.report(task, report).await,
            Request::GetStatus(task) => self.status(task).await,
            Request::GetSummaries(task) => {
                let state = self.state.lock().await;
                match state.cloud.summaries(&task) {
                    Ok(s) => Response::Summaries(s),
                    Err(e) => refused(e),
                }
            }
            Request::SubmitResultShare(..) | Request::GetResult(_) => {
                refused("result shares and results are served by the edge")
            }
        }
    }
}

impl CloudServer {
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
