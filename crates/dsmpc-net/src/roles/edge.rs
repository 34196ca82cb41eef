//! The edge server: takes result shares from CPs, learns each task's committee, input set and
//! commitments from the cloud, reconstructs, and keeps the signed result in SQLite.
//!
//! Each task gets a driver that owns its `EdgeTask` and receives shares over a channel. It finishes
//! when all n CPs have answered, or `grace` after t valid shares arrived (so late CPs can still be
//! checked and named), or fails clearly when fewer than t valid shares came by the timeout.
//!
//! Every result share is recorded in the edge's store before it is acknowledged, and every
//! failure before it is announced: an edge killed and restarted drives its open tasks again from
//! the shares it had, and answers for a failed task with the failure it signed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dsmpc_core::codec::{Encode, decode_exact};
use dsmpc_core::field::Field;
use dsmpc_core::identity::{IdentityCard, Roster, SecretIdentity};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::edge::EdgeTask;
use dsmpc_core::round3::InputSet;
use dsmpc_core::round4::{ResultShare, TaskFailure, TaskResult};
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Mode, Task, TaskId};
use dsmpc_core::with_field;
use tokio::sync::{Mutex, mpsc};
use tracing::{info, warn};

use super::GeneratorCache;
use crate::client::{Link, NetError};
use crate::flow::FlowLog;
use crate::rpc::{Phase, Request, Response, Until};
use crate::server::Handler;
use crate::store::{Store, StoreError};

/// Timing of the edge.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// How long after t valid shares to wait for the rest.
    pub grace: Duration,
    /// How long to wait for the input set after the task's submission deadline, and for the
    /// result shares after the input set.
    pub timeout: Duration,
    /// How long to wait for result shares when the input set shows fewer than t CPs reported
    /// (those that reported late may still answer) before publishing the failure.
    pub late_share_wait: Duration,
    /// The longest wait for a new task before asking the cloud again (it answers at once when a
    /// task is created, so this only bounds how often a quiet cloud is asked: 10 s by default; the
    /// committee and the input set are awaited the same way).
    pub poll: Duration,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            grace: Duration::from_secs(2),
            timeout: Duration::from_secs(600),
            late_share_wait: Duration::from_secs(10),
            poll: crate::rpc::MAX_AWAIT,
        }
    }
}

/// The drivers' channels, and the failures published since this edge started (all of them,
/// from before too, are in the store).
#[derive(Default)]
struct Inbox {
    senders: BTreeMap<TaskId, mpsc::UnboundedSender<Signed<ResultShare>>>,
    failures: BTreeMap<TaskId, Signed<TaskFailure>>,
}

/// The edge server.
pub struct EdgeServer {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    cloud: Arc<Link>,
    store: Mutex<Store>,
    inbox: Mutex<Inbox>,
    gens: GeneratorCache,
    config: EdgeConfig,
    flow: FlowLog,
    /// Announces a result stored or a task failed, to [`Request::Await`]s of results.
    news: tokio::sync::watch::Sender<()>,
}

impl EdgeServer {
    /// Opens the edge's result store at `path`.
    pub fn open(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        cloud: Arc<Link>,
        path: &Path,
        config: EdgeConfig,
        flow: FlowLog,
    ) -> Result<EdgeServer, StoreError> {
        Ok(EdgeServer {
            identity,
            roster,
            cloud,
            store: Mutex::new(Store::open(path)?),
            inbox: Mutex::new(Inbox::default()),
            gens: GeneratorCache::default(),
            config,
            flow,
            news: tokio::sync::watch::Sender::new(()),
        })
    }

