//! Several cloud front-ends over one PostgreSQL database: the writes whose order matters, made
//! safe against each other.
//!
//! Every front-end keeps a replica of each task in memory and catches it up from the database
//! ([`PgStore::head`], [`PgStore::events_after`], [`PgStore::cores_from`]). Order comes from the
//! task's row in `tasks`:
//!
//! * **Bundles** ([`PgStore::place_bundles`]) lock the rows of their tasks (in id order, so two
//!   batches never deadlock), take their positions from `next_pos` and insert, at READ
//!   COMMITTED. The lock is held to the commit, so positions commit in order: a reader that sees
//!   position p has seen every position before it, and a CP's cursor never skips a bundle. A DP
//!   already stored is answered from the database (the same core: a resend; another: refused),
//!   and a task whose `collecting` is false takes no more. The batch that fills the DP list
//!   closes submissions in the same transaction.
//! * **Events** (admissions, reports, closing) go through [`PgStore::with_task`]: a REPEATABLE
//!   READ transaction that first writes the task's row (which locks it). A write that meets a
//!   concurrent one fails with a serialization failure (or, in principle, a deadlock) before
//!   anything else ran; it is retried with backoff, on a snapshot that holds what the other
//!   committed. Under the lock the front-end reads what others committed,
//!   applies the message to its replica and appends the event: per task, events commit in
//!   `seq` order.
//! * **Periodic work** (deadlines) is leased: [`PgStore::claim_lease`] takes a task whose lease
//!   is free or expired with `FOR UPDATE SKIP LOCKED`, under a fresh token from `lease_tokens`,
//!   for a few seconds. The write that does the work checks the token and the expiry under the
//!   row lock and clears the lease when it commits: a front-end that stalled past its lease
//!   writes nothing.

use std::collections::HashMap;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{GenericClient, IsolationLevel, Transaction};

use super::pg::{PgStore, pg, status_of};
use super::{BundleWrite, Event, StoreError, StoredCore, StoredShare, TaskStatus, task_id, to_seq};
use super::{parse_status, pg::update_status};

/// Where a task stands in the database: what a front-end compares with its replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskHead {
    /// The order in which tasks were created.
    pub num: i64,
    /// The task id.
    pub id: [u8; 16],
    /// Its status.
    pub status: TaskStatus,
    /// How many bundles it holds (the next position).
    pub next_pos: u64,
    /// Whether it still takes bundles.
    pub collecting: bool,
    /// The `seq` of its last event (0: none).
    pub last_seq: u64,
}

/// What became of a bundle offered by [`PgStore::place_bundles`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Stored at this position.
    Placed(u64),
    /// The DP's identical bundle was stored before (a resend).
    Resent,
    /// The DP stored a different bundle before.
    Different,
    /// The task takes no more bundles.
    Closed,
    /// No such task.
    UnknownTask,
}

/// A front-end's lease on a task's periodic work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The token every write under the lease checks.
    pub token: i64,
}

/// Why [`PgStore::with_task`] wrote nothing, or what failed.
#[derive(Debug)]
pub enum TaskTxError {
    /// The caller refused the message; nothing was written.
    Refused(String),
    /// The lease expired or was taken over; nothing was written.
    LeaseLost,
    /// The database failed before the caller's function ran: nothing changed anywhere.
    Before(StoreError),
    /// The database failed after the caller's function ran (in it, or at the commit): the
    /// caller's replica may hold what the database does not.
    After(StoreError),
}

impl std::fmt::Display for TaskTxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskTxError::Refused(reason) => f.write_str(reason),
            TaskTxError::LeaseLost => f.write_str("the lease on the task's work was lost"),
            TaskTxError::Before(e) | TaskTxError::After(e) => write!(f, "{e}"),
        }
    }
}

/// How many times a lock that met a concurrent writer is tried again.
const LOCK_ATTEMPTS: u32 = 60;

/// The head of each task: its row and its last event.
const HEAD: &str = "SELECT t.num, t.id, t.status, t.next_pos, t.collecting,
        (SELECT coalesce(max(e.seq), 0) FROM events e WHERE e.task = t.id)
    FROM tasks t";

