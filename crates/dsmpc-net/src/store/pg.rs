//! The cloud's store in PostgreSQL (`dsmpc cloud --database postgresql://…`): the same operations
//! and guarantees as the SQLite backend, for a cloud whose state must outlive its machine.
//!
//! * Tasks, events, bundles, results and the DP registry are tables of the same names; a
//!   bundle's sealed shares are one column of its row (`shares`, their concatenation, with
//!   `share_ends`), and a CP's page of deliveries is one index range scan that cuts each CP's
//!   share out with `substring` (which reads only the chunks it needs of a large value), so no
//!   file lives beside the database.
//! * [`PgStore::commit`] applies a batch in one transaction; events go in with one
//!   `INSERT … SELECT FROM unnest(…)` and bundles with one binary `COPY` per run of writes, so
//!   a batch of thousands costs a handful of round trips. `seq` comes from a sequence: unique
//!   and increasing in commit order for this one writer (a rolled-back batch leaves a gap;
//!   replay sorts, it never counts).
//! * The schema is versioned in `dsmpc_schema`; migrations run in one transaction under an
//!   advisory lock, and a database newer than this binary is refused.
//!
//! Synchronous (`postgres`, the blocking face of `tokio-postgres`): the cloud's journal writer
//! and its readers run on threads of their own, as they do over SQLite.

use std::collections::HashSet;

use dsmpc_core::codec::{Encode, decode_exact};
use dsmpc_core::identity::{IdentityCard, PartyId, Role};
use dsmpc_core::task::DpKey;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, NoTls, Transaction};

use super::registry::Registration;
use super::{
    BundleWrite, Event, StoreError, StoredCore, StoredShare, TaskRow, TaskStatus, WorkerPart,
    Write, parse_status, task_id, to_seq,
};

/// Migrations of the PostgreSQL schema; migration `i` takes `dsmpc_schema.version` from `i` to
/// `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE tasks (
         num    bigserial PRIMARY KEY,
         id     bytea NOT NULL UNIQUE CHECK (length(id) = 16),
         status text NOT NULL CHECK (status IN ('open', 'closed', 'failed')),
         spec   bytea NOT NULL
     );
     CREATE TABLE events (
         seq  bigserial PRIMARY KEY,
         task bytea NOT NULL REFERENCES tasks (id),
         kind text NOT NULL,
         body bytea NOT NULL
     );
     CREATE INDEX events_by_task ON events (task, seq);
     CREATE TABLE results (
         task bytea PRIMARY KEY REFERENCES tasks (id),
         body bytea NOT NULL
     );
     CREATE TABLE bundles (
         task bytea NOT NULL REFERENCES tasks (id),
         pos  bigint NOT NULL CHECK (pos >= 0),
         dp   text NOT NULL,
         core bytea NOT NULL,
         PRIMARY KEY (task, pos),
         UNIQUE (task, dp)
     );
     CREATE TABLE bundle_shares (
         task  bytea NOT NULL,
         pos   bigint NOT NULL,
         idx   integer NOT NULL CHECK (idx >= 1),
         share bytea NOT NULL,
         PRIMARY KEY (task, idx, pos),
         FOREIGN KEY (task, pos) REFERENCES bundles (task, pos)
     );
     CREATE TABLE dps (
         id            text PRIMARY KEY,
         card          bytea NOT NULL,
         noise_key     bytea NOT NULL UNIQUE CHECK (length(noise_key) = 32),
         verifying_key bytea NOT NULL CHECK (length(verifying_key) = 32)
     );",
    // Several front-ends over one database (`pg_shared`): bundle positions are allocated from
    // the task's row under its lock, submissions close on that row, and periodic work is leased.
    "ALTER TABLE tasks
         ADD COLUMN next_pos      bigint NOT NULL DEFAULT 0 CHECK (next_pos >= 0),
         ADD COLUMN collecting    boolean NOT NULL DEFAULT true,
         ADD COLUMN lease_holder  text,
         ADD COLUMN lease_token   bigint,
         ADD COLUMN lease_expires timestamptz;
     UPDATE tasks t SET
         next_pos = (SELECT count(*) FROM bundles b WHERE b.task = t.id),
         collecting = NOT EXISTS (SELECT 1 FROM events e
                                  WHERE e.task = t.id AND e.kind = 'close-submissions');
     CREATE SEQUENCE lease_tokens;",
    // The parts a CP that runs as several workers hands to its lead (sealed to the CP).
    "CREATE TABLE cp_parts (
         task    bytea NOT NULL REFERENCES tasks (id),
         idx     integer NOT NULL CHECK (idx >= 1),
         worker  integer NOT NULL CHECK (worker >= 1),
         workers integer NOT NULL CHECK (workers >= worker),
         body    bytea NOT NULL,
         PRIMARY KEY (task, idx, worker, workers)
     );",
    // A bundle's sealed shares move into its own row (issue 21's ingest): `shares` is their
    // concatenation, `share_ends[i]` where CP i's share ends, and a CP reads its share with
    // `substring`, which on an uncompressed (`EXTERNAL`) value fetches only the chunks it
    // needs. One row and two index entries per bundle instead of n + 1 rows, n + 2 index
    // entries and n + 1 foreign-key checks. The foreign key to `tasks` goes too: a bundle is
    // only ever inserted with a position just taken from its task's row, in the same
    // transaction, and tasks are never deleted.
    "ALTER TABLE bundles ADD COLUMN shares bytea, ADD COLUMN share_ends integer[];
     ALTER TABLE bundles ALTER COLUMN shares SET STORAGE EXTERNAL;
     UPDATE bundles b SET shares = s.shares, share_ends = s.ends FROM
         (SELECT task, pos, string_agg(share, ''::bytea ORDER BY idx) AS shares,
                 array_agg(upto ORDER BY idx) AS ends
          FROM (SELECT task, pos, idx, share,
                       sum(length(share)) OVER (PARTITION BY task, pos ORDER BY idx)::integer
                           AS upto
                FROM bundle_shares) AS each_share
          GROUP BY task, pos) AS s
     WHERE b.task = s.task AND b.pos = s.pos;
     UPDATE bundles SET shares = ''::bytea, share_ends = '{}' WHERE shares IS NULL;
     ALTER TABLE bundles ALTER COLUMN shares SET NOT NULL,
                         ALTER COLUMN share_ends SET NOT NULL;
     DROP TABLE bundle_shares;
     ALTER TABLE bundles DROP CONSTRAINT bundles_task_fkey;",
];

