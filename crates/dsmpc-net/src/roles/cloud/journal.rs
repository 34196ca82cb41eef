//! The cloud's group commit: one writer thread owns the [`CloudStore`] and commits whatever the handlers
//! queued while the previous commit ran, in one transaction.
//!
//! A handler applies a message to the in-memory [`Cloud`](dsmpc_core::roles::cloud::Cloud) and,
//! **still holding the state lock**, queues its event with [`Journal::record`]; the queue is FIFO,
//! so the log's order is exactly the order the state applied the messages in, which is what replay
//! needs. The handler then releases the lock and awaits the [`Ack`], which completes once the
//! transaction holding the event (and so everything queued before it) is committed. A request
//! that only reads the state takes a [`Journal::barrier`] instead, so that no answer ever reveals
//! state that a crash could still take back.
//!
//! Concurrent handlers thus share commits — one `fsync` for a whole batch instead of one per
//! message — while every `Ok` still means "durable". After a batch of several entries the writer
//! gathers for [`LINGER`] more before it commits, so that under load each commit carries more.
//!
//! # When a commit fails
//!
//! The in-memory state has already applied the messages of a failed batch, and cannot take them
//! back. Rather than answer from a state its log does not hold, the journal **fails for good**:
//! every waiter of that batch and every later record or barrier gets [`StoreFailed`], and the
//! server refuses every request ("store failed; restart to replay") until it is restarted, when
//! replay rebuilds the state from what the log does hold. Clients whose messages were refused
//! resend them after the restart, as they do after a crash.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::error;

use crate::store::pg_shared::Placement;
use crate::store::{BundleWrite, CloudStore, StoreError, TaskStatus, Write};

/// The most records one transaction holds.
const MAX_BATCH: usize = 8192;

/// How long the writer keeps gathering entries before it commits, when the previous batch held
/// more than one (PostgreSQL's `commit_delay` with `commit_siblings`). Under concurrent load each
/// commit then takes in the entries of about a millisecond, so fewer commits and `fsync`s carry
/// the same records (p3 about 4% less CPU, p1 about 2.5%); a lone client's batches hold one
/// entry, and it never waits.
const LINGER: Duration = Duration::from_millis(1);

/// A write queued for the log, owning its bytes until it is committed.
#[derive(Debug)]
pub(crate) enum Record {
    /// A new task with its signed spec.
    CreateTask {
        /// The task id.
        task: [u8; 16],
        /// The signed task's bytes.
        spec: Vec<u8>,
    },
    /// An event of a task.
    Append {
        /// The task id.
        task: [u8; 16],
        /// The event's kind.
        kind: &'static str,
        /// The event's body.
        body: Vec<u8>,
    },
    /// A task's new status.
    SetStatus {
        /// The task id.
        task: [u8; 16],
        /// Its new status.
        status: TaskStatus,
    },
    /// An accepted bundle.
    Bundle(BundleRecord),
    /// A bundle whose position (and whether it is taken at all) the shared database decides:
    /// several front-ends over PostgreSQL ([`crate::store::pg_shared`]). Its ack says what
    /// became of it.
    Placed {
        /// The bundle (its `pos` is ignored).
        bundle: BundleRecord,
        /// How many DPs the task lists: the batch that stores the last one closes submissions.
        listed: u64,
    },
}

/// An accepted bundle as it arrived: its encoding, and where its core and shares lie in it.
#[derive(Debug)]
pub(crate) struct BundleRecord {
    /// The task id.
    pub(crate) task: [u8; 16],
    /// Its position in the task's order of arrival.
    pub(crate) pos: u64,
    /// The DP.
    pub(crate) dp: String,
    /// The encoded bundle: the signed core, the share count (u32), the sealed shares.
    pub(crate) body: Vec<u8>,
    /// The length of the core's encoding.
    pub(crate) core_len: usize,
    /// The length of each sealed share's encoding.
    pub(crate) share_lens: Vec<u64>,
}