fn head_of(row: &postgres::Row) -> Result<TaskHead, StoreError> {
    let id: Vec<u8> = row.get(1);
    let status: String = row.get(2);
    Ok(TaskHead {
        num: row.get(0),
        id: task_id(&id)?,
        status: parse_status(&status)?,
        next_pos: to_seq(row.get(3))?,
        collecting: row.get(4),
        last_seq: to_seq(row.get(5))?,
    })
}

/// Whether a failed statement may succeed when its transaction is run again.
fn is_conflict(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// [`is_conflict`], or a bundle of a DP that a concurrent batch stored first.
fn is_placement_conflict(e: &postgres::Error) -> bool {
    is_conflict(e) || e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn events_after<C: GenericClient>(
    c: &mut C,
    task: &[u8; 16],
    seq: u64,
) -> Result<Vec<Event>, postgres::Error> {
    let after = i64::try_from(seq).unwrap_or(i64::MAX);
    let rows = c.query(
        "SELECT seq, kind, body FROM events WHERE task = $1 AND seq > $2 ORDER BY seq",
        &[&&task[..], &after],
    )?;
    Ok(rows
        .iter()
        .map(|r| Event {
            seq: u64::try_from(r.get::<_, i64>(0)).unwrap_or_default(),
            kind: r.get(1),
            body: r.get(2),
        })
        .collect())
}

fn cores_from<C: GenericClient>(
    c: &mut C,
    task: &[u8; 16],
    pos: u64,
) -> Result<Vec<StoredCore>, postgres::Error> {
    let from = i64::try_from(pos).unwrap_or(i64::MAX);
    let rows = c.query(
        "SELECT pos, dp, core FROM bundles WHERE task = $1 AND pos >= $2 ORDER BY pos",
        &[&&task[..], &from],
    )?;
    Ok(rows
        .iter()
        .map(|r| StoredCore {
            pos: u64::try_from(r.get::<_, i64>(0)).unwrap_or_default(),
            dp: r.get(1),
            core: r.get(2),
        })
        .collect())
}

impl PgStore {
    /// The head of every open task, of every task created after `after_num`, and of the tasks
    /// `watching` (those a replica has not seen closed: another front-end may have closed them
    /// since), in creation order.
    pub fn heads(
        &mut self,
        after_num: i64,
        watching: &[[u8; 16]],
    ) -> Result<Vec<TaskHead>, StoreError> {
        self.ensure_connected()?;
        let ids: Vec<&[u8]> = watching.iter().map(|id| &id[..]).collect();
        let sql = format!(
            "{HEAD} WHERE t.status = 'open' OR t.num > $1 OR t.id = ANY($2) ORDER BY t.num"
        );
        let rows = self
            .client
            .query(&sql, &[&after_num, &ids])
            .map_err(pg(&self.url))?;
        rows.iter().map(head_of).collect()
    }

    /// The head of `task`, if it exists.
    pub fn head(&mut self, task: &[u8; 16]) -> Result<Option<TaskHead>, StoreError> {
        self.ensure_connected()?;
        let sql = format!("{HEAD} WHERE t.id = $1");
        let row = self
            .client
            .query_opt(&sql, &[&&task[..]])
            .map_err(pg(&self.url))?;
        row.as_ref().map(head_of).transpose()
    }

    /// `task`'s spec, if it exists.
    pub fn spec(&mut self, task: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
        self.ensure_connected()?;
        let row = self
            .client
            .query_opt("SELECT spec FROM tasks WHERE id = $1", &[&&task[..]])
            .map_err(pg(&self.url))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// `task`'s events after `seq`, in order.
    pub fn events_after(&mut self, task: &[u8; 16], seq: u64) -> Result<Vec<Event>, StoreError> {
        self.ensure_connected()?;
        events_after(&mut *self.client, task, seq).map_err(pg(&self.url))
    }

    /// `task`'s bundle cores from position `pos` on, in order.
    pub fn cores_from(&mut self, task: &[u8; 16], pos: u64) -> Result<Vec<StoredCore>, StoreError> {
        self.ensure_connected()?;
        cores_from(&mut *self.client, task, pos).map_err(pg(&self.url))
    }

    /// Creates a task with its first event (its DP list) in one transaction; returns the
    /// event's `seq`.
    pub fn create_task_with(
        &mut self,
        task: &[u8; 16],
        spec: &[u8],
        kind: &str,
        body: &[u8],
    ) -> Result<u64, StoreError> {
        self.ensure_connected()?;
        let url = self.url.clone();
        let e = pg(&url);
        let mut tx = self.client.transaction().map_err(&e)?;
        tx.execute(
            "INSERT INTO tasks (id, status, spec) VALUES ($1, 'open', $2)",
            &[&&task[..], &spec],
        )
        .map_err(&e)?;
        let seq: i64 = tx
            .query_one(
                "INSERT INTO events (task, kind, body) VALUES ($1, $2, $3) RETURNING seq",
                &[&&task[..], &kind, &body],
            )
            .map_err(&e)?
            .get(0);
        tx.commit().map_err(&e)?;
        to_seq(seq)
    }

    /// Stores what it can of `bundles` (their `pos` is ignored: positions come from each task's
    /// row), in one transaction, and says what became of each. `now` is the clock a
    /// `close-submissions` event records when a batch fills its task's DP list, given each
    /// task's list length by `listed`.
    pub fn place_bundles(
        &mut self,
        bundles: &[BundleWrite<'_>],
        listed: &dyn Fn(&[u8; 16]) -> Option<u64>,
        now: u64,
    ) -> Result<Vec<Placement>, StoreError> {
        if bundles.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_connected()?;
        let url = self.url.clone();
        let e = pg(&url);
        let (mut attempt, mut reconnected) = (0, false);
        loop {
            attempt += 1;
            let placed = self.client.transaction().and_then(|mut tx| {
                let placements = place_in(&mut tx, bundles, listed, now)?;
                tx.commit().map(|()| placements)
            });
            match placed {
                Ok(placements) => return Ok(placements),
                Err(err) if is_placement_conflict(&err) && attempt < LOCK_ATTEMPTS => {
                    backoff(attempt)
                }
                // The server restarted: run the batch again on a new connection. Even if the
                // lost connection committed it, placing is idempotent (each bundle comes back
                // as a resend).
                Err(_) if self.client.is_closed() && !reconnected => {
                    reconnected = true;
                    self.ensure_connected()?;
                }
                Err(err) => return Err(e(err)),
            }
        }
    }

    /// Takes the lease on `task`'s periodic work for `for_secs`, unless another front-end holds
    /// an unexpired one (or is writing the task right now); `None` then.
    pub fn claim_lease(
        &mut self,
        task: &[u8; 16],
        holder: &str,
        for_secs: u32,
    ) -> Result<Option<Lease>, StoreError> {
        self.ensure_connected()?;
        let secs = f64::from(for_secs);
        let row = self
            .client
            .query_opt(
                "UPDATE tasks SET lease_holder = $2, lease_token = nextval('lease_tokens'),
                     lease_expires = now() + make_interval(secs => $3)
                 WHERE id = (SELECT id FROM tasks WHERE id = $1 AND status = 'open'
                             AND (lease_expires IS NULL OR lease_expires < now())
                             FOR UPDATE SKIP LOCKED)
                 RETURNING lease_token",
                &[&&task[..], &holder, &secs],
            )
            .map_err(pg(&self.url))?;
        Ok(row.map(|r| Lease { token: r.get(0) }))
    }

    /// Runs `work` in a REPEATABLE READ transaction that holds `task`'s row lock, and commits
    /// what it wrote unless it refused. With `lease`, the lease must still be this one and
    /// unexpired, and the commit releases it. A lock that meets a concurrent writer is tried
    /// again (up to [`LOCK_ATTEMPTS`] times) before `work` runs.
    pub fn with_task<R>(
        &mut self,
        task: &[u8; 16],
        lease: Option<Lease>,
        work: impl FnOnce(&mut TaskTx<'_>) -> Result<R, TaskTxError>,
    ) -> Result<R, TaskTxError> {
        self.ensure_connected().map_err(TaskTxError::Before)?;
        let url = self.url.clone();
        let e = pg(&url);
        let (mut attempt, mut reconnected) = (0, false);
        let mut work = Some(work);
        // Nothing has run when the lock fails: a conflict or a lost connection is tried again.
        loop {
            attempt += 1;
            if reconnected {
                self.ensure_connected().map_err(TaskTxError::Before)?;
            }
            let mut tx = match self
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .start()
            {
                Ok(tx) => tx,
                Err(err) if err.is_closed() && !reconnected => {
                    reconnected = true;
                    continue;
                }
                Err(err) => return Err(TaskTxError::Before(e(err))),
            };
            let head = match lock_task(&mut tx, task, lease) {
                Ok(Some(head)) => head,
                Ok(None) if lease.is_some() => return Err(TaskTxError::LeaseLost),
                Ok(None) => return Err(TaskTxError::Before(StoreError::UnknownTask(*task))),
                Err(err) if is_conflict(&err) && attempt < LOCK_ATTEMPTS => {
                    drop(tx);
                    backoff(attempt);
                    continue;
                }
                Err(err) if err.is_closed() && !reconnected => {
                    drop(tx);
                    reconnected = true;
                    continue;
                }
                Err(err) => return Err(TaskTxError::Before(e(err))),
            };
            let Some(work) = work.take() else {
                return Err(TaskTxError::Before(StoreError::Corrupt(
                    "a task's work ran twice".into(),
                )));
            };
            let mut ttx = TaskTx {
                tx,
                task: *task,
                url: url.clone(),
                head,
            };
            let out = work(&mut ttx)?;
            if lease.is_some() {
                ttx.tx
                    .execute(
                        "UPDATE tasks SET lease_holder = NULL, lease_token = NULL,
                             lease_expires = NULL WHERE id = $1",
                        &[&&task[..]],
                    )
                    .map_err(|err| TaskTxError::After(e(err)))?;
            }
            ttx.tx.commit().map_err(|err| TaskTxError::After(e(err)))?;
            return Ok(out);
        }
    }
}

/// Waits a little longer after each conflict, with jitter, so that contenders spread out.
fn backoff(attempt: u32) {
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() % 8),
    );
    let millis = (2 * u64::from(attempt.min(25))).saturating_add(jitter);
    std::thread::sleep(Duration::from_millis(millis));
}

/// Locks `task`'s row; `None` if there is no such task, or `lease` is given but no longer
/// holds.
fn lock_task(
    tx: &mut Transaction<'_>,
    task: &[u8; 16],
    lease: Option<Lease>,
) -> Result<Option<TaskHead>, postgres::Error> {
    // An update, not `SELECT … FOR UPDATE`: a transaction that merely locked the row and
    // committed events would not conflict with this one's snapshot, taken before the lock was
    // granted, and this one would read the task without those events. Writing the row makes
    // every locked write conflict with the ones it waited for, so it fails and runs again on a
    // snapshot that holds them.
    let row = tx.query_opt(
        "UPDATE tasks t SET next_pos = t.next_pos WHERE t.id = $1
         RETURNING t.num, t.id, t.status, t.next_pos, t.collecting,
             (SELECT coalesce(max(e.seq), 0) FROM events e WHERE e.task = t.id),
             t.lease_token, t.lease_expires > now()",
        &[&&task[..]],
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    if let Some(lease) = lease {
        let token: Option<i64> = row.get(6);
        let live: Option<bool> = row.get(7);
        if token != Some(lease.token) || live != Some(true) {
            return Ok(None);
        }
    }
    Ok(head_of(&row).ok())
}

/// The body of [`PgStore::place_bundles`]: one attempt, in four statements however many tasks
/// and bundles the batch holds (six when it fills a task's list).
///
/// 1. The DPs already stored are looked up; their bundles are resends or refused.
/// 2. The positions of the new ones are reserved by one `UPDATE` of their tasks' rows, which
///    locks them to the commit (so positions commit in order) and skips tasks that no longer
///    collect. Two batches that lock the same rows in another order may deadlock: PostgreSQL
///    breaks it (40P01) and the batch runs again.
/// 3. The bundles and their shares go in. A DP stored by a concurrent batch since step 1 breaks
///    the unique index (23505): the batch runs again and finds it in step 1.
fn place_in(
    tx: &mut Transaction<'_>,
    bundles: &[BundleWrite<'_>],
    listed: &dyn Fn(&[u8; 16]) -> Option<u64>,
    now: u64,
) -> Result<Vec<Placement>, postgres::Error> {
    let (keys, names): (Vec<&[u8]>, Vec<&str>) =
        bundles.iter().map(|b| (&b.task[..], b.dp)).unzip();
    // Task → DP → its stored core.
    let mut stored: HashMap<[u8; 16], HashMap<String, Vec<u8>>> = HashMap::new();
    for row in tx.query(
        "SELECT b.task, b.dp, b.core FROM bundles b
         JOIN unnest($1::bytea[], $2::text[]) AS u (t, d) ON b.task = u.t AND b.dp = u.d",
        &[&keys, &names],
    )? {
        let task: Vec<u8> = row.get(0);
        if let Ok(task) = <[u8; 16]>::try_from(task.as_slice()) {
            stored
                .entry(task)
                .or_default()
                .insert(row.get(1), row.get(2));
        }
    }
    // Which bundles are new (the first copy of a DP within the batch), per task.
    let mut verdicts: Vec<Option<Placement>> = Vec::with_capacity(bundles.len());
    let mut fresh: HashMap<([u8; 16], &str), &[u8]> = HashMap::new();
    let mut wanted: HashMap<[u8; 16], i64> = HashMap::new();
    for b in bundles {
        let earlier = stored
            .get(b.task)
            .and_then(|dps| dps.get(b.dp))
            .map(Vec::as_slice)
            .or_else(|| fresh.get(&(*b.task, b.dp)).copied());
        verdicts.push(match earlier {
            Some(core) if core == b.core => Some(Placement::Resent),
            Some(_) => Some(Placement::Different),
            None if b.share_lens.iter().sum::<u64>() != b.shares.len() as u64 => {
                // Share lengths that do not add up: stored as nothing, refused as different.
                Some(Placement::Different)
            }
            None => {
                fresh.insert((*b.task, b.dp), b.core);
                *wanted.entry(*b.task).or_default() += 1;
                None
            }
        });
    }
    let mut tasks: Vec<([u8; 16], i64)> = wanted.into_iter().collect();
    tasks.sort_unstable();
    let (ids, counts): (Vec<&[u8]>, Vec<i64>) = tasks.iter().map(|(t, k)| (&t[..], *k)).unzip();
    let mut first: HashMap<[u8; 16], i64> = HashMap::new();
    if !ids.is_empty() {
        for row in tx.query(
            "UPDATE tasks t SET next_pos = t.next_pos + u.k
             FROM unnest($1::bytea[], $2::bigint[]) AS u (id, k)
             WHERE t.id = u.id AND t.collecting
             RETURNING t.id, t.next_pos - u.k",
            &[&ids, &counts],
        )? {
            let id: Vec<u8> = row.get(0);
            if let Ok(id) = <[u8; 16]>::try_from(id.as_slice()) {
                first.insert(id, row.get(1));
            }
        }
    }
    // Tasks that did not take their bundles: closed, or unknown.
    let missing: Vec<&[u8]> = tasks
        .iter()
        .filter(|(t, _)| !first.contains_key(t))
        .map(|(t, _)| &t[..])
        .collect();
    let known: std::collections::HashSet<Vec<u8>> = match missing.is_empty() {
        true => Default::default(),
        false => tx
            .query("SELECT id FROM tasks WHERE id = ANY($1)", &[&missing])?
            .iter()
            .map(|r| r.get(0))
            .collect(),
    };
    let mut pending = super::pg::Pending::default();
    let mut next = first;
    let mut placements = Vec::with_capacity(bundles.len());
    for (b, verdict) in bundles.iter().zip(verdicts) {
        if let Some(v) = verdict {
            placements.push(v);
            continue;
        }
        let Some(pos) = next.get_mut(b.task) else {
            placements.push(match known.contains(&b.task[..]) {
                true => Placement::Closed,
                false => Placement::UnknownTask,
            });
            continue;
        };
        let at = u64::try_from(*pos).unwrap_or_default();
        // Cannot fail: the share lengths were checked above.
        let _ = pending.bundle(&BundleWrite { pos: at, ..*b });
        *pos += 1;
        placements.push(Placement::Placed(at));
    }
    pending.flush_rows(tx)?;
    let full: Vec<&[u8]> = tasks
        .iter()
        .filter(|(t, _)| {
            next.get(t)
                .is_some_and(|n| listed(t).is_some_and(|l| u64::try_from(*n).is_ok_and(|n| n >= l)))
        })
        .map(|(t, _)| &t[..])
        .collect();
    if !full.is_empty() {
        // The batch that stores a task's last listed DP closes its submissions.
        tx.execute(
            "UPDATE tasks SET collecting = false WHERE id = ANY($1)",
            &[&full],
        )?;
        tx.execute(
            "INSERT INTO events (task, kind, body)
             SELECT t, 'close-submissions', $2 FROM unnest($1::bytea[]) AS u (t)",
            &[&full, &now.to_le_bytes().to_vec()],
        )?;
    }
    Ok(placements)
}

/// A transaction holding one task's row lock ([`PgStore::with_task`]).
pub struct TaskTx<'a> {
    tx: Transaction<'a>,
    task: [u8; 16],
    url: String,
    head: TaskHead,
}

impl TaskTx<'_> {
    fn err(&self) -> impl Fn(postgres::Error) -> TaskTxError + '_ {
        move |e| TaskTxError::After(pg(&self.url)(e))
    }

    /// The task's head as the lock found it.
    pub fn head(&self) -> &TaskHead {
        &self.head
    }

    /// The task's events after `seq`.
    pub fn events_after(&mut self, seq: u64) -> Result<Vec<Event>, TaskTxError> {
        let task = self.task;
        let e = pg(&self.url);
        events_after(&mut self.tx, &task, seq).map_err(|err| TaskTxError::After(e(err)))
    }

    /// The task's bundle cores from `pos` on.
    pub fn cores_from(&mut self, pos: u64) -> Result<Vec<StoredCore>, TaskTxError> {
        let task = self.task;
        let e = pg(&self.url);
        cores_from(&mut self.tx, &task, pos).map_err(|err| TaskTxError::After(e(err)))
    }

    /// DP `dp`'s stored bundle core and share for CP `index`.
    pub fn share_of(&mut self, dp: &str, index: u32) -> Result<Option<StoredShare>, TaskTxError> {
        let task = self.task;
        let e = pg(&self.url);
        super::pg::share_of(&mut self.tx, &task, dp, index, &e).map_err(TaskTxError::After)
    }

    /// Appends an event; returns its `seq`. A `close-submissions` event also stops the task
    /// taking bundles.
    pub fn append(&mut self, kind: &str, body: &[u8]) -> Result<u64, TaskTxError> {
        let task = self.task;
        let e = pg(&self.url);
        let seq: i64 = self
            .tx
            .query_one(
                "INSERT INTO events (task, kind, body) VALUES ($1, $2, $3) RETURNING seq",
                &[&&task[..], &kind, &body],
            )
            .map_err(|err| TaskTxError::After(e(err)))?
            .get(0);
        if kind == "close-submissions" {
            self.tx
                .execute(
                    "UPDATE tasks SET collecting = false WHERE id = $1",
                    &[&&task[..]],
                )
                .map_err(self.err())?;
        }
        to_seq(seq).map_err(TaskTxError::After)
    }

    /// Sets the task's status (as [`TaskStatus::may_become`] allows).
    pub fn set_status(&mut self, status: TaskStatus) -> Result<(), TaskTxError> {
        let task = self.task;
        let e = pg(&self.url);
        update_status(&mut self.tx, &task, status, &e).map_err(TaskTxError::After)
    }

    /// The task's status as this transaction sees it.
    pub fn status(&mut self) -> Result<TaskStatus, TaskTxError> {
        let task = self.task;
        let e = pg(&self.url);
        status_of(&mut self.tx, &task, &e).map_err(TaskTxError::After)
    }
}