/// CP `$2`'s sealed share of bundle `b`, out of its row's `shares`. NULL when the bundle has
/// fewer shares; callers filter those rows out with `has_share_2!`.
macro_rules! share_2 {
    () => {
        "substring(b.shares FROM coalesce(b.share_ends[$2 - 1], 0) + 1
                   FOR b.share_ends[$2] - coalesce(b.share_ends[$2 - 1], 0))"
    };
}

/// Whether bundle `b` has a share for CP `$2`.
macro_rules! has_share_2 {
    () => {
        "cardinality(b.share_ends) >= $2"
    };
}

/// The schema version this code writes.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a store whose connection closed (PostgreSQL restarted) keeps trying to connect
/// again before it reports the failure.
const RECONNECT_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// Any number that names this application's migration lock (`pg_advisory_xact_lock`).
const MIGRATION_LOCK: i64 = 0x6473_6d70_6373_7431;

/// A connection to the cloud's PostgreSQL store.
pub struct PgStore {
    pub(super) client: Conn,
    pub(super) url: String,
}

/// A blocking client that may be dropped anywhere: `postgres::Client` closes its connection by
/// blocking on its own runtime, which a tokio worker thread must not do, so on such a thread
/// the client is handed to a short-lived thread of its own to drop.
pub(super) struct Conn(Option<Client>);

impl std::ops::Deref for Conn {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
            .as_ref()
            .expect("a connection is present until dropped")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Client {
        self.0
            .as_mut()
            .expect("a connection is present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(client) = self.0.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::spawn(move || drop(client));
        }
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &redacted(&self.url))
            .finish()
    }
}

