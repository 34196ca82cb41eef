//! The durable store: tasks, an append-only event log per task, and results, as bytes.
//!
//! The cloud records every message it accepts (admission requests with the clock value it used,
//! bundles, verification reports, input-set decisions) as an event, **committed before it
//! acknowledges the message**; after a crash it rebuilds its in-memory state machine by replaying
//! the events of every open task in order. The edge records results. The store knows nothing of
//! protocol types: a task is a 16-byte id, a status and the signed task's encoded bytes; an event
//! is a kind (a short name such as `"bundle"`) and a body of encoded bytes.
//!
//! # Guarantees
//!
//! * Every `append`, `append_batch`, `commit`, `create_task`, `set_status` and `put_result` is one
//!   committed transaction (all of it or nothing); when it returns `Ok`, the data survives
//!   `kill -9` and power loss (WAL journal, `synchronous=FULL`).
//! * Event sequence numbers are unique and strictly increasing across the whole store (never
//!   reused), so sorting a task's events by `seq` gives the order they were accepted in.
//! * Bad input is refused with an error naming the task or file, never a panic.
//!
//! # Backend
//!
//! This backend is SQLite (DESIGN.md §6), and every line of SQL in dsmpc lives in this module.
//! A second backend — PostgreSQL, so that several stateless cloud front-ends can share one store
//! (DESIGN.md §8) — would implement the same operations with the same semantics:
//!
//! * `create_task` (idempotent for identical specs, conflicting specs refused), `tasks`,
//!   `set_status` (open → closed | failed; terminal states stay put);
//! * `commit`: a batch of the writes above in one transaction;
//! * `append` / `append_batch` with a store-wide monotonic `seq` (a `bigserial`/sequence; readers
//!   of a live log must then tolerate gaps from rolled-back transactions), `events` in `seq` order;
//! * `put_result` (write-once) and `result`;
//! * the same schema-version rule: migrate older schemas forward, refuse newer ones.
//!
//! At that point `Store` would become a trait (or an enum over backends) with these methods.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use dsmpc_core::task::TaskId;
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};

/// A bundle whose sealed shares take at most this many bytes keeps them in its SQLite row: a
/// scalar or short-vector bundle then costs one commit (one `fsync`), not a segment append and
/// its `fdatasync` besides, and reads without opening a file.
pub const INLINE_SHARES: usize = 16 << 10;

