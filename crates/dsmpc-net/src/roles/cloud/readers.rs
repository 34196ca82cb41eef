//! Connections that read bundles back from the cloud's store — deliveries for CPs, summaries for
//! the edge, shares for judging complaints — on blocking threads, outside the state lock, while
//! the journal's writer thread owns the connection that writes.
//!
//! SQLite in WAL mode lets these readers run alongside the writer; each sees only committed
//! transactions, and a committed bundle's shares were synced to its segment file before the commit
//! (see `store::segments`), so whatever a reader finds is durable.

use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{CloudStore, StoreError, StoreLocation};

/// How many idle reader connections are kept open for the next read.
const IDLE_READERS: usize = 4;

/// A small pool of reading connections to one store.
pub(crate) struct Readers {
    location: StoreLocation,
    idle: Mutex<Vec<CloudStore>>,
}

impl Readers {
    /// Readers of the store at `location` (opened when first needed).
    pub(crate) fn new(location: &StoreLocation) -> Readers {
        Readers {
            location: location.clone(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on a reading connection on a blocking thread; its error, or a failure to open
    /// the store, becomes the refusal's text.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&mut CloudStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut store = readers.take()?;
            let outcome = read(&mut store);
            // A connection that failed (PostgreSQL restarted, say) is dropped, not reused; the
            // PostgreSQL store connects again on its next use.
            if outcome.is_ok() || matches!(store, CloudStore::Postgres(_)) {
                readers.put_back(store);
            }
            outcome
        })
        .await
        .map_err(|e| format!("a store reader failed: {e}"))?
        .map_err(|e| match e {
            // The database unreachable for a moment: the client asks again.
            StoreError::Postgres(_) => format!("{}{e}", crate::rpc::UNAVAILABLE),
            e => e.to_string(),
        })
    }

    fn take(&self) -> Result<CloudStore, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(store) => Ok(store),
            None => self.location.reopen(),
        }
    }

    fn put_back(&self, store: CloudStore) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(store);
        }
    }
}
