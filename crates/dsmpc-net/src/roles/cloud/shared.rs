//! Several cloud front-ends over one PostgreSQL database: each keeps a replica of every task in
//! memory and brings it up to date from the database before it decides anything.
//!
//! * **Bundles** are not applied to the replica when they arrive. The journal offers them to
//!   the database ([`Record::Placed`]), which gives positions, answers resends and refuses
//!   bundles after submissions closed (see [`crate::store::pg_shared`]). Replicas learn of them
//!   when they catch up.
//! * **Every other message that changes a task** (an admission, a report, closing submissions
//!   or the input set) is applied under the task's row lock ([`CloudServer::locked`]): the
//!   replica first reads what other front-ends committed, then applies the message, then writes
//!   its event, all in one transaction. Should that commit fail, the replica holds what the
//!   database does not, so the front-end stops as it does when its journal fails, and replays
//!   when restarted.
//! * **Deadlines** are leased: every front-end ticks, but only the one that takes a task's lease
//!   closes it, and its write checks the lease.
//! * **Reads** catch the task up first where a stale answer would mislead (a CP's cursor, the
//!   committee, the status); [`CloudServer::sync_all`] runs every [`SYNC_EVERY`] besides, so
//!   that waits hear of news committed by another front-end.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::rpc::Phase;
use dsmpc_core::identity::SecretIdentity;
use dsmpc_core::task::TaskId;
use tracing::{info, warn};

use super::journal::Record;
use super::{CloudServer, Mark, Replica, State, replay};
use crate::rpc::UNAVAILABLE;
use crate::store::pg::PgStore;
use crate::store::pg_shared::{Lease, TaskTx, TaskTxError};
use crate::store::{CloudStore, StoreError, StoreLocation, TaskStatus};

/// How often a front-end reads what the others committed, when nothing else made it look.
pub(super) const SYNC_EVERY: Duration = Duration::from_millis(100);

/// How long a lease on a task's periodic work lasts: longer than closing the largest input set
/// takes, short enough that another front-end takes over soon after the holder died.
const LEASE_SECS: u32 = 30;

/// The connection a front-end catches up and writes events on, and its name in leases.
pub(super) struct SharedDb {
    conn: Mutex<CloudStore>,
    holder: String,
}

impl SharedDb {
    /// The shared database behind `location`, if it is PostgreSQL, and the creation number of
    /// its newest task (read before the replay, so no task created meanwhile is missed).
    pub(super) fn open(
        location: &StoreLocation,
        identity: &SecretIdentity,
    ) -> Result<(Option<SharedDb>, i64), StoreError> {
        let StoreLocation::Postgres(_) = location else {
            return Ok((None, 0));
        };
        let mut conn = location.open()?;
        let last_num = pg(&mut conn)
            .heads(0, &[])?
            .iter()
            .map(|h| h.num)
            .max()
            .unwrap_or(0);
        let mut tag = [0u8; 4];
        rand::Rng::fill_bytes(&mut dsmpc_core::rng::os_rng(), &mut tag);
        let holder = format!(
            "{} pid {} ({})",
            identity.id(),
            std::process::id(),
            hex::encode(tag)
        );
        let db = SharedDb {
            conn: Mutex::new(conn),
            holder,
        };
        Ok((Some(db), last_num))
    }

    fn lock(&self) -> MutexGuard<'_, CloudStore> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The PostgreSQL store a shared database always is.
fn pg(store: &mut CloudStore) -> &mut PgStore {
    match store {
        CloudStore::Postgres(pg) => pg,
        CloudStore::Sqlite(_) => unreachable!("a shared database is PostgreSQL"),
    }
}

/// Runs blocking store work from async code: off the runtime's worker on a multi-threaded
/// runtime, in place otherwise.
pub(crate) fn blocking<R>(work: impl FnOnce() -> R) -> R {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}

/// Why a message that needed the database was not applied, as a client should read it.
fn unavailable(e: impl std::fmt::Display) -> String {
    format!("{UNAVAILABLE}the shared database: {e}")
}

impl CloudServer {
    /// Catches every open task up with the shared database and loads tasks other front-ends
    /// created; whether anything changed.
    pub(super) fn sync_all(&self, state: &mut State) -> Result<bool, String> {
        let Some(db) = &self.shared else {
            return Ok(false);
        };
        let mut conn = db.lock();
        // Tasks this replica has not seen closed: another front-end may have closed them.
        let watching: Vec<[u8; 16]> = state
            .meta
            .iter()
            .filter(|(_, m)| m.phase < Phase::Aggregating)
            .map(|(id, _)| id.0)
            .collect();
        let heads =
            blocking(|| pg(&mut conn).heads(state.last_num, &watching)).map_err(unavailable)?;
        let mut changed = false;
        for head in heads {
            state.last_num = state.last_num.max(head.num);
            let id = TaskId(head.id);
            let behind = match state.marks.get(&id) {
                None => true,
                Some(mark) => head.last_seq > mark.seq || head.next_pos > mark.bundles,
            };
            if behind && head.status != TaskStatus::Failed {
                // While a task collects, its bundles are read when a request needs them (a
                // CP's page, a status) or the task's next event does: reading every new core
                // ten times a second would cost the database as much as storing them.
                let cores = !head.collecting;
                changed |= self.catch_up(&mut conn, state, id, cores)?;
            }
        }
        Ok(changed)
    }

