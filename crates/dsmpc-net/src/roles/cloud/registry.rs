//! Who may connect to the cloud: the servers of the roster, and the data providers registered
//! in its store (`store::registry`). Looked up by Noise static key when a connection's handshake
//! names one, on a connection of its own (the journal's writer owns the writing one).

use std::collections::HashMap;
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
    /// Cards registered or looked up lately, by Noise key: a DP that connects again, or soon
    /// after its registration, costs no query and no decoding of its card's two points (about
    /// 10 µs on the handshake). At most [`RECENT_CARDS`]; emptied when full.
    recent: Mutex<HashMap<[u8; 32], IdentityCard>>,
}

/// How many DP cards the registry keeps at hand (about 300 bytes each: 5 MB).
const RECENT_CARDS: usize = 16_384;

impl Registry {
    /// The roster's servers and the DPs registered in the store at `path`.
    pub(crate) fn new(roster: Arc<Roster>, path: &Path) -> Registry {
        Registry {
            roster,
            path: path.to_owned(),
            lookup: Mutex::new(None),
            recent: Mutex::new(HashMap::new()),
        }
    }

    /// Keeps `cards` at hand (those just registered), as far as [`RECENT_CARDS`] allows.
    pub(crate) fn remember(&self, cards: &[IdentityCard]) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        for card in cards.iter().take(RECENT_CARDS) {
            if recent.len() >= RECENT_CARDS {
                recent.clear();
            }
            recent.insert(card.noise_key, card.clone());
        }
    }

    fn recent(&self, key: &[u8; 32]) -> Option<IdentityCard> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.get(key).cloned()
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
            Ok(card) => {
                drop(lookup);
                if let Some(card) = &card {
                    self.remember(std::slice::from_ref(card));
                }
                card
            }
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
            None => self.recent(key).or_else(|| self.registered(key)),
        }
    }
}
