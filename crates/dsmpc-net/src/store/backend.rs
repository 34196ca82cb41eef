//! Where the cloud keeps its state: a SQLite file (the default, one machine) or a PostgreSQL
//! database (`dsmpc cloud --database postgresql://…`). [`CloudStore`] offers the operations the
//! cloud uses with the same meaning on both ([`super::Store`], [`PgStore`]).

use std::fmt;
use std::path::PathBuf;

use dsmpc_core::identity::{IdentityCard, PartyId};
use dsmpc_core::task::DpKey;

use super::pg::{PgStore, redacted};
use super::registry::Registration;
use super::{
    Event, Store, StoreError, StoredCore, StoredShare, TaskRow, TaskStatus, WorkerPart, Write,
};

/// Where a cloud's store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (with its segment files beside it).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgresql://user@host:port/db`).
    Postgres(String),
}

impl StoreLocation {
    /// Opens a connection to the store, creating or migrating its schema.
    pub fn open(&self) -> Result<CloudStore, StoreError> {
        self.open_with(false)
    }

    /// [`StoreLocation::open`] for a cloud that is serving: a PostgreSQL server that refuses
    /// connections (restarting) is tried again for a while before this gives up.
    pub fn reopen(&self) -> Result<CloudStore, StoreError> {
        self.open_with(true)
    }

    fn open_with(&self, patient: bool) -> Result<CloudStore, StoreError> {
        Ok(match self {
            StoreLocation::Sqlite(path) => CloudStore::Sqlite(Store::open(path)?),
            StoreLocation::Postgres(url) => CloudStore::Postgres(PgStore::connect(url, patient)?),
        })
    }

    /// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
    pub fn is_postgres_url(url: &str) -> bool {
        url.starts_with("postgresql://") || url.starts_with("postgres://")
    }
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redacted(url)),
        }
    }
}

/// A connection to a cloud's store, SQLite or PostgreSQL.
#[derive(Debug)]
pub enum CloudStore {
    /// SQLite.
    Sqlite(Store),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// Calls the same method on whichever backend `$store` is.
macro_rules! on_backend {
    ($store:expr, $s:ident => $call:expr) => {
        match $store {
            CloudStore::Sqlite($s) => $call,
            CloudStore::Postgres($s) => $call,
        }
    };
}

impl CloudStore {
    /// SQLite: cuts uncommitted bytes off the segment files (see [`Store::trim_segments`]);
    /// PostgreSQL keeps no files, so there is nothing to cut.
    pub fn trim_segments(&mut self) -> Result<u64, StoreError> {
        match self {
            CloudStore::Sqlite(s) => s.trim_segments(),
            CloudStore::Postgres(_) => Ok(0),
        }
    }

    /// See [`Store::tasks`].
    pub fn tasks(&mut self, status: Option<TaskStatus>) -> Result<Vec<TaskRow>, StoreError> {
        on_backend!(self, s => s.tasks(status))
    }

    /// See [`Store::commit`].
    pub fn commit(&mut self, writes: &[Write<'_>]) -> Result<(), StoreError> {
        on_backend!(self, s => s.commit(writes))
    }

    /// See [`Store::events`].
    pub fn events(&mut self, task: &[u8; 16]) -> Result<Vec<Event>, StoreError> {
        on_backend!(self, s => s.events(task))
    }

    /// See [`Store::bundle_cores`].
    pub fn bundle_cores(&mut self, task: &[u8; 16]) -> Result<Vec<StoredCore>, StoreError> {
        on_backend!(self, s => s.bundle_cores(task))
    }

    /// See [`Store::bundle_count`].
    pub fn bundle_count(&mut self, task: &[u8; 16]) -> Result<u64, StoreError> {
        on_backend!(self, s => s.bundle_count(task))
    }

    /// See [`Store::cores_of`].
    pub fn cores_of(
        &mut self,
        task: &[u8; 16],
        dps: &[&str],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        on_backend!(self, s => s.cores_of(task, dps))
    }

    /// See [`Store::shares_after`].
    pub fn shares_after(
        &mut self,
        task: &[u8; 16],
        index: u32,
        after: Option<u64>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<StoredShare>, StoreError> {
        on_backend!(self, s => s.shares_after(task, index, after, limit, budget))
    }

    /// See [`Store::part_shares_after`].
    pub fn part_shares_after(
        &mut self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
        after: Option<u64>,
        limit: usize,
        budget: usize,
    ) -> Result<Vec<StoredShare>, StoreError> {
        on_backend!(self, s => s.part_shares_after(task, index, part, after, limit, budget))
    }

    /// See [`Store::put_cp_part`].
    pub fn put_cp_part(
        &mut self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
        body: &[u8],
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.put_cp_part(task, index, part, body))
    }

    /// See [`Store::cp_part`].
    pub fn cp_part(
        &mut self,
        task: &[u8; 16],
        index: u32,
        part: WorkerPart,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        on_backend!(self, s => s.cp_part(task, index, part))
    }

    /// See [`Store::share_of`].
    pub fn share_of(
        &mut self,
        task: &[u8; 16],
        dp: &str,
        index: u32,
    ) -> Result<Option<StoredShare>, StoreError> {
        on_backend!(self, s => s.share_of(task, dp, index))
    }

    /// See [`Store::register_dps`].
    pub fn register_dps(&mut self, cards: &[IdentityCard]) -> Result<Registration, StoreError> {
        on_backend!(self, s => s.register_dps(cards))
    }

    /// See [`Store::dp_by_noise_key`].
    pub fn dp_by_noise_key(&mut self, key: &[u8; 32]) -> Result<Option<IdentityCard>, StoreError> {
        on_backend!(self, s => s.dp_by_noise_key(key))
    }

    /// See [`Store::dp_keys`].
    pub fn dp_keys<'a>(
        &mut self,
        dps: impl IntoIterator<Item = &'a PartyId>,
    ) -> Result<Result<Vec<DpKey>, PartyId>, StoreError> {
        on_backend!(self, s => s.dp_keys(dps))
    }

    /// See [`Store::registered_dps`].
    pub fn registered_dps(&mut self) -> Result<Vec<(PartyId, DpKey)>, StoreError> {
        on_backend!(self, s => s.registered_dps())
    }
}