    /// Catches task `id` up with the shared database (loading it if this front-end has not
    /// seen it); whether anything changed. Nothing to do without a shared database.
    pub(super) fn sync_task(&self, state: &mut State, id: &TaskId) -> Result<bool, String> {
        let Some(db) = &self.shared else {
            return Ok(false);
        };
        let mut conn = db.lock();
        let head = blocking(|| pg(&mut conn).head(&id.0)).map_err(unavailable)?;
        let Some(head) = head else {
            return Ok(false);
        };
        let behind = match state.marks.get(id) {
            None => true,
            Some(mark) => head.last_seq > mark.seq || head.next_pos > mark.bundles,
        };
        if !behind {
            return Ok(false);
        }
        self.catch_up(&mut conn, state, *id, true)
    }

    /// Reads task `id`'s news from `conn` into the replica (the whole task if it is new here).
    /// Without `cores`, new bundles are left for later unless a new event other than an
    /// admission needs them first.
    fn catch_up(
        &self,
        conn: &mut CloudStore,
        state: &mut State,
        id: TaskId,
        cores: bool,
    ) -> Result<bool, String> {
        if !state.meta.contains_key(&id) {
            return blocking(|| self.load(conn, state, id));
        }
        let mark = state.marks.get(&id).copied().unwrap_or_default();
        let (events, cores) = blocking(|| {
            let store = pg(conn);
            // Events first: a bundle always commits before the event that closes submissions.
            let events = store.events_after(&id.0, mark.seq)?;
            let needed = cores || events.iter().any(|e| e.kind != "admission");
            let cores = match needed {
                true => store.cores_from(&id.0, mark.bundles)?,
                false => Vec::new(),
            };
            Ok::<_, StoreError>((events, cores))
        })
        .map_err(unavailable)?;
        if events.is_empty() && cores.is_empty() {
            return Ok(false);
        }
        let mut shares = |dp: &str, index: u32| {
            blocking(|| pg(conn).share_of(&id.0, dp, index)).map_err(|e| e.to_string())
        };
        self.apply_news(state, id, events, cores, &mut shares)?;
        Ok(true)
    }

    /// Applies news of task `id` read from the database to its replica.
    fn apply_news(
        &self,
        state: &mut State,
        id: TaskId,
        events: Vec<crate::store::Event>,
        cores: Vec<crate::store::StoredCore>,
        shares: &mut super::ShareSource<'_>,
    ) -> Result<(), String> {
        let gens = match state.cloud.task(&id) {
            Ok(task) => self.gens.for_task(&task.body).map_err(|e| e.to_string())?,
            Err(e) => return Err(e.to_string()),
        };
        let State {
            cloud,
            rng,
            meta,
            marks,
            ..
        } = state;
        let (Some(meta), mark) = (meta.get_mut(&id), marks.entry(id).or_default()) else {
            return Err(format!("task {id} is not loaded"));
        };
        let before = meta.phase;
        let replica = Replica {
            cloud,
            rng,
            gens: gens.as_deref(),
            id,
        };
        replica.catch_up(meta, mark, events, cores, shares)?;
        if meta.phase != before {
            info!(task = %id, phase = ?meta.phase, "caught up with the shared database");
        }
        Ok(())
    }

    /// Loads a task another front-end created.
    fn load(&self, conn: &mut CloudStore, state: &mut State, id: TaskId) -> Result<bool, String> {
        let Some(spec) = pg(conn).spec(&id.0).map_err(unavailable)? else {
            return Ok(false);
        };
        let (meta, mark) = replay(
            &mut state.cloud,
            &mut state.rng,
            conn,
            &self.gens,
            id,
            &spec,
        )?;
        let task = state.cloud.task(&id).map_err(|e| e.to_string())?.clone();
        let task = std::sync::Arc::new(task);
        self.remember_task(&task);
        state.meta.insert(id, meta);
        state.marks.insert(id, mark);
        info!(task = %id, "task loaded from the shared database");
        Ok(true)
    }