/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations; migration `i` takes `user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1: tasks, events, results.
    "CREATE TABLE tasks (
         num    INTEGER PRIMARY KEY,
         id     BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
         status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'failed')),
         spec   BLOB NOT NULL
     ) STRICT;
     CREATE TABLE events (
         seq  INTEGER PRIMARY KEY AUTOINCREMENT,
         task BLOB NOT NULL REFERENCES tasks (id),
         kind TEXT NOT NULL,
         body BLOB NOT NULL
     ) STRICT;
     CREATE INDEX events_by_task ON events (task);
     CREATE TABLE results (
         task BLOB PRIMARY KEY REFERENCES tasks (id),
         body BLOB NOT NULL
     ) STRICT;",
    // Version 2: bundles, indexed here, their sealed shares in segment files (`segments`), or
    // in `inline_shares` when they are small (at most `INLINE_SHARES` bytes together; then
    // `segment_offset` is NULL). `share_ends` holds one u64 (little-endian) per share: where it
    // ends, counted from the start of the bundle's shares; share i runs from the end of share
    // i − 1 (or 0) to its own end.
    "CREATE TABLE bundles (
         task           BLOB NOT NULL REFERENCES tasks (id),
         pos            INTEGER NOT NULL CHECK (pos >= 0),
         dp             TEXT NOT NULL,
         core           BLOB NOT NULL,
         segment_offset INTEGER CHECK (segment_offset >= 0),
         inline_shares  BLOB,
         share_ends     BLOB NOT NULL,
         CHECK ((segment_offset IS NULL) <> (inline_shares IS NULL)),
         PRIMARY KEY (task, pos),
         UNIQUE (task, dp)
     ) STRICT;",
    // Version 3: the registry of data providers' public keys (`store::registry`): each DP's
    // encoded identity card, its Noise static key to find it by when it connects, and its
    // verifying key (compressed) for the task lists that name it.
    "CREATE TABLE dps (
         id            TEXT PRIMARY KEY,
         card          BLOB NOT NULL,
         noise_key     BLOB NOT NULL UNIQUE CHECK (length(noise_key) = 32),
         verifying_key BLOB NOT NULL CHECK (length(verifying_key) = 32)
     ) STRICT, WITHOUT ROWID;",
    // Version 4: what the parties other than the cloud must not lose to a crash
    // (`store::parties`). A CP's per-task stage and its state sealed to itself (NULL once the
    // task is done), with the DP after which it resumes pulling deliveries; the edge's result
    // shares (one per CP and task, the first kept) and its signed failures.
    "CREATE TABLE cp_tasks (
         task   BLOB PRIMARY KEY CHECK (length(task) = 16),
         stage  TEXT NOT NULL CHECK (stage IN ('receiving', 'reported', 'done')),
         cursor TEXT,
         state  BLOB,
         CHECK ((stage = 'done') = (state IS NULL))
     ) STRICT;
     CREATE TABLE result_shares (
         task BLOB NOT NULL CHECK (length(task) = 16),
         cp   TEXT NOT NULL,
         body BLOB NOT NULL,
         PRIMARY KEY (task, cp)
     ) STRICT;
     CREATE TABLE failures (
         task BLOB PRIMARY KEY CHECK (length(task) = 16),
         body BLOB NOT NULL
     ) STRICT;",
    // Version 5: the parts a CP that runs as several workers hands to its lead, each sealed
    // to the CP itself (the cloud only carries them).
    "CREATE TABLE cp_parts (
         task    BLOB NOT NULL CHECK (length(task) = 16),
         idx     INTEGER NOT NULL CHECK (idx >= 1),
         worker  INTEGER NOT NULL CHECK (worker >= 1),
         workers INTEGER NOT NULL CHECK (workers >= worker),
         body    BLOB NOT NULL,
         PRIMARY KEY (task, idx, worker, workers)
     ) STRICT;",
];

/// The schema version this code writes (SQLite's `PRAGMA user_version`).
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database file could not be opened or is not a SQLite database.
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("store database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The database was written by a newer dsmpc.
    #[error(
        "the store {} has schema version {found}, newer than the {supported} this dsmpc supports; \
         use a newer dsmpc",
        path.display()
    )]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this code knows.
        supported: i64,
    },
    /// No task with this id was created.
    #[error("unknown task {}", TaskId(*.0))]
    UnknownTask([u8; 16]),
    /// `create_task` was called again for a task with a different spec.
    #[error("task {} already exists with a different spec", TaskId(*.0))]
    TaskConflict([u8; 16]),
    /// `put_result` was called again for a task with a different result.
    #[error("task {} already has a different result", TaskId(*.0))]
    ResultConflict([u8; 16]),
    /// A status change that is not allowed (a closed or failed task stays so).
    #[error("task {} cannot go from {from} to {to}", TaskId(*task))]
    InvalidTransition {
        /// The task.
        task: [u8; 16],
        /// Its current status.
        from: TaskStatus,
        /// The status asked for.
        to: TaskStatus,
    },
    /// The thread that commits the cloud's log could not start.
    #[error("cannot start the store's writer thread: {0}")]
    Writer(std::io::Error),
    /// The database holds something this code never writes.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// A segment file could not be written or read.
    #[error("store segment file error: {0}")]
    Segment(#[from] std::io::Error),
    /// A registration the registry refuses (see `Store::register_dps`).
    #[error("{0}")]
    Registry(String),
    /// PostgreSQL refused a connection or a query (the message names the database, without
    /// its password).
    #[error("PostgreSQL store: {0}")]
    Postgres(String),
}

impl StoreError {
    /// Attaches the file path to a SQLite error raised while opening.
    fn at(self, path: &Path) -> StoreError {
        match self {
            StoreError::Sqlite(source) => StoreError::Open {
                path: path.to_owned(),
                source,
            },
            StoreError::NewerSchema {
                found, supported, ..
            } => StoreError::NewerSchema {
                path: path.to_owned(),
                found,
                supported,
            },
            other => other,
        }
    }
}

/// One stored event of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its sequence number: unique and increasing across the store.
    pub seq: u64,
    /// What kind of message it holds (for example `"bundle"`).
    pub kind: String,
    /// The encoded message.
    pub body: Vec<u8>,
}

/// One write of a batch committed by [`Store::commit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write<'a> {
    /// [`Store::create_task`].
    CreateTask {
        /// The task id.
        task: &'a [u8; 16],
        /// The signed task's bytes.
        spec: &'a [u8],
    },
    /// [`Store::append`].
    Append {
        /// The task.
        task: &'a [u8; 16],
        /// The event's kind.
        kind: &'a str,
        /// The event's body.
        body: &'a [u8],
    },
    /// [`Store::set_status`].
    SetStatus {
        /// The task.
        task: &'a [u8; 16],
        /// Its new status.
        status: TaskStatus,
    },
    /// A bundle: its sealed shares go to the task's segment file, the rest to SQLite.
    Bundle(BundleWrite<'a>),
}