impl BundleRecord {
    fn as_write(&self) -> BundleWrite<'_> {
        BundleWrite {
            task: &self.task,
            pos: self.pos,
            dp: &self.dp,
            core: self.body.get(..self.core_len).unwrap_or_default(),
            shares: self.body.get(self.core_len + 4..).unwrap_or_default(),
            share_lens: &self.share_lens,
        }
    }
}

impl Record {
    /// The write of an ordinary record; `None` for a [`Record::Placed`] bundle.
    fn as_write(&self) -> Option<Write<'_>> {
        Some(match self {
            Record::CreateTask { task, spec } => Write::CreateTask { task, spec },
            Record::Append { task, kind, body } => Write::Append { task, kind, body },
            Record::SetStatus { task, status } => Write::SetStatus {
                task,
                status: *status,
            },
            Record::Bundle(b) => Write::Bundle(b.as_write()),
            Record::Placed { .. } => return None,
        })
    }
}

/// Why a record's ack did not complete with `Ok`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NotDone {
    /// The store failed.
    #[error(transparent)]
    Failed(#[from] StoreFailed),
    /// The shared database refused a placed bundle (see [`Record::Placed`]).
    #[error("{0}")]
    Refused(String),
}

/// What a record's waiter learns once its batch is committed.
pub(crate) type Outcome = Result<(), NotDone>;

/// The store failed; the cloud refuses everything until it is restarted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "temporarily unavailable: the cloud's store failed ({reason}); it refuses every message until \
     restarted to replay its log"
)]
pub(crate) struct StoreFailed {
    reason: String,
}

/// One queued record (or barrier) and who waits for it.
struct Entry {
    ticket: u64,
    record: Option<Record>,
    ack: oneshot::Sender<Outcome>,
}

/// What the writer thread and the handlers share.
#[derive(Default)]
struct Shared {
    /// The ticket of the last entry committed.
    durable: AtomicU64,
    /// Set once, by the first failed commit.
    failure: OnceLock<StoreFailed>,
}

impl Shared {
    fn fail(&self, reason: String) -> StoreFailed {
        self.failure.get_or_init(|| StoreFailed { reason }).clone()
    }
}

/// The handlers' side of the group commit. It lives inside the cloud's locked state, so tickets
/// are issued in the order the state changes.
pub(crate) struct Journal {
    sender: mpsc::Sender<Entry>,
    issued: u64,
    shared: Arc<Shared>,
}

/// Completes once a record, or everything queued before a barrier, is committed.
#[must_use = "a message is durable only once its ack completes"]
pub(crate) enum Ack {
    /// Known already.
    Ready(Outcome),
    /// Waiting for the writer thread.
    Pending(oneshot::Receiver<Outcome>),
}

impl Ack {
    /// An ack for an answer that reveals nothing of the state.
    pub(crate) fn none() -> Ack {
        Ack::Ready(Ok(()))
    }

    /// Waits until the commit; `Err` when it failed (or had failed before).
    pub(crate) async fn durable(self) -> Outcome {
        match self {
            Ack::Ready(outcome) => outcome,
            Ack::Pending(receiver) => receiver.await.unwrap_or_else(|_| {
                Err(NotDone::Failed(StoreFailed {
                    reason: "the store's writer thread stopped".into(),
                }))
            }),
        }
    }
}

impl Journal {
    /// Starts the writer thread, which owns `store` until the journal is dropped (it commits
    /// what is still queued, then closes the store).
    pub(crate) fn start(store: CloudStore) -> Result<Journal, StoreError> {
        let (sender, receiver) = mpsc::channel();
        let shared = Arc::new(Shared::default());
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("cloud-journal".into())
            .spawn(move || write_loop(store, &receiver, &writer))
            .map_err(StoreError::Writer)?;
        Ok(Journal {
            sender,
            issued: 0,
            shared,
        })
    }

    /// `Err` once a commit has failed.
    pub(crate) fn check(&self) -> Result<(), StoreFailed> {
        match self.shared.failure.get() {
            Some(failed) => Err(failed.clone()),
            None => Ok(()),
        }
    }