    /// Watches the cloud for tasks and starts a driver for each new one, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut watch = self.cloud.twin();
        let mut known = 0;
        loop {
            let listed = tokio::select! {
                listed = super::await_tasks(&watch, known, self.config.poll) => listed,
                () = &mut shutdown => break,
            };
            match listed {
                Ok(ids) => {
                    known = ids.len();
                    for id in ids {
                        if self.knows(id).await {
                            continue;
                        }
                        match super::fetch_task_with_list(&watch, id).await {
                            Ok(task) => {
                                // The connection that found the task is open: the task's waits
                                // go on it at once, and the watch opens another.
                                let link = std::mem::replace(&mut watch, self.cloud.twin());
                                self.clone().start(task, link).await;
                            }
                            Err(e) => warn!(task = %id, "cannot fetch the task: {e}"),
                        }
                    }
                }
                Err(e) => {
                    warn!("cannot list tasks: {e}");
                    tokio::select! {
                        () = tokio::time::sleep(self.config.poll) => {},
                        () = &mut shutdown => break,
                    }
                }
            }
        }
    }

    /// Serves `listener` and watches the cloud for tasks until `shutdown` completes.
    pub async fn serve_until(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        context: crate::server::ServerContext,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let watching = tokio::spawn(self.clone().run(std::future::pending()));
        crate::server::serve(listener, context, self, shutdown).await;
        watching.abort();
    }

    /// Whether task `id` is already being driven, has failed or has its result.
    async fn knows(&self, id: TaskId) -> bool {
        let done = {
            let store = self.store.lock().await;
            let result = store.result(&id.0).ok().flatten();
            result.is_some() || store.failure(&id.0).ok().flatten().is_some()
        };
        let inbox = self.inbox.lock().await;
        done || inbox.senders.contains_key(&id) || inbox.failures.contains_key(&id)
    }

    /// Starts the driver of `task`, which waits for news over `waits`.
    async fn start(self: Arc<Self>, task: Signed<Task>, waits: Link) {
        let id = task.body.id;
        if self.knows(id).await {
            return;
        }
        let mut inbox = self.inbox.lock().await;
        if inbox.senders.contains_key(&id) || inbox.failures.contains_key(&id) {
            return;
        }
        let spec = task.to_bytes();
        let created = self
            .write_store(move |store| store.create_task(&id.0, &spec))
            .await;
        if let Err(e) = created {
            warn!(task = %id, "cannot record the task: {e}");
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        // The shares taken before this driver started (before a restart, or before the edge
        // heard of the task); `submit` records the rest under the same lock and sends them on.
        let stored = self.store.lock().await.result_shares(&id.0);
        for bytes in stored.unwrap_or_else(|e| {
            warn!(task = %id, "cannot read the stored result shares: {e}");
            Vec::new()
        }) {
            match decode_exact::<Signed<ResultShare>>(&bytes) {
                Ok(share) => {
                    let _ = tx.send(share);
                }
                Err(e) => warn!(task = %id, "a stored result share is corrupt: {e}"),
            }
        }
        inbox.senders.insert(id, tx);
        drop(inbox);
        tokio::spawn(async move {
            let outcome = with_field!(task.body.field(), F => self.clone().drive::<F>(task, rx, &waits).await);
            let failure = match outcome {
                Ok(None) => return,
                Ok(Some(failure)) => failure,
                Err(e) => TaskFailure {
                    reason: e.to_string(),
                    missing: Vec::new(),
                },
            };
            warn!(task = %id, "no result: {failure}");
            self.fail(id, failure).await;
        });
    }

    /// Runs `write` on the store on tokio's blocking pool: its commit waits for an `fsync`
    /// (milliseconds), which must not hold up this runtime's workers, which in a simulation also
    /// serve the cloud and drive the CPs.
    async fn write_store<T: Send + 'static>(
        self: &Arc<Self>,
        write: impl FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let server = self.clone();
        let joined =
            tokio::task::spawn_blocking(move || write(&mut server.store.blocking_lock())).await;
        match joined {
            Ok(outcome) => outcome.map_err(|e| e.to_string()),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err("the runtime is shutting down".into()),
        }
    }

    /// Signs and records that task `id` has no result, and why, for anyone asking or awaiting
    /// it (now and after a restart).
    async fn fail(self: &Arc<Self>, id: TaskId, failure: TaskFailure) {
        let signed = Signed::sign(&id, &self.identity, failure);
        let body = signed.to_bytes();
        if let Err(e) = self
            .write_store(move |store| store.put_failure(&id.0, &body))
            .await
        {
            warn!(task = %id, "cannot record the failure: {e}");
        }
        self.inbox.lock().await.failures.insert(id, signed);
        self.news.send_replace(());
    }

    /// The signed commitments of the `count` DPs of the input set, page by page. A short answer
    /// stops the loop; [`EdgeTask::set_input_set`] then names the DP whose summary is missing.
    /// Takes the input set into `edge` and, in verifiable mode, folds the included DPs'
    /// commitments into it page by page as the cloud sends them (never all at once).
    async fn fold_input_set<F: Field>(
        &self,
        edge: EdgeTask<F>,
        task: TaskId,
        input_set: Signed<InputSet>,
        verifiable: bool,
    ) -> Result<EdgeTask<F>, NetError> {
        let count = input_set.body.included.count() as usize;
        let mut edge = on_blocking(edge, move |e| e.begin_input_set(&input_set)).await?;
        let mut folded = 0;
        while verifiable && folded < count {
            let from = u32::try_from(folded).unwrap_or(u32::MAX);
            let page = match self
                .cloud
                .call(&Request::GetSummaries { task, from })
                .await?
            {
                Response::Summaries(page) if page.is_empty() => break,
                Response::Summaries(page) => page,
                other => {
                    return Err(NetError::Unexpected {
                        peer: self.cloud.peer().clone(),
                        request: "get-summaries",
                        got: other.kind(),
                    });
                }
            };
            folded += page.len();
            edge = on_blocking(edge, move |e| e.fold_summaries(&page)).await?;
        }
        on_blocking(edge, |e| e.end_input_set()).await
    }

    /// Drives `task` to its result: `Ok(None)` once it is published, `Ok(Some(failure))` when
    /// the task can no longer finish (published by the caller, signed).
    async fn drive<F: Field>(
        self: Arc<Self>,
        task: Signed<Task>,
        mut shares: mpsc::UnboundedReceiver<Signed<ResultShare>>,
        waits: &Link,
    ) -> Result<Option<TaskFailure>, NetError> {
        let id = task.body.id;
        let closes_at = task.body.params.submission_deadline;
        let (n, t) = (task.body.params.n as usize, task.body.params.t as usize);
        let verifiable = task.body.params.mode == Mode::Verifiable;
        let validating_fast = task.body.params.validate && !verifiable;
        let gens = self.gens.for_task(&task.body)?;
        // Until the admission deadline (and the grace): after it the committee cannot complete.
        let admission_left = Duration::from_secs(
            task.body
                .params
                .admission_deadline
                .saturating_sub(super::unix_now()),
        );
        let committee_wait = (admission_left + self.config.grace).min(self.config.timeout);
        let committee = waits
            .wait_for(Until::Committee(id), "the committee", committee_wait, |r| {
                Ok(match r {
                    Response::Committee(c) => c,
                    _ => None,
                })
            })
            .await;
        let committee = match committee {
            Ok(c) => c,
            Err(NetError::Timeout { .. }) => {
                return Ok(Some(TaskFailure {
                    reason: format!(
                        "the committee of {} CPs was not complete by the admission deadline",
                        task.body.params.n
                    ),
                    missing: Vec::new(),
                }));
            }
            Err(e) => return Err(e),
        };
        let edge =
            EdgeTask::<F>::new(self.identity.clone(), self.roster.clone(), task, &committee)?;
        // Submissions may stay open until the task's deadline, however long that is; the input
        // set follows within the timeout after it.
        let submissions_left = Duration::from_secs(closes_at.saturating_sub(super::unix_now()));
        let input_set = waits
            .wait_for(
                Until::Phase(id, Phase::Aggregating),
                "the input set",
                submissions_left + self.config.timeout,
                |r| {
                    Ok(match r {
                        Response::Status(s) => s.input_set,
                        _ => None,
                    })
                },
            )
            .await?;
        let started = Instant::now();
        let mut edge = self.fold_input_set(edge, id, input_set, verifiable).await?;
        // With fewer than t reports, a result needs shares from CPs that reported late (they
        // align their aggregates with the input set and answer at once) or not at all: they get
        // `late_share_wait`, not the whole timeout.
        let short = edge.too_few_reported();
        // A fast task that validates inputs decided its DPs from the reports' verifier shares:
        // with fewer than t reports it could not, and late result shares cannot make up for it.
        if validating_fast && let Some(short) = short {
            return Ok(Some(short));
        }
        let wait = match short {
            Some(_) => self.config.late_share_wait,
            None => self.config.timeout,
        };
        self.collect(&mut edge, (n, t), &mut shares, gens.as_deref(), wait)
            .await;
        let result = match edge.finish(&mut fast_rng()) {
            Ok(result) => result,
            Err(
                dsmpc_core::Error::NotEnoughResultShares { .. }
                | dsmpc_core::Error::NotEnoughShares { .. },
            ) => {
                let failure = edge.too_few_shares();
                return Ok(Some(match short {
                    Some(short) => TaskFailure {
                        missing: failure.missing,
                        ..short
                    },
                    None => failure,
                }));
            }
            Err(e) => return Err(e.into()),
        };
        self.flow
            .phase(Some(id), "edge", "verify+reconstruct", started.elapsed());
        let body = result.to_bytes();
        self.write_store(move |store| store.put_result(&id.0, &body))
            .await
            .map_err(|reason| NetError::Refused {
                peer: self.identity.id().clone(),
                reason,
            })?;
        self.news.send_replace(());
        info!(task = %id, values = ?result.body.values(), "result published");
        Ok(None)
    }

    /// Takes result shares until all `n` CPs have answered, the grace after t valid ones is
    /// over, or `wait` has passed.
    async fn collect<F: Field>(
        &self,
        edge: &mut EdgeTask<F>,
        (n, t): (usize, usize),
        shares: &mut mpsc::UnboundedReceiver<Signed<ResultShare>>,
        gens: Option<&dsmpc_core::crypto::pedersen::Generators>,
        wait: Duration,
    ) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut grace_until: Option<tokio::time::Instant> = None;
        let mut answered = std::collections::BTreeSet::new();
        while answered.len() < n {
            let until = grace_until.unwrap_or(deadline).min(deadline);
            let share = tokio::select! {
                s = shares.recv() => s,
                () = tokio::time::sleep_until(until) => None,
            };
            let Some(share) = share else { break };
            answered.insert(share.signer.clone());
            if let Err(e) = edge.receive(&share, gens) {
                warn!(task = %edge.task_id(), cp = %share.signer, "refused a result share: {e}");
            }
            if grace_until.is_none() && edge.valid_indices().len() >= t {
                grace_until = Some(tokio::time::Instant::now() + self.config.grace);
            }
        }
    }

    /// Takes a CP's result share: records it (the first from each CP stands; a resend is
    /// acknowledged and ignored), then hands it to the task's driver if one runs (else the
    /// driver finds it in the store when it starts).
    async fn submit(
        self: &Arc<Self>,
        peer: &IdentityCard,
        task: TaskId,
        share: Signed<ResultShare>,
    ) -> Response {
        if share.signer != peer.id {
            return Response::Refused(format!(
                "{} may not submit {}'s result share",
                peer.id, share.signer
            ));
        }
        let inbox = self.inbox.lock().await;
        let (cp, body) = (share.signer.as_str().to_owned(), share.to_bytes());
        let added = self
            .write_store(move |store| store.put_result_share(&task.0, &cp, &body))
            .await;
        match added {
            Err(e) => return Response::Refused(format!("cannot record the result share: {e}")),
            Ok(true) => {
                if let Some(tx) = inbox.senders.get(&task) {
                    let _ = tx.send(share);
                }
            }
            Ok(false) => {}
        }
        Response::Ok
    }

    async fn result(&self, task: TaskId) -> Response {
        match self.store.lock().await.result(&task.0) {
            Ok(Some(bytes)) => match decode_exact::<Signed<TaskResult>>(&bytes) {
                Ok(r) => return Response::Result(Some(r)),
                Err(e) => return Response::Refused(format!("stored result is corrupt: {e}")),
            },
            Ok(None) | Err(StoreError::UnknownTask(_)) => {}
            Err(e) => return Response::Refused(e.to_string()),
        }
        if let Some(failure) = self.inbox.lock().await.failures.get(&task) {
            return Response::Failed(failure.clone());
        }
        let stored = self.store.lock().await.failure(&task.0);
        match stored {
            Ok(Some(bytes)) => match decode_exact::<Signed<TaskFailure>>(&bytes) {
                Ok(failure) => Response::Failed(failure),
                Err(e) => Response::Refused(format!("stored failure is corrupt: {e}")),
            },
            Ok(None) => Response::Result(None),
            Err(e) => Response::Refused(e.to_string()),
        }
    }
}