/// One accepted bundle, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleWrite<'a> {
    /// The task.
    pub task: &'a [u8; 16],
    /// Its position in the task's order of arrival (0, 1, 2, … without gaps).
    pub pos: u64,
    /// The DP.
    pub dp: &'a str,
    /// The encoded signed core.
    pub core: &'a [u8],
    /// The encoded sealed shares, in index order, back to back.
    pub shares: &'a [u8],
    /// The length of each sealed share's encoding, in index order; they add up to
    /// `shares.len()`.
    pub share_lens: &'a [u64],
}

/// A stored bundle's core and its share for one CP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredShare {
    /// The bundle's position in its task's order of arrival.
    pub pos: u64,
    /// The DP.
    pub dp: String,
    /// The encoded signed core.
    pub core: Vec<u8>,
    /// The encoded sealed share.
    pub share: Vec<u8>,
}

/// A stored bundle's signed core, for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCore {
    /// The bundle's position in its task's order of arrival.
    pub pos: u64,
    /// The DP.
    pub dp: String,
    /// The encoded signed core.
    pub core: Vec<u8>,
}

/// A stored task: its id, status and spec (the signed task's bytes).
pub type TaskRow = ([u8; 16], TaskStatus, Vec<u8>);

/// Where a task is in its life. Stored as text (`open`, `closed`, `failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Accepting messages; replayed after a restart.
    Open,
    /// Finished with a result.
    Closed,
    /// Abandoned (deadline missed, too few parties).
    Failed,
}

impl TaskStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Open => "open",
            TaskStatus::Closed => "closed",
            TaskStatus::Failed => "failed",
        }
    }

    /// Whether a task in this status may be set to `to`: an open task may become anything; a
    /// closed or failed task only stays as it is.
    pub fn may_become(self, to: TaskStatus) -> bool {
        self == TaskStatus::Open || self == to
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no task status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task status {found:?}; expected open, closed or failed")]
pub struct ParseStatusError {
    /// The string that was given.
    pub found: String,
}

impl FromStr for TaskStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<TaskStatus, ParseStatusError> {
        match s {
            "open" => Ok(TaskStatus::Open),
            "closed" => Ok(TaskStatus::Closed),
            "failed" => Ok(TaskStatus::Failed),
            _ => Err(ParseStatusError {
                found: s.to_owned(),
            }),
        }
    }
}

/// The durable store (SQLite, with bundles' shares in segment files).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    segments: Segments,
}