    /// Fails the journal for good, as a failed commit does: the state holds what the store
    /// does not (a write outside the journal failed).
    pub(crate) fn fail(&self, reason: String) -> StoreFailed {
        self.shared.fail(reason)
    }

    /// Queues `record` after everything queued before it.
    pub(crate) fn record(&mut self, record: Record) -> Ack {
        self.enqueue(Some(record))
    }

    /// An ack that completes once everything queued so far is committed — at once when nothing
    /// is pending.
    pub(crate) fn barrier(&mut self) -> Ack {
        if self.shared.durable.load(Ordering::Acquire) == self.issued {
            return Ack::Ready(self.check().map_err(NotDone::from));
        }
        self.enqueue(None)
    }

    fn enqueue(&mut self, record: Option<Record>) -> Ack {
        if let Err(failed) = self.check() {
            return Ack::Ready(Err(failed.into()));
        }
        let (ack, receiver) = oneshot::channel();
        self.issued += 1;
        let entry = Entry {
            ticket: self.issued,
            record,
            ack,
        };
        if self.sender.send(entry).is_err() {
            let failed = self.shared.fail("the store's writer thread stopped".into());
            return Ack::Ready(Err(failed.into()));
        }
        Ack::Pending(receiver)
    }
}

/// The writer thread: waits for an entry, takes every entry queued since (up to
/// [`MAX_BATCH`]; for [`LINGER`] more after a batch of several), commits them in one transaction
/// and answers each.
fn write_loop(mut store: CloudStore, receiver: &mpsc::Receiver<Entry>, shared: &Shared) {
    let mut batch = Vec::new();
    let mut busy = false;
    while let Ok(first) = receiver.recv() {
        batch.push(first);
        gather(receiver, &mut batch, busy.then(|| Instant::now() + LINGER));
        busy = batch.len() > 1;
        let outcomes = commit(&mut store, &batch, shared);
        for (entry, outcome) in batch.drain(..).zip(outcomes) {
            // A waiter that gave up (its connection closed) needs no answer.
            let _ = entry.ack.send(outcome);
        }
    }
}

/// Adds to `batch` the entries already queued and, if `until` is given, those that arrive before
/// it, up to [`MAX_BATCH`] in all.
fn gather(receiver: &mpsc::Receiver<Entry>, batch: &mut Vec<Entry>, until: Option<Instant>) {
    while batch.len() < MAX_BATCH {
        let next = match receiver.try_recv() {
            Ok(entry) => Some(entry),
            Err(mpsc::TryRecvError::Disconnected) => None,
            Err(mpsc::TryRecvError::Empty) => until.and_then(|until| {
                let left = until.saturating_duration_since(Instant::now());
                receiver.recv_timeout(left).ok()
            }),
        };
        match next {
            Some(entry) => batch.push(entry),
            None => break,
        }
    }
}