    /// Runs `op` on task `id` under its row lock in the shared database, after catching the
    /// replica up, and commits the events `op` wrote. The refusal's reason if `op` refused, the
    /// lease was lost, or the database failed; if the commit failed after `op` changed the
    /// replica, the front-end stops (as when its journal fails).
    pub(super) fn locked<R>(
        &self,
        state: &mut State,
        id: TaskId,
        lease: Option<Lease>,
        op: impl FnOnce(&Self, &mut State, &mut TaskTx<'_>) -> Result<R, TaskTxError>,
    ) -> Result<R, String> {
        let Some(db) = &self.shared else {
            return Err("no shared database".into());
        };
        if !state.meta.contains_key(&id) {
            self.sync_task(state, &id)?;
        }
        if !state.meta.contains_key(&id) {
            return Err(format!("unknown task {id}"));
        }
        let mut conn = db.lock();
        let outcome = blocking(|| {
            pg(&mut conn).with_task(&id.0, lease, |ttx| {
                let mark = state.marks.get(&id).copied().unwrap_or_default();
                let events = ttx.events_after(mark.seq)?;
                let cores = ttx.cores_from(mark.bundles)?;
                let mut shares =
                    |dp: &str, index: u32| ttx.share_of(dp, index).map_err(|e| e.to_string());
                self.apply_news(state, id, events, cores, &mut shares)
                    .map_err(TaskTxError::Refused)?;
                op(self, state, ttx)
            })
        });
        match outcome {
            Ok(r) => Ok(r),
            Err(TaskTxError::Refused(reason)) => Err(reason),
            Err(TaskTxError::LeaseLost) => Err(TaskTxError::LeaseLost.to_string()),
            Err(TaskTxError::Before(e)) => Err(unavailable(e)),
            Err(TaskTxError::After(e)) => {
                let reason = format!("writing task {id} to the shared database failed: {e}");
                warn!("{reason}; refusing everything until restarted");
                Err(state.journal.fail(reason).to_string())
            }
        }
    }

    /// Shared mode's periodic work: catch up, then close what is due, each task under a lease
    /// so that one front-end does it.
    pub(super) fn tick_shared(&self, state: &mut State, now: u64) -> bool {
        let mut advanced = match self.sync_all(state) {
            Ok(changed) => changed,
            Err(e) => {
                warn!("{e}");
                return false;
            }
        };
        for (id, phase) in self.due(state, now) {
            let Some(db) = &self.shared else {
                return advanced;
            };
            let claimed = {
                let mut conn = db.lock();
                blocking(|| pg(&mut conn).claim_lease(&id.0, &db.holder, LEASE_SECS))
            };
            let lease = match claimed {
                Ok(Some(lease)) => lease,
                Ok(None) => continue,
                Err(e) => {
                    warn!(task = %id, "could not take the task's lease: {e}");
                    continue;
                }
            };
            let done = self.locked(state, id, Some(lease), |this, state, ttx| {
                // Another front-end may have done it before this one took the lease.
                if !this.due(state, now).contains(&(id, phase)) {
                    return Ok(false);
                }
                match phase {
                    Phase::Collecting => this.close_submissions_in(state, &id, now, ttx)?,
                    _ => this.close_input_set_in(state, &id, ttx)?,
                }
                Ok(true)
            });
            match done {
                Ok(did) => advanced |= did,
                Err(e) => warn!(task = %id, "could not advance the task: {e}"),
            }
        }
        advanced
    }

    /// Writes `close-submissions` for task `id` in `ttx` and applies it.
    pub(super) fn close_submissions_in(
        &self,
        state: &mut State,
        id: &TaskId,
        now: u64,
        ttx: &mut TaskTx<'_>,
    ) -> Result<(), TaskTxError> {
        let seq = ttx.append("close-submissions", &now.to_le_bytes())?;
        if let Some(m) = state.meta.get_mut(id) {
            m.phase = Phase::Verifying;
            m.verifying_since = now;
        }
        state.marks.entry(*id).or_default().seq = seq;
        info!(task = %id, "submissions closed");
        Ok(())
    }

    /// Closes task `id`'s input set in the replica and writes it in `ttx`.
    pub(super) fn close_input_set_in(
        &self,
        state: &mut State,
        id: &TaskId,
        ttx: &mut TaskTx<'_>,
    ) -> Result<(), TaskTxError> {
        let body = self
            .input_set_event(state, id)
            .map_err(TaskTxError::Refused)?;
        let seq = ttx.append("input-set", &body)?;
        ttx.set_status(TaskStatus::Closed)?;
        state.marks.entry(*id).or_default().seq = seq;
        Ok(())
    }

    /// Appends event `kind` for task `id` in `ttx` and moves the replica's mark past it.
    pub(super) fn append_in(
        state: &mut State,
        id: &TaskId,
        kind: &str,
        body: &[u8],
        ttx: &mut TaskTx<'_>,
    ) -> Result<(), TaskTxError> {
        let seq = ttx.append(kind, body)?;
        state.marks.entry(*id).or_default().seq = seq;
        Ok(())
    }

    /// Offers a checked bundle to the shared database through the journal; its ack says what
    /// became of it.
    pub(super) fn place_bundle(
        state: &mut State,
        listed: u64,
        bundle: super::journal::BundleRecord,
    ) -> super::journal::Ack {
        state.journal.record(Record::Placed { bundle, listed })
    }

    /// The mark of a task this front-end just created, whose `dp-list` event has `seq`.
    pub(super) fn created_mark(seq: u64) -> Mark {
        Mark { seq, bundles: 0 }
    }
}

impl SharedDb {
    /// Writes a task this front-end created, with its `dp-list` event; the event's `seq`.
    pub(super) fn create_task(
        &self,
        id: &TaskId,
        spec: &[u8],
        dp_list: &[u8],
    ) -> Result<u64, StoreError> {
        let mut conn = self.lock();
        blocking(|| pg(&mut conn).create_task_with(&id.0, spec, "dp-list", dp_list))
    }
}