impl Store {
    /// Opens (creating if absent) the store at `path`, migrating an older schema forward.
    ///
    /// The parent directory must exist. A file that is not a SQLite database, or one written by a
    /// newer dsmpc, is refused with an error naming `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open = || -> Result<Store, StoreError> {
            let conn = Connection::open_with_flags(path, flags)?;
            configure(&conn)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            Store::init(conn, Segments::in_dir(Segments::dir_for(path)))
        };
        open().map_err(|e| e.at(path))
    }

    /// A store in memory, for tests and `simulate` runs that need no durability.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        Store::init(conn, Segments::Memory(Default::default()))
    }

    fn init(mut conn: Connection, segments: Segments) -> Result<Store, StoreError> {
        migrate(&mut conn)?;
        Ok(Store { conn, segments })
    }

    fn write(&mut self) -> Result<Transaction<'_>, StoreError> {
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Records a new open task with its spec (the signed task's bytes). Creating a task again
    /// with the identical spec does nothing; with a different spec it is refused.
    pub fn create_task(&mut self, task: &[u8; 16], spec: &[u8]) -> Result<(), StoreError> {
        let tx = self.write()?;
        insert_task(&tx, task, spec)?;
        Ok(tx.commit()?)
    }

    /// Every task (or every task with `status`), in the order they were created, with its status
    /// and spec.
    pub fn tasks(&self, status: Option<TaskStatus>) -> Result<Vec<TaskRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, status, spec FROM tasks
             WHERE ?1 IS NULL OR status = ?1 ORDER BY num",
        )?;
        let rows = stmt.query_map([status.map(TaskStatus::as_str)], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?;
        rows.map(|row| {
            let (id, status, spec) = row?;
            Ok((task_id(&id)?, parse_status(&status)?, spec))
        })
        .collect()
    }

    /// The status of `task`.
    pub fn status(&self, task: &[u8; 16]) -> Result<TaskStatus, StoreError> {
        status_of(&self.conn, task)
    }

    /// Sets the status of `task`. An open task may become closed or failed; a closed or failed
    /// task stays so (setting the same status again is allowed and does nothing).
    pub fn set_status(&mut self, task: &[u8; 16], status: TaskStatus) -> Result<(), StoreError> {
        let tx = self.write()?;
        update_status(&tx, task, status)?;
        Ok(tx.commit()?)
    }

    /// Appends one event to `task`'s log in its own committed transaction and returns its
    /// sequence number. When this returns, the event is durable.
    pub fn append(&mut self, task: &[u8; 16], kind: &str, body: &[u8]) -> Result<u64, StoreError> {
        let tx = self.write()?;
        ensure_task(&tx, task)?;
        let seq = insert_event(&tx, task, kind, body)?;
        tx.commit()?;
        Ok(seq)
    }

    /// Appends many events (to any tasks) in one committed transaction — all or none — and
    /// returns their sequence numbers in the order given.
    pub fn append_batch(
        &mut self,
        events: &[([u8; 16], &str, &[u8])],
    ) -> Result<Vec<u64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let tx = self.write()?;
        let mut known = HashSet::new();
        let mut seqs = Vec::with_capacity(events.len());
        for (task, kind, body) in events {
            if known.insert(*task) {
                ensure_task(&tx, task)?;
            }
            seqs.push(insert_event(&tx, task, kind, body)?);
        }
        tx.commit()?;
        Ok(seqs)
    }

    /// Applies `writes` in order in one committed transaction — all or none — so that many
    /// messages share one commit (the cloud's group commit). Each write has the semantics of the
    /// method of the same name: creating a task again with the identical spec does nothing, a
    /// status may only change as [`TaskStatus::may_become`] allows, an event's task must exist
    /// (possibly created earlier in the same batch). When this returns `Ok`, every write is
    /// durable; on `Err`, none is.
    pub fn commit(&mut self, writes: &[Write<'_>]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let offsets = self.append_shares(writes)?;
        let mut offsets = offsets.into_iter();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut known = HashSet::new();
        for write in writes {
            match *write {
                Write::Bundle(bundle) => {
                    let offset = offsets.next().ok_or_else(|| {
                        StoreError::Corrupt("a bundle lost its segment offset".into())
                    })?;
                    insert_bundle(&tx, &bundle, offset)?;
                }
                Write::CreateTask { task, spec } => {
                    insert_task(&tx, task, spec)?;
                    known.insert(*task);
                }
                Write::Append { task, kind, body } => {
                    if known.insert(*task) {
                        ensure_task(&tx, task)?;
                    }
                    insert_event(&tx, task, kind, body)?;
                }
                Write::SetStatus { task, status } => update_status(&tx, task, status)?,
            }
        }
        Ok(tx.commit()?)
    }

    /// Appends the shares of every bundle in `writes` that are too large to keep inline to their
    /// segments and makes them durable; returns each bundle's offset (`None`: inline), in order.
    fn append_shares(&mut self, writes: &[Write<'_>]) -> Result<Vec<Option<u64>>, StoreError> {
        let mut offsets = Vec::new();
        for write in writes {
            if let Write::Bundle(b) = write {
                if b.share_lens.iter().sum::<u64>() != b.shares.len() as u64 {
                    return Err(StoreError::Corrupt(format!(
                        "{}'s share lengths do not add up to its shares",
                        b.dp
                    )));
                }
                offsets.push(if b.shares.len() <= INLINE_SHARES {
                    None
                } else {
                    Some(self.segments.append(b.task, b.shares)?)
                });
            }
        }
        if offsets.iter().any(Option::is_some) {
            self.segments.sync()?;
        }
        Ok(offsets)
    }

    /// Cuts every segment file back to the end of the last bundle a committed row references,
    /// dropping bytes that a batch appended but never committed (a crash or a failed commit
    /// between the append and the commit). Returns the bytes cut. Call only on a store no one
    /// else is using — the cloud does, once, when it opens its store, before it serves.
    pub fn trim_segments(&mut self) -> Result<u64, StoreError> {
        let mut cut = 0;
        for task in self.segments.tasks()? {
            let end = self.segment_end(&task)?;
            cut += self.segments.trim(&task, end)?;
        }
        Ok(cut)
    }

    /// Where the committed shares of `task` end in its segment (0 when none is stored there).
    fn segment_end(&self, task: &[u8; 16]) -> Result<u64, StoreError> {
        let last = self
            .conn
            .query_row(
                "SELECT pos, dp, core, segment_offset, share_ends, inline_shares FROM bundles
                 WHERE task = ?1 AND segment_offset IS NOT NULL
                 ORDER BY segment_offset DESC LIMIT 1",
                [task],
                located,
            )
            .optional()?;
        let Some(last) = last else {
            return Ok(0);
        };
        let shares = (last.ends.len() / 8) as u32;
        let (start, len) = last.share_range(shares)?;
        Ok(start + len)
    }

    /// Stores one bundle in its own committed transaction ([`Store::commit`] of one
    /// [`Write::Bundle`]).
    pub fn put_bundle(&mut self, bundle: BundleWrite<'_>) -> Result<(), StoreError> {
        self.commit(&[Write::Bundle(bundle)])
    }

    /// How many bundles `task` has.
    pub fn bundle_count(&self, task: &[u8; 16]) -> Result<u64, StoreError> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM bundles WHERE task = ?1",
            [task],
            |r| r.get(0),
        )?;
        to_seq(count)
    }

    /// Every bundle's signed core of `task`, in order of arrival (for replay).
    pub fn bundle_cores(&self, task: &[u8; 16]) -> Result<Vec<StoredCore>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT pos, dp, core FROM bundles WHERE task = ?1 ORDER BY pos")?;
        let rows = stmt.query_map([task], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))?;
        rows.map(|row| {
            let (pos, dp, core) = row?;
            Ok(StoredCore {
                pos: to_seq(pos)?,
                dp,
                core,
            })
        })
        .collect()
    }

    /// The cores of `dps`' bundles of `task`, in the order given (`None` for a DP with no
    /// bundle).
    pub fn cores_of(
        &self,
        task: &[u8; 16],
        dps: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT core FROM bundles WHERE task = ?1 AND dp = ?2")?;
        dps.iter()
            .map(|dp| Ok(stmt.query_row(params![task, dp], |r| r.get(0)).optional()?))
            .collect()
    }

    /// Up to `limit` bundles of `task` that arrived after position `after` (from the first when
    /// `None`), in order of arrival, each with its share for CP `index` — fewer when their
    /// shares would exceed `budget` bytes (but at least one).
    pub fn shares_after(
        &self,
        task: &[u8; 16],
        index: u32,
        after: Option<u64>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<StoredShare>, StoreError> {
        self.part_shares_after(task, index, WorkerPart::WHOLE, after, limit, budget)
    }

    /// [`Store::shares_after`] for the bundles of one part only (a worker of a CP group).
    pub fn part_shares_after(
        &self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
        after: Option<u64>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<StoredShare>, StoreError> {
        let start = after.map_or(0, |a| a.saturating_add(1));
        let mut stmt = self.conn.prepare_cached(
            "SELECT pos, dp, core, segment_offset, share_ends, inline_shares FROM bundles
             WHERE task = ?1 AND pos >= ?2 AND pos % ?4 = ?5 ORDER BY pos LIMIT ?3",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let (workers, residue) = (i64::from(part.workers), i64::from(part.worker) - 1);
        let rows = stmt.query_map(params![task, start, limit, workers, residue], located)?;
        let mut located_rows = Vec::new();
        let mut total = 0u64;
        for row in rows {
            let row = row?;
            let (_, len) = row.share_range(index)?;
            total = total.saturating_add(len);
            if total > budget as u64 && !located_rows.is_empty() {
                break;
            }
            located_rows.push(row);
        }
        self.read_shares(task, index, located_rows)
    }

    /// Stores (or replaces) the sealed part `part` of CP `index` in `task`.
    pub fn put_cp_part(
        &self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO cp_parts (task, idx, worker, workers, body) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (task, idx, worker, workers) DO UPDATE SET body = excluded.body",
            params![task, index, part.worker, part.workers, body],
        )?;
        Ok(())
    }

    /// The sealed part `part` of CP `index` in `task`, if stored.
    pub fn cp_part(
        &self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT body FROM cp_parts WHERE task = ?1 AND idx = ?2 AND worker = ?3
                 AND workers = ?4",
                params![task, index, part.worker, part.workers],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// `dp`'s bundle of `task` with its share for CP `index`, if stored.
    pub fn share_of(
        &self,
        task: &[u8; 16],
        dp: &str,
        index: u32,
    ) -> Result<Option<StoredShare>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT pos, dp, core, segment_offset, share_ends, inline_shares FROM bundles
             WHERE task = ?1 AND dp = ?2",
        )?;
        let Some(row) = stmt.query_row(params![task, dp], located).optional()? else {
            return Ok(None);
        };
        Ok(self.read_shares(task, index, vec![row])?.pop())
    }

    fn read_shares(
        &self,
        task: &[u8; 16],
        index: u32,
        rows: Vec<Located>,
    ) -> Result<Vec<StoredShare>, StoreError> {
        let ranges = rows
            .iter()
            .map(|row| row.share_range(index))
            .collect::<Result<Vec<_>, _>>()?;
        let in_segment: Vec<(u64, u64)> = rows
            .iter()
            .zip(&ranges)
            .filter(|(row, _)| row.inline.is_none())
            .map(|(_, range)| *range)
            .collect();
        let mut from_segment = self.segments.read(task, &in_segment)?.into_iter();
        rows.into_iter()
            .zip(ranges)
            .map(|(row, (start, len))| {
                let share = match &row.inline {
                    Some(inline) => inline_slice(inline, start, len, &row.dp)?,
                    None => from_segment
                        .next()
                        .ok_or_else(|| StoreError::Corrupt("a segment read went missing".into()))?,
                };
                Ok(StoredShare {
                    pos: to_seq(row.pos)?,
                    dp: row.dp,
                    core: row.core,
                    share,
                })
            })
            .collect()
    }

    /// The events of `task`, in sequence order.
    pub fn events(&self, task: &[u8; 16]) -> Result<Vec<Event>, StoreError> {
        ensure_task(&self.conn, task)?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, kind, body FROM events WHERE task = ?1 ORDER BY seq")?;
        let rows = stmt.query_map([task], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?;
        rows.map(|row| {
            let (seq, kind, body) = row?;
            Ok(Event {
                seq: to_seq(seq)?,
                kind,
                body,
            })
        })
        .collect()
    }

    /// Records the result of `task`. Recording the identical result again does nothing; a
    /// different one is refused (a result is written once).
    pub fn put_result(&mut self, task: &[u8; 16], body: &[u8]) -> Result<(), StoreError> {
        let tx = self.write()?;
        ensure_task(&tx, task)?;
        match fetch_result(&tx, task)? {
            Some(stored) if stored == body => return Ok(()),
            Some(_) => return Err(StoreError::ResultConflict(*task)),
            None => {}
        }
        tx.execute(
            "INSERT INTO results (task, body) VALUES (?1, ?2)",
            params![task, body],
        )?;
        Ok(tx.commit()?)
    }

    /// The result of `task`, if one was recorded.
    pub fn result(&self, task: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
        ensure_task(&self.conn, task)?;
        fetch_result(&self.conn, task)
    }
}

/// A bundle's row: where its shares are.
struct Located {
    pos: i64,
    dp: String,
    core: Vec<u8>,
    /// Where the shares start in the segment; `None` when they are inline.
    offset: Option<i64>,
    ends: Vec<u8>,
    inline: Option<Vec<u8>>,
}

impl Located {
    /// The range (offset, length) of share `index` (from 1): in the segment, or in the inline
    /// shares.
    fn share_range(&self, index: u32) -> Result<(u64, u64), StoreError> {
        let end_at = |i: usize| -> Option<u64> {
            let bytes = self.ends.get(i * 8..i * 8 + 8)?;
            Some(u64::from_le_bytes(bytes.try_into().ok()?))
        };
        let i = (index as usize).checked_sub(1);
        let end = i.and_then(end_at);
        let start = match i {
            Some(0) => Some(0),
            Some(i) => end_at(i - 1),
            None => None,
        };
        let base = u64::try_from(self.offset.unwrap_or(0)).ok();
        match (start, end, base) {
            (Some(start), Some(end), Some(base)) if start <= end => Ok((base + start, end - start)),
            _ => Err(StoreError::Corrupt(format!(
                "{}'s bundle has no share {index}",
                self.dp
            ))),
        }
    }
}

fn located(r: &rusqlite::Row<'_>) -> rusqlite::Result<Located> {
    Ok(Located {
        pos: r.get(0)?,
        dp: r.get(1)?,
        core: r.get(2)?,
        offset: r.get(3)?,
        ends: r.get(4)?,
        inline: r.get(5)?,
    })
}

/// Bytes `start..start + len` of a bundle's inline shares.
fn inline_slice(inline: &[u8], start: u64, len: u64, dp: &str) -> Result<Vec<u8>, StoreError> {
    usize::try_from(start)
        .ok()
        .zip(usize::try_from(len).ok())
        .and_then(|(start, len)| inline.get(start..start.checked_add(len)?))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| StoreError::Corrupt(format!("{dp}'s inline shares are too short")))
}

