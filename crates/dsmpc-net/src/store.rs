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

/// The durable store (SQLite).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
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
            Store::init(conn)
        };
        open().map_err(|e| e.at(path))
    }

    /// A store in memory, for tests and `simulate` runs that need no durability.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let conn = Connection::open_in_memory()?;
        configure(&conn)?;
        Store::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Store, StoreError> {
        migrate(&mut conn)?;
        Ok(Store { conn })
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
        let tx = self.write()?;
        let mut known = HashSet::new();
        for write in writes {
            match *write {
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

#[cfg(test)]
mod tests;
