//! The registry of data providers: their public identity cards, held by the cloud in its store
//! rather than in the roster every party parses.
//!
//! The cloud looks a DP up here when it connects (by its Noise static key) and when a task lists
//! it (for the verifying key the signed task commits to). A registration is permanent: a DP
//! registered again with the identical card is a no-op, with other keys it is refused (the cloud
//! never silently swaps a DP's keys), and no two DPs share a Noise key.

use dsmpc_core::codec::{Encode, decode_exact};
use dsmpc_core::identity::{IdentityCard, PartyId, Role};
use dsmpc_core::task::DpKey;
use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// What a [`Store::register_dps`] call did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Registration {
    /// Cards newly registered.
    pub added: u64,
    /// Cards that were registered already, identically.
    pub already: u64,
}

impl Store {
    /// Registers the data providers of `cards`, all or none, in one transaction. Refuses a card
    /// whose role is not `dp`, an id registered with other keys, and a Noise key another DP has.
    pub fn register_dps(&mut self, cards: &[IdentityCard]) -> Result<Registration, StoreError> {
        let tx = self.write()?;
        let mut outcome = Registration::default();
        {
            // A new card is inserted at once; only a card the table's uniqueness refuses (its id
            // or its Noise key taken) is looked at again, to tell a resend from a conflict.
            let mut insert = tx.prepare_cached(
                "INSERT INTO dps (id, card, noise_key, verifying_key) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING",
            )?;
            let mut find = tx.prepare_cached("SELECT card FROM dps WHERE id = ?1")?;
            let mut owner = tx.prepare_cached("SELECT id FROM dps WHERE noise_key = ?1")?;
            for card in cards {
                if card.role != Role::Dp {
                    return Err(not_a_dp(card));
                }
                let bytes = card.to_bytes();
                let inserted = insert.execute(params![
                    card.id.as_str(),
                    &bytes,
                    &card.noise_key[..],
                    &card.verifying_key.to_bytes()[..]
                ])?;
                if inserted == 1 {
                    outcome.added += 1;
                    continue;
                }
                let existing: Option<Vec<u8>> = find
                    .query_row([card.id.as_str()], |r| r.get(0))
                    .optional()?;
                match existing {
                    Some(stored) if stored == bytes => outcome.already += 1,
                    Some(_) => return Err(other_keys(card)),
                    None => {
                        let holder: Option<String> = owner
                            .query_row([&card.noise_key[..]], |r| r.get(0))
                            .optional()?;
                        return Err(noise_key_taken(card, holder.as_deref()));
                    }
                }
            }
        }
        tx.commit()?;
        Ok(outcome)
    }

    /// The registered card of `dp`, if any.
    pub fn dp_card(&self, dp: &PartyId) -> Result<Option<IdentityCard>, StoreError> {
        let mut find = self
            .conn
            .prepare_cached("SELECT card FROM dps WHERE id = ?1")?;
        let bytes: Option<Vec<u8>> = find.query_row([dp.as_str()], |r| r.get(0)).optional()?;
        bytes.map(|b| decode_card(&b)).transpose()
    }

    /// The registered DP whose Noise static key is `key`, if any.
    pub fn dp_by_noise_key(&self, key: &[u8; 32]) -> Result<Option<IdentityCard>, StoreError> {
        let mut find = self
            .conn
            .prepare_cached("SELECT card FROM dps WHERE noise_key = ?1")?;
        let bytes: Option<Vec<u8>> = find.query_row([&key[..]], |r| r.get(0)).optional()?;
        bytes.map(|b| decode_card(&b)).transpose()
    }

    /// The verifying key of each of `dps`, in order: `Err` names the first that is not
    /// registered.
    pub fn dp_keys<'a>(
        &self,
        dps: impl IntoIterator<Item = &'a PartyId>,
    ) -> Result<Result<Vec<DpKey>, PartyId>, StoreError> {
        let mut find = self
            .conn
            .prepare_cached("SELECT verifying_key FROM dps WHERE id = ?1")?;
        let mut keys = Vec::new();
        for dp in dps {
            let key: Option<Vec<u8>> = find.query_row([dp.as_str()], |r| r.get(0)).optional()?;
            match key {
                Some(key) => keys.push(to_key(&key)?),
                None => return Ok(Err(dp.clone())),
            }
        }
        Ok(Ok(keys))
    }

    /// Every registered DP with its verifying key, ids ascending.
    pub fn registered_dps(&self) -> Result<Vec<(PartyId, DpKey)>, StoreError> {
        let mut all = self
            .conn
            .prepare("SELECT id, verifying_key FROM dps ORDER BY id")?;
        let rows = all.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        rows.map(|row| {
            let (id, key) = row?;
            let id = PartyId::new(&id)
                .map_err(|_| StoreError::Corrupt(format!("registered id {id:?}")))?;
            Ok((id, to_key(&key)?))
        })
        .collect()
    }

    /// How many DPs are registered.
    pub fn dp_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM dps", [], |r| r.get(0))?;
        Ok(count.unsigned_abs())
    }
}