impl Handler for EdgeServer {
    async fn handle(self: Arc<Self>, peer: IdentityCard, request: Request) -> Response {
        match request {
            Request::SubmitResultShare(task, share) => self.submit(&peer, task, share).await,
            Request::GetResult(task) => self.result(task).await,
            Request::Await {
                millis,
                until: Until::Result(task),
            } => {
                crate::server::answer_on_news(&self.news, millis, || async {
                    let answer = self.result(task).await;
                    let ready = !matches!(answer, Response::Result(None));
                    (answer, ready)
                })
                .await
            }
            other => Response::Refused(format!("the edge does not serve {}", other.kind())),
        }
    }
}

/// Runs `step` on `edge` — signature checks and decompressions of a page of commitments, spread
/// over rayon's threads — on tokio's blocking pool, so that it does not hold up this runtime's
/// workers.
async fn on_blocking<F: Field>(
    mut edge: EdgeTask<F>,
    step: impl FnOnce(&mut EdgeTask<F>) -> Result<(), dsmpc_core::Error> + Send + 'static,
) -> Result<EdgeTask<F>, NetError> {
    let joined = tokio::task::spawn_blocking(move || {
        let outcome = step(&mut edge);
        (edge, outcome)
    })
    .await;
    match joined {
        Ok((edge, outcome)) => outcome.map(|()| edge).map_err(NetError::from),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(NetError::Timeout {
            what: "the input set's commitments (the runtime is shutting down)".into(),
            seconds: 0,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::party;
    use dsmpc_core::identity::Role;

    fn edge_server(dir: &tempfile::TempDir) -> (Arc<EdgeServer>, IdentityCard) {
        let (server, cp) = edge_server_of(dir, party("edge", Role::Edge), party("cp1", Role::Cp));
        (server, cp.card().clone())
    }

    /// An edge server of `edge` over the store in `dir` (opened again by each call).
    fn edge_server_of(
        dir: &tempfile::TempDir,
        edge: Arc<SecretIdentity>,
        cp: Arc<SecretIdentity>,
    ) -> (Arc<EdgeServer>, Arc<SecretIdentity>) {
        let cloud = party("cloud", Role::Cloud);
        let roster = Arc::new(
            Roster::new([&cloud, &edge, &cp].into_iter().map(|p| p.card().clone())).unwrap(),
        );
        // Never dialled: the test does not start the edge's watch of the cloud.
        let link = Arc::new(Link::new(
            edge.clone(),
            cloud.card().clone(),
            "127.0.0.1:9".into(),
            crate::channel::ChannelConfig::default(),
            FlowLog::disabled(),
            Duration::from_secs(1),
        ));
        let server = EdgeServer::open(
            edge,
            roster,
            link,
            &dir.path().join("edge.db"),
            EdgeConfig::default(),
            FlowLog::disabled(),
        )
        .unwrap();
        (Arc::new(server), cp)
    }

    /// What the edge acknowledged survives its restart: a result share (the first from each CP;
    /// a resend is acknowledged and ignored) and a signed failure.
    #[tokio::test]
    async fn acknowledged_shares_and_failures_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (edge, cp) = (party("edge", Role::Edge), party("cp1", Role::Cp));
        let (server, _) = edge_server_of(&dir, edge.clone(), cp.clone());
        let id = TaskId([9; 16]);
        let share = |byte: u8| {
            let sealed = dsmpc_core::crypto::kem::seal(
                &edge.card().kem_key,
                b"context",
                &[byte; 8],
                &mut fast_rng(),
            );
            Signed::sign(&id, &cp, ResultShare { index: 1, sealed })
        };
        let (first, second) = (share(1), share(2));
        for s in [&first, &second] {
            let answer = server
                .clone()
                .handle(cp.card().clone(), Request::SubmitResultShare(id, s.clone()))
                .await;
            assert_eq!(answer, Response::Ok);
        }
        let failure = TaskFailure {
            reason: "only 1 of 3 CPs reported; threshold 2".into(),
            missing: Vec::new(),
        };
        server.fail(TaskId([8; 16]), failure.clone()).await;
        drop(server);

        let (server, _) = edge_server_of(&dir, edge, cp.clone());
        let stored = server.store.lock().await.result_shares(&id.0).unwrap();
        assert_eq!(stored, vec![first.to_bytes()]);
        let answer = server
            .clone()
            .handle(cp.card().clone(), Request::GetResult(TaskId([8; 16])))
            .await;
        let Response::Failed(signed) = answer else {
            panic!("{answer:?}");
        };
        assert_eq!(signed.body, failure);
        assert!(server.knows(TaskId([8; 16])).await);
    }

    /// An await of a result is answered when the task ends (here: fails), not at the end of its
    /// wait; without news it answers "no result yet"; the edge serves no other await.
    #[tokio::test]
    async fn an_await_of_a_result_is_answered_when_the_task_ends() {
        let dir = tempfile::tempdir().unwrap();
        let (server, cp) = edge_server(&dir);
        let id = TaskId([4; 16]);
        let ask = |millis, until| {
            let (server, cp) = (server.clone(), cp.clone());
            tokio::spawn(async move { server.handle(cp, Request::Await { millis, until }).await })
        };
        let unanswered = ask(30, Until::Result(id)).await.unwrap();
        assert_eq!(unanswered, Response::Result(None));
        let refused = ask(60_000, Until::Committee(id)).await.unwrap();
        assert_eq!(
            refused,
            Response::Refused("the edge does not serve await-committee".into())
        );

        let waiter = ask(60_000, Until::Result(id));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "answered before the task ended");
        let failure = TaskFailure {
            reason: "only 1 of 3 CPs reported; threshold 2".into(),
            missing: vec![
                dsmpc_core::identity::PartyId::new("cp2").unwrap(),
                dsmpc_core::identity::PartyId::new("cp3").unwrap(),
            ],
        };
        server.fail(id, failure.clone()).await;
        let answer = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the await was not woken by the failure")
            .unwrap();
        let Response::Failed(signed) = answer else {
            panic!("{answer:?}");
        };
        assert_eq!(signed.body, failure);
        signed
            .verify(&id, &server.roster, dsmpc_core::identity::Role::Edge)
            .expect("signed by the edge");
    }
}
