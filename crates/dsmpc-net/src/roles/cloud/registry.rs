//! Who may connect to the cloud: the servers of the roster, and the data providers registered
//! in its store (`store::registry`). Looked up by Noise static key when a connection's handshake
//! names one, on a connection of its own (the journal's writer owns the writing one).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use dsmpc_core::identity::{IdentityCard, Roster};
use tracing::warn;

use crate::server::Directory;
use crate::store::Store;

/// The roster and the store's DP registry, as one [`Directory`].
pub(crate) struct Registry {
    roster: Arc<Roster>,
    path: PathBuf,
    lookup: Mutex<Option<Store>>,
}

impl Registry {
    /// The roster's servers and the DPs registered in the store at `path`.
    pub(crate) fn new(roster: Arc<Roster>, path: &Path) -> Registry {
        Registry {
            roster,
            path: path.to_owned(),
            lookup: Mutex::new(None),
        }
    }

    fn registered(&self, key: &[u8; 32]) -> Option<IdentityCard> {
        let mut lookup = self.lookup.lock().unwrap_or_else(PoisonError::into_inner);
        if lookup.is_none() {
            match Store::open(&self.path) {
                Ok(store) => *lookup = Some(store),
                Err(e) => {
                    warn!("cannot read the DP registry: {e}");
                    return None;
                }
            }
        }
        match lookup.as_ref()?.dp_by_noise_key(key) {
            Ok(card) => card,
            Err(e) => {
                warn!("cannot read the DP registry: {e}");
                *lookup = None;
                None
            }
        }
    }
}

impl Directory for Registry {
    fn by_noise_key(&self, key: &[u8; 32]) -> Option<IdentityCard> {
        match self.roster.by_noise_key(key) {
            Some(card) => Some(card.clone()),
            None => self.registered(key),
        }
    }
}