/// The refusal of a card that is not a DP's (both backends).
pub(super) fn not_a_dp(card: &IdentityCard) -> StoreError {
    StoreError::Registry(format!(
        "{} is a {}, not a data provider: only DPs are registered",
        card.id, card.role
    ))
}

/// The refusal of an id registered already with other keys (both backends).
pub(super) fn other_keys(card: &IdentityCard) -> StoreError {
    StoreError::Registry(format!(
        "{} is already registered with other keys; a DP's keys are never replaced (register \
         the new key under a new id)",
        card.id
    ))
}

/// The refusal of a Noise key another DP (`holder`, if known) has (both backends).
pub(super) fn noise_key_taken(card: &IdentityCard, holder: Option<&str>) -> StoreError {
    StoreError::Registry(format!(
        "{} has the Noise key of {}, registered already",
        card.id,
        holder.unwrap_or("another DP")
    ))
}

pub(super) fn to_key(bytes: &[u8]) -> Result<DpKey, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("a verifying key of {} bytes", bytes.len())))
}

fn decode_card(bytes: &[u8]) -> Result<IdentityCard, StoreError> {
    decode_exact::<IdentityCard>(bytes)
        .map_err(|e| StoreError::Corrupt(format!("a registered card does not decode: {e}")))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use dsmpc_core::identity::SecretIdentity;
    use dsmpc_core::rng::os_rng;

    /// A fresh party's card.
    pub(crate) fn card(name: &str, role: Role) -> IdentityCard {
        SecretIdentity::generate(PartyId::new(name).unwrap(), role, &mut os_rng())
            .card()
            .clone()
    }

    #[test]
    fn dps_register_once_and_are_found_by_id_and_noise_key() {
        let mut store = Store::open_in_memory().unwrap();
        let (a, b) = (card("dp1", Role::Dp), card("dp2", Role::Dp));
        let first = store.register_dps(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(
            first,
            Registration {
                added: 2,
                already: 0
            }
        );
        let again = store.register_dps(std::slice::from_ref(&a)).unwrap();
        assert_eq!(
            again,
            Registration {
                added: 0,
                already: 1
            }
        );
        let c = card("dp3", Role::Dp);
        let twice = store.register_dps(&[c.clone(), c]).unwrap();
        assert_eq!(
            twice,
            Registration {
                added: 1,
                already: 1
            },
            "a card twice in one page is new once"
        );
        assert_eq!(store.dp_card(&a.id).unwrap(), Some(a.clone()));
        assert_eq!(
            store.dp_by_noise_key(&b.noise_key).unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.dp_by_noise_key(&[7; 32]).unwrap(), None);
        let all = store.registered_dps().unwrap();
        let ids: Vec<&PartyId> = all.iter().map(|(id, _)| id).collect();
        assert_eq!(ids[..2], [&a.id, &b.id]);
        assert_eq!(all[1].1, b.verifying_key.to_bytes());
        assert_eq!(store.dp_count().unwrap(), 3);
        let keys = store.dp_keys([&b.id, &a.id]).unwrap().unwrap();
        assert_eq!(
            keys,
            vec![b.verifying_key.to_bytes(), a.verifying_key.to_bytes()]
        );
        let stranger = PartyId::new("dp9").unwrap();
        assert_eq!(store.dp_keys([&a.id, &stranger]).unwrap(), Err(stranger));
    }

    #[test]
    fn conflicting_registrations_are_refused_whole() {
        let mut store = Store::open_in_memory().unwrap();
        let a = card("dp1", Role::Dp);
        store.register_dps(std::slice::from_ref(&a)).unwrap();
        let other_keys = card("dp1", Role::Dp);
        let fresh = card("dp2", Role::Dp);
        let err = store
            .register_dps(&[fresh.clone(), other_keys])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("already registered with other keys"),
            "{err}"
        );
        assert_eq!(store.dp_card(&fresh.id).unwrap(), None, "all or none");
        let mut twin = card("dp3", Role::Dp);
        twin.noise_key = a.noise_key;
        let err = store.register_dps(&[twin]).unwrap_err();
        assert!(
            err.to_string().contains("has the Noise key of dp1"),
            "{err}"
        );
        let err = store.register_dps(&[card("cp1", Role::Cp)]).unwrap_err();
        assert!(err.to_string().contains("not a data provider"), "{err}");
        assert_eq!(store.dp_count().unwrap(), 1);
    }
}
