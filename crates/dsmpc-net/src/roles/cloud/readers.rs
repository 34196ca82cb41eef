//! Connections that read bundles back from the cloud's store — deliveries for CPs, summaries for
//! the edge, shares for judging complaints — on blocking threads, outside the state lock, while
//! the journal's writer thread owns the connection that writes.
//!
//! SQLite in WAL mode lets these readers run alongside the writer; each sees only committed
//! transactions, and a committed bundle's shares were synced to its segment file before the commit
//! (see `store::segments`), so whatever a reader finds is durable.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{Store, StoreError};

/// How many idle reader connections are kept open for the next read.
const IDLE_READERS: usize = 4;

/// A small pool of reading connections to one store.
pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Store>>,
}

impl Readers {
    /// Readers of the store at `path` (opened when first needed).
    pub(crate) fn new(path: &Path) -> Readers {
        Readers {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on a reading connection on a blocking thread; its error, or a failure to open
    /// the store, becomes the refusal's text.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = readers.take()?;
            let outcome = read(&store);
            readers.put_back(store);
            outcome
        })
        .await
        .map_err(|e| format!("a store reader failed: {e}"))?
        .map_err(|e| e.to_string())
    }

    fn take(&self) -> Result<Store, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(store) => Ok(store),
            None => Store::open(&self.path),
        }
    }

    fn put_back(&self, store: Store) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(store);
        }
    }
}