/// The URL without its password (`postgresql://user:secret@host/db` → `…user:***@host/db`).
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let auth = &url[scheme + 3..at];
            match auth.find(':') {
                Some(colon) => {
                    format!("{}{}:***{}", &url[..scheme + 3], &auth[..colon], &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A connection to `url`, trying again for [`RECONNECT_FOR`] while the server refuses
/// connections (restarting, recovering) — but not when it refuses the credentials or the
/// database, which waiting does not change.
fn connect_retrying(url: &str) -> Result<Client, StoreError> {
    let started = std::time::Instant::now();
    loop {
        match Client::connect(url, NoTls) {
            Ok(client) => return Ok(client),
            Err(e) if e.as_db_error().is_some_and(|db| !is_transient(db.code())) => {
                return Err(pg(url)(e));
            }
            Err(e) if started.elapsed() >= RECONNECT_FOR => return Err(pg(url)(e)),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// Whether a server's refusal may pass by itself: it is starting up, shutting down or
/// recovering (class 57P: operator intervention), or out of connections.
pub(super) fn is_transient(code: &postgres::error::SqlState) -> bool {
    code.code().starts_with("57P") || *code == postgres::error::SqlState::TOO_MANY_CONNECTIONS
}

pub(super) fn pg(url: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| StoreError::Postgres(format!("{}: {e}", redacted(url)))
}

impl PgStore {
    /// Connects to the database at `url` and brings its schema to [`PG_SCHEMA_VERSION`];
    /// refuses a newer one. With `patient`, keeps trying for [`RECONNECT_FOR`] while the server
    /// refuses connections (a connection the cloud opens while it serves); without, fails at
    /// once (the cloud starting, told a wrong address).
    pub fn connect(url: &str, patient: bool) -> Result<PgStore, StoreError> {
        let client = match patient {
            true => connect_retrying(url)?,
            false => Client::connect(url, NoTls).map_err(pg(url))?,
        };
        let mut store = PgStore {
            client: Conn(Some(client)),
            url: url.to_owned(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self) -> impl Fn(postgres::Error) -> StoreError + '_ {
        pg(&self.url)
    }

    /// Connects again if the server closed the connection (a restart, a crash): nothing of an
    /// operation has been sent yet, so it runs on the new connection exactly once. Retries for
    /// [`RECONNECT_FOR`] while the server comes back.
    pub(super) fn ensure_connected(&mut self) -> Result<(), StoreError> {
        if !self.client.is_closed() {
            return Ok(());
        }
        self.client = Conn(Some(connect_retrying(&self.url)?));
        tracing::info!(database = %redacted(&self.url), "reconnected to PostgreSQL");
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let url = self.url.clone();
        let e = pg(&url);
        let mut tx = self.client.transaction().map_err(&e)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(&e)?;
        let exists: bool = tx
            .query_one("SELECT to_regclass('dsmpc_schema') IS NOT NULL", &[])
            .map_err(&e)?
            .get(0);
        if !exists {
            tx.batch_execute("CREATE TABLE dsmpc_schema (version bigint NOT NULL)")
                .map_err(&e)?;
        }
        let found: Option<i64> = tx
            .query_opt("SELECT version FROM dsmpc_schema", &[])
            .map_err(&e)?
            .map(|r| r.get(0));
        let found = found.unwrap_or(0);
        if found > PG_SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: redacted(&url).into(),
                found,
                supported: PG_SCHEMA_VERSION,
            });
        }
        let from = usize::try_from(found)
            .map_err(|_| StoreError::Corrupt(format!("negative schema version {found}")))?;
        for sql in &MIGRATIONS[from..] {
            tx.batch_execute(sql).map_err(&e)?;
        }
        tx.execute("DELETE FROM dsmpc_schema", &[]).map_err(&e)?;
        tx.execute(
            "INSERT INTO dsmpc_schema (version) VALUES ($1)",
            &[&PG_SCHEMA_VERSION],
        )
        .map_err(&e)?;
        tx.commit().map_err(&e)
    }

    /// See [`super::Store::tasks`].
    pub fn tasks(&mut self, status: Option<TaskStatus>) -> Result<Vec<TaskRow>, StoreError> {
        self.ensure_connected()?;
        let status = status.map(TaskStatus::as_str);
        let rows = self
            .client
            .query(
                "SELECT id, status, spec FROM tasks
                 WHERE $1::text IS NULL OR status = $1 ORDER BY num",
                &[&status],
            )
            .map_err(pg(&self.url))?;
        rows.iter()
            .map(|r| {
                let id: Vec<u8> = r.get(0);
                let status: String = r.get(1);
                Ok((task_id(&id)?, parse_status(&status)?, r.get(2)))
            })
            .collect()
    }

    /// See [`super::Store::commit`]: the writes in order, in one transaction. When the
    /// connection turns out closed before the transaction's `COMMIT` was sent (the server
    /// restarted since the last batch), nothing was committed: the batch runs again, once, on a
    /// new connection. A failure at `COMMIT` itself is reported (whether it committed is
    /// unknown; the cloud then stops and replays).
    pub fn commit(&mut self, writes: &[Write<'_>]) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.ensure_connected()?;
        match self.commit_once(writes) {
            Err(Attempt::BeforeCommit(_)) if self.client.is_closed() => {
                self.ensure_connected()?;
                self.commit_once(writes).map_err(Attempt::into_error)
            }
            other => other.map_err(Attempt::into_error),
        }
    }

    fn commit_once(&mut self, writes: &[Write<'_>]) -> Result<(), Attempt> {
        let url = self.url.clone();
        let e = pg(&url);
        let before = |err: StoreError| Attempt::BeforeCommit(err);
        let mut tx = self.client.transaction().map_err(&e).map_err(before)?;
        let mut pending = Pending::default();
        let mut created = HashSet::new();
        for write in writes {
            match *write {
                Write::CreateTask { task, spec } => {
                    pending.flush(&mut tx, &e).map_err(before)?;
                    insert_task(&mut tx, task, spec, &e).map_err(before)?;
                    created.insert(*task);
                }
                Write::SetStatus { task, status } => {
                    pending.flush(&mut tx, &e).map_err(before)?;
                    update_status(&mut tx, task, status, &e).map_err(before)?;
                }
                Write::Append { task, kind, body } => {
                    if created.insert(*task) {
                        ensure_task(&mut tx, task, &e).map_err(before)?;
                    }
                    pending
                        .events
                        .push((task.to_vec(), kind.to_owned(), body.to_vec()));
                }
                Write::Bundle(bundle) => pending.bundle(&bundle).map_err(before)?,
            }
        }
        pending.flush(&mut tx, &e).map_err(before)?;
        tx.commit().map_err(&e).map_err(Attempt::AtCommit)
    }

    /// See [`super::Store::events`].
    pub fn events(&mut self, task: &[u8; 16]) -> Result<Vec<Event>, StoreError> {
        self.ensure_connected()?;
        let url = self.url.clone();
        let e = pg(&url);
        let mut tx = self.client.transaction().map_err(&e)?;
        ensure_task(&mut tx, task, &e)?;
        let rows = tx
            .query(
                "SELECT seq, kind, body FROM events WHERE task = $1 ORDER BY seq",
                &[&&task[..]],
            )
            .map_err(&e)?;
        tx.commit().map_err(&e)?;
        rows.iter()
            .map(|r| {
                Ok(Event {
                    seq: to_seq(r.get(0))?,
                    kind: r.get(1),
                    body: r.get(2),
                })
            })
            .collect()
    }

    /// See [`super::Store::bundle_cores`].
    pub fn bundle_cores(&mut self, task: &[u8; 16]) -> Result<Vec<StoredCore>, StoreError> {
        self.ensure_connected()?;
        let rows = self
            .client
            .query(
                "SELECT pos, dp, core FROM bundles WHERE task = $1 ORDER BY pos",
                &[&&task[..]],
            )
            .map_err(self.err())?;
        rows.iter()
            .map(|r| {
                Ok(StoredCore {
                    pos: to_seq(r.get(0))?,
                    dp: r.get(1),
                    core: r.get(2),
                })
            })
            .collect()
    }

    /// See [`super::Store::bundle_count`].
    pub fn bundle_count(&mut self, task: &[u8; 16]) -> Result<u64, StoreError> {
        self.ensure_connected()?;
        let row = self
            .client
            .query_one(
                "SELECT count(*) FROM bundles WHERE task = $1",
                &[&&task[..]],
            )
            .map_err(self.err())?;
        to_seq(row.get(0))
    }

    /// See [`super::Store::cores_of`].
    pub fn cores_of(
        &mut self,
        task: &[u8; 16],
        dps: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        self.ensure_connected()?;
        let names: Vec<&str> = dps.to_vec();
        let rows = self
            .client
            .query(
                "SELECT dp, core FROM bundles WHERE task = $1 AND dp = ANY($2)",
                &[&&task[..], &names],
            )
            .map_err(self.err())?;
        let mut found: std::collections::HashMap<String, Vec<u8>> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(dps.iter().map(|dp| found.remove(*dp)).collect())
    }

    /// See [`super::Store::shares_after`].
    pub fn shares_after(
        &mut self,
        task: &[u8; 16],
        index: u32,
        after: Option<u64>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<StoredShare>, StoreError> {
        self.part_shares_after(task, index, WorkerPart::WHOLE, after, limit, budget)
    }

    /// See [`super::Store::part_shares_after`].
    pub fn part_shares_after(
        &mut self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
        after: Option<u64>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<StoredShare>, StoreError> {
        self.ensure_connected()?;
        let start = after.map_or(0, |a| a.saturating_add(1));
        let start = i64::try_from(start).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let idx = i32::try_from(index).unwrap_or(i32::MAX);
        let (workers, residue) = (i64::from(part.workers), i64::from(part.worker) - 1);
        let rows = self
            .client
            .query(
                concat!(
                    "SELECT b.pos, b.dp, b.core, ",
                    share_2!(),
                    " FROM bundles b WHERE b.task = $1 AND ",
                    has_share_2!(),
                    " AND b.pos >= $3 AND b.pos % $5 = $6 ORDER BY b.pos LIMIT $4"
                ),
                &[&&task[..], &idx, &start, &limit, &workers, &residue],
            )
            .map_err(self.err())?;
        let mut out = Vec::new();
        let mut total = 0usize;
        for r in &rows {
            let share: Vec<u8> = r.get(3);
            total = total.saturating_add(share.len());
            if total > budget && !out.is_empty() {
                break;
            }
            out.push(StoredShare {
                pos: to_seq(r.get(0))?,
                dp: r.get(1),
                core: r.get(2),
                share,
            });
        }
        Ok(out)
    }

    /// See [`super::Store::put_cp_part`].
    pub fn put_cp_part(
        &mut self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
        body: &[u8],
    ) -> Result<(), StoreError> {
        self.ensure_connected()?;
        let (idx, worker, workers) = part_key(index, part);
        self.client
            .execute(
                "INSERT INTO cp_parts (task, idx, worker, workers, body)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (task, idx, worker, workers) DO UPDATE SET body = excluded.body",
                &[&&task[..], &idx, &worker, &workers, &body],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// See [`super::Store::cp_part`].
    pub fn cp_part(
        &mut self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.ensure_connected()?;
        let (idx, worker, workers) = part_key(index, part);
        let row = self
            .client
            .query_opt(
                "SELECT body FROM cp_parts WHERE task = $1 AND idx = $2 AND worker = $3
                 AND workers = $4",
                &[&&task[..], &idx, &worker, &workers],
            )
            .map_err(self.err())?;
        Ok(row.map(|r| r.get(0)))
    }

    /// See [`super::Store::share_of`].
    pub fn share_of(
        &mut self,
        task: &[u8; 16],
        dp: &str,
        index: u32,
    ) -> Result<Option<StoredShare>, StoreError> {
        self.ensure_connected()?;
        let e = pg(&self.url);
        share_of(&mut *self.client, task, dp, index, &e)
    }

    /// See [`super::Store::register_dps`]: all or none, in one transaction.
    pub fn register_dps(&mut self, cards: &[IdentityCard]) -> Result<Registration, StoreError> {
        self.ensure_connected()?;
        let url = self.url.clone();
        let e = pg(&url);
        let mut tx = self.client.transaction().map_err(&e)?;
        let mut outcome = Registration::default();
        for card in cards {
            if card.role != Role::Dp {
                return Err(super::registry::not_a_dp(card));
            }
            let bytes = card.to_bytes();
            let inserted = tx
                .execute(
                    "INSERT INTO dps (id, card, noise_key, verifying_key) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[
                        &card.id.as_str(),
                        &bytes,
                        &&card.noise_key[..],
                        &&card.verifying_key.to_bytes()[..],
                    ],
                )
                .map_err(&e)?;
            if inserted == 1 {
                outcome.added += 1;
                continue;
            }
            let existing: Option<Vec<u8>> = tx
                .query_opt("SELECT card FROM dps WHERE id = $1", &[&card.id.as_str()])
                .map_err(&e)?
                .map(|r| r.get(0));
            match existing {
                Some(stored) if stored == bytes => outcome.already += 1,
                Some(_) => return Err(super::registry::other_keys(card)),
                None => {
                    let holder: Option<String> = tx
                        .query_opt(
                            "SELECT id FROM dps WHERE noise_key = $1",
                            &[&&card.noise_key[..]],
                        )
                        .map_err(&e)?
                        .map(|r| r.get(0));
                    return Err(super::registry::noise_key_taken(card, holder.as_deref()));
                }
            }
        }
        tx.commit().map_err(&e)?;
        Ok(outcome)
    }

    /// See [`super::Store::dp_by_noise_key`].
    pub fn dp_by_noise_key(&mut self, key: &[u8; 32]) -> Result<Option<IdentityCard>, StoreError> {
        self.ensure_connected()?;
        let row = self
            .client
            .query_opt("SELECT card FROM dps WHERE noise_key = $1", &[&&key[..]])
            .map_err(self.err())?;
        row.map(|r| decode_card(&r.get::<_, Vec<u8>>(0)))
            .transpose()
    }

    /// See [`super::Store::dp_keys`].
    pub fn dp_keys<'a>(
        &mut self,
        dps: impl IntoIterator<Item = &'a PartyId>,
    ) -> Result<Result<Vec<DpKey>, PartyId>, StoreError> {
        self.ensure_connected()?;
        let dps: Vec<&PartyId> = dps.into_iter().collect();
        let names: Vec<&str> = dps.iter().map(|d| d.as_str()).collect();
        let rows = self
            .client
            .query(
                "SELECT id, verifying_key FROM dps WHERE id = ANY($1)",
                &[&names],
            )
            .map_err(self.err())?;
        let mut found: std::collections::HashMap<String, Vec<u8>> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut keys = Vec::with_capacity(dps.len());
        for dp in dps {
            match found.remove(dp.as_str()) {
                Some(key) => keys.push(super::registry::to_key(&key)?),
                None => return Ok(Err(dp.clone())),
            }
        }
        Ok(Ok(keys))
    }

    /// See [`super::Store::registered_dps`].
    pub fn registered_dps(&mut self) -> Result<Vec<(PartyId, DpKey)>, StoreError> {
        self.ensure_connected()?;
        let rows = self
            .client
            .query("SELECT id, verifying_key FROM dps ORDER BY id", &[])
            .map_err(self.err())?;
        rows.iter()
            .map(|r| {
                let id: String = r.get(0);
                let key: Vec<u8> = r.get(1);
                let id = PartyId::new(&id)
                    .map_err(|_| StoreError::Corrupt(format!("registered id {id:?}")))?;
                Ok((id, super::registry::to_key(&key)?))
            })
            .collect()
    }
}

/// DP `dp`'s stored bundle core and share for CP `index` in `task`, through `client` (a
/// connection, or a transaction holding the task's row lock); `e` names the database in errors.
pub(super) fn share_of<C: postgres::GenericClient>(
    client: &mut C,
    task: &[u8; 16],
    dp: &str,
    index: u32,
    e: &impl Fn(postgres::Error) -> StoreError,
) -> Result<Option<StoredShare>, StoreError> {
    let idx = i32::try_from(index).unwrap_or(i32::MAX);
    let row = client
        .query_opt(
            concat!(
                "SELECT b.pos, b.dp, b.core, ",
                share_2!(),
                " FROM bundles b WHERE b.task = $1 AND b.dp = $3 AND ",
                has_share_2!()
            ),
            &[&&task[..], &idx, &dp],
        )
        .map_err(e)?;
    row.map(|r| {
        Ok(StoredShare {
            pos: to_seq(r.get(0))?,
            dp: r.get(1),
            core: r.get(2),
            share: r.get(3),
        })
    })
    .transpose()
}

/// How a commit attempt failed: before its `COMMIT` was sent (nothing committed) or at it.
enum Attempt {
    BeforeCommit(StoreError),
    AtCommit(StoreError),
}

impl Attempt {
    fn into_error(self) -> StoreError {
        match self {
            Attempt::BeforeCommit(e) | Attempt::AtCommit(e) => e,
        }
    }
}

fn decode_card(bytes: &[u8]) -> Result<IdentityCard, StoreError> {
    decode_exact(bytes).map_err(|e| StoreError::Corrupt(format!("a registered card: {e}")))
}

/// Events and bundles of a batch not yet sent, flushed as one statement per table.
#[derive(Default)]
pub(super) struct Pending {
    events: Vec<(Vec<u8>, String, Vec<u8>)>,
    bundles: Vec<PendingBundle>,
}

/// A bundle's row, as `COPY` writes it: task, position, DP, core, shares and `share_ends`.
type PendingBundle = (Vec<u8>, i64, String, Vec<u8>, Vec<u8>, Vec<i32>);

impl Pending {
    pub(super) fn bundle(&mut self, b: &BundleWrite<'_>) -> Result<(), StoreError> {
        if b.share_lens.iter().sum::<u64>() != b.shares.len() as u64 {
            return Err(StoreError::Corrupt(format!(
                "{}'s share lengths do not add up to its shares",
                b.dp
            )));
        }
        let pos = i64::try_from(b.pos)
            .map_err(|_| StoreError::Corrupt(format!("bundle position {} too large", b.pos)))?;
        let ends = share_ends(b.share_lens).ok_or_else(|| {
            StoreError::Corrupt(format!("{}'s shares are too large for one row", b.dp))
        })?;
        self.bundles.push((
            b.task.to_vec(),
            pos,
            b.dp.to_owned(),
            b.core.to_vec(),
            b.shares.to_vec(),
            ends,
        ));
        Ok(())
    }

    fn flush(
        &mut self,
        tx: &mut Transaction<'_>,
        e: &impl Fn(postgres::Error) -> StoreError,
    ) -> Result<(), StoreError> {
        if !self.events.is_empty() {
            let (tasks, kinds, bodies) = unzip3(std::mem::take(&mut self.events));
            tx.execute(
                "INSERT INTO events (task, kind, body)
                 SELECT t, k, b FROM unnest($1::bytea[], $2::text[], $3::bytea[])
                     WITH ORDINALITY AS u (t, k, b, n) ORDER BY n",
                &[&tasks, &kinds, &bodies],
            )
            .map_err(e)?;
            // Front-ends that share the database read whether a task still collects from its row.
            tx.execute(
                "UPDATE tasks SET collecting = false WHERE id IN
                     (SELECT t FROM unnest($1::bytea[], $2::text[]) AS u (t, k)
                      WHERE k = 'close-submissions')",
                &[&tasks, &kinds],
            )
            .map_err(e)?;
        }
        self.flush_bundles(tx).map_err(e)
    }

    /// Inserts the pending bundles and their shares, and moves their tasks' `next_pos` past
    /// them.
    pub(super) fn flush_bundles(
        &mut self,
        tx: &mut Transaction<'_>,
    ) -> Result<(), postgres::Error> {
        let (tasks, positions) = self.flush_rows(tx)?;
        if !tasks.is_empty() {
            tx.execute(
                "UPDATE tasks SET next_pos = GREATEST(next_pos, m.p) FROM
                     (SELECT t, max(p) + 1 AS p FROM unnest($1::bytea[], $2::bigint[]) AS u (t, p)
                      GROUP BY t) AS m
                 WHERE id = m.t",
                &[&tasks, &positions],
            )?;
        }
        Ok(())
    }

    /// Inserts the pending bundles and their shares (their positions already counted in their
    /// tasks' `next_pos`); returns the inserted bundles' tasks and positions, as columns.
    pub(super) fn flush_rows(
        &mut self,
        tx: &mut Transaction<'_>,
    ) -> Result<(Vec<Vec<u8>>, Vec<i64>), postgres::Error> {
        if self.bundles.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let rows = std::mem::take(&mut self.bundles);
        let writer = tx.copy_in(
            "COPY bundles (task, pos, dp, core, shares, share_ends) FROM STDIN (FORMAT binary)",
        )?;
        let columns = [
            Type::BYTEA,
            Type::INT8,
            Type::TEXT,
            Type::BYTEA,
            Type::BYTEA,
            Type::INT4_ARRAY,
        ];
        let mut writer = BinaryCopyInWriter::new(writer, &columns);
        let mut tasks = Vec::with_capacity(rows.len());
        let mut positions = Vec::with_capacity(rows.len());
        for (task, pos, dp, core, shares, ends) in rows {
            writer.write(&[&task, &pos, &dp, &core, &shares, &ends])?;
            tasks.push(task);
            positions.push(pos);
        }
        writer.finish()?;
        Ok((tasks, positions))
    }
}

/// Where each share ends in the concatenation of shares of `lens`; `None` past `integer`'s
/// range (PostgreSQL's values stop at 1 GiB anyway).
fn share_ends(lens: &[u64]) -> Option<Vec<i32>> {
    let mut end = 0u64;
    lens.iter()
        .map(|&len| {
            end = end.checked_add(len)?;
            i32::try_from(end).ok()
        })
        .collect()
}

/// A CP part's key columns: the CP index, the worker and the group's size.
fn part_key(index: u32, part: WorkerPart) -> (i32, i32, i32) {
    let int = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
    (int(index), int(part.worker), int(part.workers))
}

/// Columns from rows, for `unnest`: one vector per field.
fn unzip3<A, B, C>(items: Vec<(A, B, C)>) -> (Vec<A>, Vec<B>, Vec<C>) {
    let (ab, c): (Vec<(A, B)>, Vec<C>) = items.into_iter().map(|(a, b, c)| ((a, b), c)).unzip();
    let (a, b) = ab.into_iter().unzip();
    (a, b, c)
}

fn insert_task(
    tx: &mut Transaction<'_>,
    task: &[u8; 16],
    spec: &[u8],
    e: &impl Fn(postgres::Error) -> StoreError,
) -> Result<(), StoreError> {
    let existing: Option<Vec<u8>> = tx
        .query_opt("SELECT spec FROM tasks WHERE id = $1", &[&&task[..]])
        .map_err(e)?
        .map(|r| r.get(0));
    match existing {
        Some(stored) if stored == spec => return Ok(()),
        Some(_) => return Err(StoreError::TaskConflict(*task)),
        None => {}
    }
    tx.execute(
        "INSERT INTO tasks (id, status, spec) VALUES ($1, $2, $3)",
        &[&&task[..], &TaskStatus::Open.as_str(), &spec],
    )
    .map_err(e)?;
    Ok(())
}

pub(super) fn status_of(
    tx: &mut Transaction<'_>,
    task: &[u8; 16],
    e: &impl Fn(postgres::Error) -> StoreError,
) -> Result<TaskStatus, StoreError> {
    let status: Option<String> = tx
        .query_opt("SELECT status FROM tasks WHERE id = $1", &[&&task[..]])
        .map_err(e)?
        .map(|r| r.get(0));
    parse_status(&status.ok_or(StoreError::UnknownTask(*task))?)
}

fn ensure_task(
    tx: &mut Transaction<'_>,
    task: &[u8; 16],
    e: &impl Fn(postgres::Error) -> StoreError,
) -> Result<(), StoreError> {
    status_of(tx, task, e).map(|_| ())
}

pub(super) fn update_status(
    tx: &mut Transaction<'_>,
    task: &[u8; 16],
    status: TaskStatus,
    e: &impl Fn(postgres::Error) -> StoreError,
) -> Result<(), StoreError> {
    let from = status_of(tx, task, e)?;
    if !from.may_become(status) {
        return Err(StoreError::InvalidTransition {
            task: *task,
            from,
            to: status,
        });
    }
    tx.execute(
        "UPDATE tasks SET status = $2 WHERE id = $1",
        &[&&task[..], &status.as_str()],
    )
    .map_err(e)?;
    Ok(())
}