/// Commits one batch, or fails the journal for good; the outcome of each entry.
fn commit(store: &mut CloudStore, batch: &[Entry], shared: &Shared) -> Vec<Outcome> {
    let all = |outcome: Outcome| vec![outcome; batch.len()];
    if let Some(failed) = shared.failure.get() {
        return all(Err(failed.clone().into()));
    }
    let writes: Vec<Write<'_>> = batch
        .iter()
        .filter_map(|e| e.record.as_ref().and_then(Record::as_write))
        .collect();
    let placed: Vec<(BundleWrite<'_>, u64)> = batch
        .iter()
        .filter_map(|e| match &e.record {
            Some(Record::Placed { bundle, listed }) => Some((bundle.as_write(), *listed)),
            _ => None,
        })
        .collect();
    let committed = store.commit(&writes).and_then(|()| place(store, &placed));
    match committed {
        Ok(placements) => {
            if let Some(last) = batch.last() {
                shared.durable.store(last.ticket, Ordering::Release);
            }
            let mut placements = placements.into_iter();
            batch
                .iter()
                .map(|e| match e.record {
                    Some(Record::Placed { ref bundle, .. }) => {
                        verdict(&bundle.dp, placements.next())
                    }
                    _ => Ok(()),
                })
                .collect()
        }
        Err(e) => {
            error!(
                "committing {} records failed: {e}; refusing everything until restarted",
                writes.len() + placed.len()
            );
            all(Err(shared.fail(e.to_string()).into()))
        }
    }
}

/// Places `placed` bundles in the shared database, in one transaction.
fn place(
    store: &mut CloudStore,
    placed: &[(BundleWrite<'_>, u64)],
) -> Result<Vec<Placement>, StoreError> {
    if placed.is_empty() {
        return Ok(Vec::new());
    }
    let CloudStore::Postgres(pg) = store else {
        return Err(StoreError::Corrupt(
            "bundles placed by a shared database need PostgreSQL".into(),
        ));
    };
    let listed = |task: &[u8; 16]| {
        placed
            .iter()
            .find(|(b, _)| b.task == task)
            .map(|(_, listed)| *listed)
    };
    let bundles: Vec<BundleWrite<'_>> = placed.iter().map(|(b, _)| *b).collect();
    pg.place_bundles(&bundles, &listed, super::unix_now())
}

/// The ack of a placed bundle of `dp`.
fn verdict(dp: &str, placement: Option<Placement>) -> Outcome {
    match placement {
        Some(Placement::Placed(_) | Placement::Resent) => Ok(()),
        Some(Placement::Different) => Err(NotDone::Refused(format!(
            "{dp} already submitted a different bundle"
        ))),
        Some(Placement::Closed) => Err(NotDone::Refused("submissions are closed".into())),
        Some(Placement::UnknownTask) => Err(NotDone::Refused("unknown task".into())),
        None => Err(NotDone::Refused(
            "the store lost this bundle's placement".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed store's refusal is marked unavailable: clients retry it until the cloud, which
    /// exits, is restarted by its supervisor.
    #[test]
    fn a_failed_store_is_reported_as_temporarily_unavailable() {
        let failed = StoreFailed {
            reason: "disk full".into(),
        };
        assert!(failed.to_string().starts_with(crate::rpc::UNAVAILABLE));
        assert!(failed.to_string().contains("disk full"));
    }

    fn entry(ticket: u64) -> Entry {
        Entry {
            ticket,
            record: None,
            ack: oneshot::channel().0,
        }
    }

    /// The tickets [`gather`] takes into a fresh batch, waiting up to `wait` from now if given.
    fn gathered(receiver: &mpsc::Receiver<Entry>, wait: Option<Duration>) -> Vec<u64> {
        let mut batch = Vec::new();
        gather(receiver, &mut batch, wait.map(|w| Instant::now() + w));
        batch.iter().map(|e| e.ticket).collect()
    }

    /// Without a deadline the writer takes only what is queued; with one, it also takes what
    /// arrives before the deadline, and nothing after it.
    #[test]
    fn gathering_waits_for_late_entries_only_until_the_deadline() {
        let (sender, receiver) = mpsc::channel();
        sender.send(entry(1)).unwrap();
        sender.send(entry(2)).unwrap();
        assert_eq!(gathered(&receiver, None), [1, 2]);

        let late = sender.clone();
        let arriving = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            late.send(entry(3)).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            late.send(entry(4)).unwrap();
        });
        let started = Instant::now();
        assert_eq!(gathered(&receiver, Some(Duration::from_millis(500))), [3]);
        assert!(started.elapsed() >= Duration::from_millis(500));
        arriving.join().unwrap();
        assert_eq!(gathered(&receiver, None), [4]);
    }

    /// A batch never grows beyond [`MAX_BATCH`], however many entries wait, and a closed queue
    /// ends the gathering at once.
    #[test]
    fn gathering_stops_at_the_batch_limit_and_at_a_closed_queue() {
        let (sender, receiver) = mpsc::channel();
        for ticket in 0..(MAX_BATCH as u64 + 5) {
            sender.send(entry(ticket)).unwrap();
        }
        let long = Some(Duration::from_secs(60));
        assert_eq!(gathered(&receiver, long).len(), MAX_BATCH);
        drop(sender);
        let started = Instant::now();
        assert_eq!(gathered(&receiver, long).len(), 5);
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