fn insert_bundle(
    conn: &Connection,
    b: &BundleWrite<'_>,
    offset: Option<u64>,
) -> Result<(), StoreError> {
    let mut ends = Vec::with_capacity(b.share_lens.len() * 8);
    let mut end = 0u64;
    for len in b.share_lens {
        end += len;
        ends.extend_from_slice(&end.to_le_bytes());
    }
    let as_int = |v: u64| {
        i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("bundle position {v} too large")))
    };
    let mut stmt = conn.prepare_cached(
        "INSERT INTO bundles (task, pos, dp, core, segment_offset, share_ends, inline_shares)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let offset = offset.map(as_int).transpose()?;
    let inline = offset.is_none().then_some(b.shares);
    stmt.execute(params![
        b.task,
        as_int(b.pos)?,
        b.dp,
        b.core,
        offset,
        ends,
        inline
    ])?;
    Ok(())
}

/// Per-connection settings: durability, lock waiting, integrity.
fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Brings the schema to [`SCHEMA_VERSION`], or refuses a newer one.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: PathBuf::new(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let from = usize::try_from(found)
        .map_err(|_| StoreError::Corrupt(format!("negative schema version {found}")))?;
    for sql in &MIGRATIONS[from..] {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(tx.commit()?)
}

/// Inserts an open task unless the identical task exists; refuses a different spec.
fn insert_task(conn: &Connection, task: &[u8; 16], spec: &[u8]) -> Result<(), StoreError> {
    let existing: Option<Vec<u8>> = conn
        .query_row("SELECT spec FROM tasks WHERE id = ?1", [task], |r| r.get(0))
        .optional()?;
    match existing {
        Some(stored) if stored == spec => return Ok(()),
        Some(_) => return Err(StoreError::TaskConflict(*task)),
        None => {}
    }
    conn.execute(
        "INSERT INTO tasks (id, status, spec) VALUES (?1, ?2, ?3)",
        params![task, TaskStatus::Open.as_str(), spec],
    )?;
    Ok(())
}

/// Sets a task's status if the transition is allowed.
fn update_status(conn: &Connection, task: &[u8; 16], status: TaskStatus) -> Result<(), StoreError> {
    let from = status_of(conn, task)?;
    if !from.may_become(status) {
        return Err(StoreError::InvalidTransition {
            task: *task,
            from,
            to: status,
        });
    }
    conn.execute(
        "UPDATE tasks SET status = ?2 WHERE id = ?1",
        params![task, status.as_str()],
    )?;
    Ok(())
}

fn status_of(conn: &Connection, task: &[u8; 16]) -> Result<TaskStatus, StoreError> {
    let status: Option<String> = conn
        .query_row("SELECT status FROM tasks WHERE id = ?1", [task], |r| {
            r.get(0)
        })
        .optional()?;
    parse_status(&status.ok_or(StoreError::UnknownTask(*task))?)
}

fn ensure_task(conn: &Connection, task: &[u8; 16]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM tasks WHERE id = ?1")?;
    if stmt.exists([task])? {
        Ok(())
    } else {
        Err(StoreError::UnknownTask(*task))
    }
}

fn insert_event(
    conn: &Connection,
    task: &[u8; 16],
    kind: &str,
    body: &[u8],
) -> Result<u64, StoreError> {
    let mut stmt =
        conn.prepare_cached("INSERT INTO events (task, kind, body) VALUES (?1, ?2, ?3)")?;
    stmt.execute(params![task, kind, body])?;
    to_seq(conn.last_insert_rowid())
}

fn fetch_result(conn: &Connection, task: &[u8; 16]) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(conn
        .query_row("SELECT body FROM results WHERE task = ?1", [task], |r| {
            r.get(0)
        })
        .optional()?)
}

fn task_id(bytes: &[u8]) -> Result<[u8; 16], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a task id of {} bytes", bytes.len())))
}

fn parse_status(s: &str) -> Result<TaskStatus, StoreError> {
    s.parse()
        .map_err(|e: ParseStatusError| StoreError::Corrupt(e.to_string()))
}

fn to_seq(seq: i64) -> Result<u64, StoreError> {
    u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("negative event seq {seq}")))
}

pub(crate) mod registry;
pub use registry::Registration;

/// The directory of segment files that belongs to the store at `db`: `<db>.bundles`.
pub fn segments_dir(db: &Path) -> PathBuf {
    Segments::dir_for(db)
}
mod backend;
mod parties;
pub mod pg;
pub mod pg_shared;
mod segments;
#[cfg(test)]
mod tests;

pub use backend::{CloudStore, StoreLocation};
pub use dsmpc_core::roles::cp::WorkerPart;
pub use parties::{CpStage, CpTaskState};
pub(crate) use segments::Segments;
