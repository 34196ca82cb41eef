//! Who may connect to the cloud: the servers of the roster, and the data providers registered
//! in its store (`store::registry`). Looked up by Noise static key when a connection's handshake
//! names one, on a connection of its own (the journal's writer owns the writing one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use dsmpc_core::identity::{IdentityCard, Roster};
use tracing::warn;

use crate::server::Directory;
use crate::store::{CloudStore, StoreLocation};

/// The roster and the store's DP registry, as one [`Directory`].
pub(crate) struct Registry {
    roster: Arc<Roster>,
    location: StoreLocation,
    lookup: Mutex<Option<CloudStore>>,
    /// Cards registered or looked up lately, by Noise key: a DP that connects again, or soon
    /// after its registration, costs no query and no decoding of its card's two points (about
    /// 10 µs on the handshake). At most [`RECENT_CARDS`]; emptied when full.
    recent: Mutex<HashMap<[u8; 32], IdentityCard>>,
}

/// How many DP cards the registry keeps at hand (about 300 bytes each: 5 MB).
const RECENT_CARDS: usize = 16_384;

impl Registry {
    /// The roster's servers and the DPs registered in the store at `location`.
    pub(crate) fn new(roster: Arc<Roster>, location: &StoreLocation) -> Registry {
        Registry {
            roster,
            location: location.clone(),
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

    /// The registered DP with this Noise key. A handshake asks from a runtime thread, which a
    /// blocking PostgreSQL connection or query must leave first.
    fn registered(&self, key: &[u8; 32]) -> Option<IdentityCard> {
        if matches!(self.location, StoreLocation::Postgres(_)) {
            super::shared::blocking(|| self.look_up(key))
        } else {
            self.look_up(key)
        }
    }

    fn look_up(&self, key: &[u8; 32]) -> Option<IdentityCard> {
        let mut lookup = self.lookup.lock().unwrap_or_else(PoisonError::into_inner);
        if lookup.is_none() {
            match self.location.reopen() {
                Ok(store) => *lookup = Some(store),
                Err(e) => {
                    warn!("cannot read the DP registry: {e}");
                    return None;
                }
            }
        }
        match lookup.as_mut()?.dp_by_noise_key(key) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::registry::tests::card;
    use dsmpc_core::identity::Role;

    /// A registered DP is found by its Noise key, from the store or from the cards at hand, and
    /// a stranger is not; the cards at hand stay within their bound.
    #[test]
    fn registered_dps_are_found_and_strangers_are_not() {
        let dir = std::env::temp_dir().join(format!("dsmpc-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cloud.db");
        let _ = std::fs::remove_file(&path);
        let cloud = card("cloud", Role::Cloud);
        let servers = [
            cloud.clone(),
            card("edge", Role::Edge),
            card("cp1", Role::Cp),
        ];
        let roster = Arc::new(Roster::new(servers).unwrap());
        let stored = card("dp1", Role::Dp);
        Store::open(&path)
            .unwrap()
            .register_dps(std::slice::from_ref(&stored))
            .unwrap();
        let registry = Registry::new(roster, &StoreLocation::Sqlite(path.clone()));
        assert_eq!(
            registry.by_noise_key(&stored.noise_key),
            Some(stored.clone())
        );
        assert_eq!(registry.by_noise_key(&cloud.noise_key), Some(cloud));
        assert_eq!(registry.by_noise_key(&[9; 32]), None);
        let many: Vec<IdentityCard> = (0..RECENT_CARDS + 10)
            .map(|i| {
                let mut c = stored.clone();
                c.noise_key[..8].copy_from_slice(&(i as u64).to_le_bytes());
                c
            })
            .collect();
        registry.remember(&many);
        let held = registry.recent.lock().unwrap().len();
        assert!(held <= RECENT_CARDS, "{held} cards at hand");
        assert_eq!(registry.by_noise_key(&stored.noise_key), Some(stored));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
