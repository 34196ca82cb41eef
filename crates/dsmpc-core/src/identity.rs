//! Who the parties are: ids, roles, long-term keys and the roster every party pins.
//!
//! Each party has an Ed25519 signing key (it signs everything it originates) and a KEM key pair
//! over ristretto255 (shares and results are encrypted to it). The public halves form an
//! [`IdentityCard`]; the [`Roster`] lists every card, and nothing is trusted on first use: a message
//! from an id that is not in the roster with the expected role is refused.

use std::collections::BTreeMap;
use std::fmt;

use curve25519_dalek::MontgomeryPoint;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::Error;
use crate::codec::{CodecError, Decode, Encode, Reader, Writer};
use crate::crypto::kem::{KemPublicKey, KemSecretKey};

/// The longest party id.
pub const MAX_PARTY_ID_LEN: usize = 64;

/// A party's name: 1 to 64 characters from `a-z 0-9 . _ -`, such as `cloud`, `cp3` or `dp17`.
///
/// Held inline up to 24 bytes (`CompactString`): every party holds lists of up to millions of DP
/// ids (a task's DP list, accepted sets, input sets), and a heap `String` per id cost about 56
/// bytes where the inline form costs 24 and clones without allocating.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyId(compact_str::CompactString);

impl PartyId {
    /// Validates `name` as a party id.
    pub fn new(name: &str) -> Result<PartyId, Error> {
        let valid_char = |c: char| matches!(c, 'a'..='z' | '0'..='9' | '.' | '_' | '-');
        if name.is_empty() || name.len() > MAX_PARTY_ID_LEN || !name.chars().all(valid_char) {
            return Err(Error::InvalidPartyId {
                id: name.chars().take(MAX_PARTY_ID_LEN).collect(),
            });
        }
        Ok(PartyId(compact_str::CompactString::new(name)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PartyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Encode for PartyId {
    fn encode(&self, w: &mut Writer) {
        w.u8(self.0.len() as u8);
        w.fixed(self.0.as_bytes());
    }
}

impl Decode for PartyId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let len = r.u8("party id")? as usize;
        let raw = r.take(len, "party id")?;
        let invalid = CodecError::InvalidValue { what: "party id" };
        let text = std::str::from_utf8(raw).map_err(|_| invalid.clone())?;
        PartyId::new(text).map_err(|_| invalid)
    }
}

/// What a party does in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Publishes tasks, admits CPs, relays bundles, fixes the input set.
    Cloud,
    /// Collects result shares, checks them, reconstructs the result.
    Edge,
    /// A computing party: aggregates the shares it receives.
    Cp,
    /// A data provider: shares its input.
    Dp,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Cloud, Role::Edge, Role::Cp, Role::Dp];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Cloud => "cloud",
            Role::Edge => "edge",
            Role::Cp => "cp",
            Role::Dp => "dp",
        }
    }

    /// The role's one-byte wire code.
    pub fn code(self) -> u8 {
        match self {
            Role::Cloud => 1,
            Role::Edge => 2,
            Role::Cp => 3,
            Role::Dp => 4,
        }
    }

    /// The role with this wire code.
    pub fn from_code(code: u8) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| Error::InvalidParameters {
                reason: format!("unknown role {s:?}; expected cloud, edge, cp or dp"),
            })
    }
}

/// A party's public identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCard {
    /// The party's id.
    pub id: PartyId,
    /// The party's role.
    pub role: Role,
    /// Verifies the party's signatures.
    pub verifying_key: VerifyingKey,
    /// Encrypts to the party.
    pub kem_key: KemPublicKey,
    /// The party's X25519 static key for Noise channels.
    pub noise_key: [u8; 32],
}

impl IdentityCard {
    /// Checks `signature` by this party over `message` (Ed25519 by the rule of
    /// [`crate::crypto::signature`], the same alone and in batches).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), Error> {
        let check = self.signature_check(message, signature);
        if crate::crypto::signature::verify(&check) {
            Ok(())
        } else {
            Err(Error::BadSignature {
                signer: self.id.clone(),
            })
        }
    }

    /// `signature` over `message` by this party, ready for
    /// [`crate::crypto::signature::verify_batch`].
    pub fn signature_check<'a>(
        &'a self,
        message: &'a [u8],
        signature: &'a Signature,
    ) -> crate::crypto::signature::SignatureCheck<'a> {
        crate::crypto::signature::SignatureCheck {
            key: &self.verifying_key,
            message,
            signature,
        }
    }
}

impl Encode for IdentityCard {
    fn encode(&self, w: &mut Writer) {
        self.id.encode(w);
        w.u8(self.role.code());
        w.fixed(self.verifying_key.as_bytes());
        w.fixed(&self.kem_key.to_bytes());
        w.fixed(&self.noise_key);
    }
}

impl Decode for IdentityCard {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let id = PartyId::decode(r)?;
        let role =
            Role::from_code(r.u8("role")?).ok_or(CodecError::InvalidValue { what: "role" })?;
        let verifying_key = VerifyingKey::from_bytes(&r.array("verifying key")?).map_err(|_| {
            CodecError::InvalidValue {
                what: "verifying key",
            }
        })?;
        let kem_key = KemPublicKey::from_bytes(&r.array("kem key")?)
            .map_err(|_| CodecError::InvalidValue { what: "kem key" })?;
        let noise_key = r.array("noise key")?;
        Ok(IdentityCard {
            id,
            role,
            verifying_key,
            kem_key,
            noise_key,
        })
    }
}

/// Length of [`SecretIdentity::secret_bytes`]: signing seed ‖ KEM scalar ‖ Noise X25519 secret.
pub const SECRET_KEY_LEN: usize = 96;

/// A party's secret keys and its card. Zeroized on drop (the key types zeroize themselves);
/// `Debug` shows only the card.
pub struct SecretIdentity {
    card: IdentityCard,
    signing_key: SigningKey,
    kem_key: KemSecretKey,
    noise_key: Zeroizing<[u8; 32]>,
}

impl SecretIdentity {
    /// Fresh keys for `id` acting as `role`.
    pub fn generate<R: CryptoRng + ?Sized>(id: PartyId, role: Role, rng: &mut R) -> Self {
        let signing_key = SigningKey::generate(rng);
        let kem_key = KemSecretKey::generate(rng);
        let mut noise_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(noise_key.as_mut());
        Self::from_keys(id, role, signing_key, kem_key, noise_key)
    }

    fn from_keys(
        id: PartyId,
        role: Role,
        signing_key: SigningKey,
        kem_key: KemSecretKey,
        noise_key: Zeroizing<[u8; 32]>,
    ) -> Self {
        let card = IdentityCard {
            id,
            role,
            verifying_key: signing_key.verifying_key(),
            kem_key: kem_key.public_key(),
            noise_key: MontgomeryPoint::mul_base_clamped(*noise_key).to_bytes(),
        };
        SecretIdentity {
            card,
            signing_key,
            kem_key,
            noise_key,
        }
    }

    /// The public card.
    pub fn card(&self) -> &IdentityCard {
        &self.card
    }

    /// The party's id.
    pub fn id(&self) -> &PartyId {
        &self.card.id
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing_key.sign(message)
    }

    /// The KEM secret key, to decrypt what was sealed to this party.
    pub fn kem_secret(&self) -> &KemSecretKey {
        &self.kem_key
    }

    /// The X25519 static secret for Noise channels (clamped by X25519 when used).
    pub fn noise_secret(&self) -> &[u8; 32] {
        &self.noise_key
    }

    /// The secret keys as [`SECRET_KEY_LEN`] bytes (signing seed ‖ KEM scalar ‖ Noise secret),
    /// for a key file.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        out[..32].copy_from_slice(self.signing_key.as_bytes());
        out[32..64].copy_from_slice(&self.kem_key.to_bytes());
        out[64..].copy_from_slice(self.noise_key.as_ref());
        out
    }

    /// Restores an identity from [`SecretIdentity::secret_bytes`].
    pub fn from_secret_bytes(
        id: PartyId,
        role: Role,
        bytes: &[u8; SECRET_KEY_LEN],
    ) -> Result<Self, Error> {
        let part = |range: std::ops::Range<usize>| {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&bytes[range]);
            key
        };
        let signing_key = SigningKey::from_bytes(&part(0..32));
        let kem_key =
            KemSecretKey::from_bytes(&part(32..64)).map_err(|_| Error::InvalidParameters {
                reason: format!("the KEM key of {id} is not a valid scalar"),
            })?;
        Ok(Self::from_keys(
            id,
            role,
            signing_key,
            kem_key,
            part(64..96),
        ))
    }
}

impl fmt::Debug for SecretIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretIdentity")
            .field("id", &self.card.id)
            .field("role", &self.card.role)
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// Where a verifier finds the key that checks a signer's signatures: the [`Roster`] for the
/// servers (cloud, edge, CPs), a task's attached DP list for its data providers
/// ([`crate::task::Task`]).
pub trait Signers {
    /// The verifying key of `id`, which must have `role`.
    fn verifying_key(&self, id: &PartyId, role: Role) -> Result<VerifyingKey, Error>;
}

impl<S: Signers + ?Sized> Signers for std::sync::Arc<S> {
    fn verifying_key(&self, id: &PartyId, role: Role) -> Result<VerifyingKey, Error> {
        (**self).verifying_key(id, role)
    }
}

impl Signers for Roster {
    fn verifying_key(&self, id: &PartyId, role: Role) -> Result<VerifyingKey, Error> {
        Ok(self.expect(id, role)?.verifying_key)
    }
}

/// Every server's public identity (cloud, edge, CPs), keyed by id. Data providers are not
/// listed: their keys live in the cloud's registry, and a task's signed DP list carries the key
/// of each DP it lists.
///
/// Besides the cards it keeps two indexes, built once: the Noise static key of each card (a
/// channel knows its peer only by that key) and the ids of the cloud and the edge. With 10^5 data
/// providers a per-server copy of the key index cost 44 MB each, and a scan for the edge 10^5 steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roster {
    cards: BTreeMap<PartyId, IdentityCard>,
    by_noise_key: BTreeMap<[u8; 32], PartyId>,
    cloud: PartyId,
    edge: PartyId,
}

impl Roster {
    /// A roster of `cards`; refuses duplicate ids, two parties with one Noise key, and anything but
    /// exactly one cloud and one edge.
    pub fn new(cards: impl IntoIterator<Item = IdentityCard>) -> Result<Roster, Error> {
        let invalid = |reason: String| Error::InvalidParameters { reason };
        let mut by_id = BTreeMap::new();
        let mut by_noise_key = BTreeMap::new();
        for card in cards {
            if card.role == Role::Dp {
                return Err(invalid(format!(
                    "{} is a data provider: the roster lists servers only, and a DP's keys are \
                     registered with the cloud (`dsmpc dp register`)",
                    card.id
                )));
            }
            if by_id.contains_key(&card.id) {
                return Err(invalid(format!(
                    "party {} appears twice in the roster",
                    card.id
                )));
            }
            if let Some(other) = by_noise_key.insert(card.noise_key, card.id.clone()) {
                return Err(invalid(format!(
                    "parties {other} and {} share one Noise key",
                    card.id
                )));
            }
            by_id.insert(card.id.clone(), card);
        }
        let only = |role: Role| {
            let mut of_role = by_id.values().filter(|c: &&IdentityCard| c.role == role);
            match (of_role.next(), of_role.count()) {
                (Some(card), 0) => Ok(card.id.clone()),
                (first, more) => Err(invalid(format!(
                    "the roster must hold exactly one {role}, not {}",
                    usize::from(first.is_some()) + more
                ))),
            }
        };
        Ok(Roster {
            cloud: only(Role::Cloud)?,
            edge: only(Role::Edge)?,
            cards: by_id,
            by_noise_key,
        })
    }

    /// The card of `id`, which must have `role`.
    pub fn expect(&self, id: &PartyId, role: Role) -> Result<&IdentityCard, Error> {
        let card = self
            .cards
            .get(id)
            .ok_or_else(|| Error::UnknownParty { id: id.clone() })?;
        if card.role != role {
            return Err(Error::WrongRole {
                id: id.clone(),
                expected: role,
                actual: card.role,
            });
        }
        Ok(card)
    }

    /// The card of `id`, if listed.
    pub fn get(&self, id: &PartyId) -> Option<&IdentityCard> {
        self.cards.get(id)
    }

    /// The cards with `role`, in id order.
    pub fn of_role(&self, role: Role) -> impl Iterator<Item = &IdentityCard> {
        self.cards.values().filter(move |c| c.role == role)
    }

    /// The cloud's card.
    pub fn cloud(&self) -> &IdentityCard {
        &self.cards[&self.cloud]
    }

    /// The edge's card.
    pub fn edge(&self) -> &IdentityCard {
        &self.cards[&self.edge]
    }

    /// The card whose Noise static key is `key`, if listed.
    pub fn by_noise_key(&self, key: &[u8; 32]) -> Option<&IdentityCard> {
        self.cards.get(self.by_noise_key.get(key)?)
    }

    /// Every card, in id order.
    pub fn cards(&self) -> impl Iterator<Item = &IdentityCard> {
        self.cards.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_exact;
    use crate::rng::os_rng;

    fn id(s: &str) -> PartyId {
        PartyId::new(s).unwrap()
    }

    /// The card of a fresh identity.
    fn card(name: &str, role: Role) -> IdentityCard {
        SecretIdentity::generate(id(name), role, &mut os_rng())
            .card()
            .clone()
    }

    #[test]
    fn party_ids_are_validated() {
        assert!(PartyId::new("cp1").is_ok());
        assert!(PartyId::new("dp-17.a_b").is_ok());
        for bad in ["", "CP1", "cp 1", "cp/1", "é", &"a".repeat(65)] {
            assert!(
                matches!(PartyId::new(bad), Err(Error::InvalidPartyId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cards_round_trip_and_signatures_verify() {
        let me = SecretIdentity::generate(id("cp1"), Role::Cp, &mut os_rng());
        let card = me.card().clone();
        assert_eq!(
            decode_exact::<IdentityCard>(&card.to_bytes()).unwrap(),
            card
        );
        let sig = me.sign(b"hello");
        card.verify(b"hello", &sig).unwrap();
        assert_eq!(
            card.verify(b"hellp", &sig),
            Err(Error::BadSignature { signer: id("cp1") })
        );
        let restored =
            SecretIdentity::from_secret_bytes(id("cp1"), Role::Cp, &me.secret_bytes()).unwrap();
        assert_eq!(restored.card(), &card);
    }

    #[test]
    fn debug_hides_keys() {
        let me = SecretIdentity::generate(id("dp1"), Role::Dp, &mut os_rng());
        let shown = format!("{me:?}");
        assert!(shown.contains("<redacted>") && shown.contains("dp1"));
        let secret_hex: String = me
            .secret_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&secret_hex[..8]));
    }

    #[test]
    fn roster_checks_roles_and_membership() {
        let cards = vec![
            card("cloud", Role::Cloud),
            card("edge", Role::Edge),
            card("cp1", Role::Cp),
        ];
        let roster = Roster::new(cards.clone()).unwrap();
        assert_eq!(roster.cloud().id, id("cloud"));
        assert_eq!(roster.edge().id, id("edge"));
        assert_eq!(
            roster.by_noise_key(&cards[2].noise_key).map(|c| &c.id),
            Some(&id("cp1"))
        );
        assert!(roster.by_noise_key(&[7; 32]).is_none());
        assert!(roster.expect(&id("cp1"), Role::Cp).is_ok());
        assert_eq!(
            roster.expect(&id("cp1"), Role::Dp),
            Err(Error::WrongRole {
                id: id("cp1"),
                expected: Role::Dp,
                actual: Role::Cp
            })
        );
        assert_eq!(
            roster.expect(&id("cp9"), Role::Cp),
            Err(Error::UnknownParty { id: id("cp9") })
        );
        let mut twice = cards.clone();
        twice.push(cards[2].clone());
        assert!(Roster::new(twice).is_err());
        assert!(Roster::new(cards[1..].to_vec()).is_err(), "no cloud");
        let mut two_edges = cards.clone();
        two_edges.push(card("edge2", Role::Edge));
        assert!(
            matches!(Roster::new(two_edges), Err(Error::InvalidParameters { reason }) if reason.contains("one edge, not 2"))
        );
    }

    #[test]
    fn a_roster_refuses_two_parties_with_one_noise_key() {
        let (cloud, edge, cp1) = (
            card("cloud", Role::Cloud),
            card("edge", Role::Edge),
            card("cp1", Role::Cp),
        );
        let impostor = IdentityCard {
            id: id("cp2"),
            ..cp1.clone()
        };
        assert!(matches!(
            Roster::new([cloud, edge, cp1, impostor]),
            Err(Error::InvalidParameters { reason }) if reason == "parties cp1 and cp2 share one Noise key"
        ));
    }

    #[test]
    fn undecodable_cards_are_refused() {
        let me = SecretIdentity::generate(id("cp1"), Role::Cp, &mut os_rng());
        let mut bytes = me.card().to_bytes();
        bytes[4] = 9; // role code
        assert_eq!(
            decode_exact::<IdentityCard>(&bytes),
            Err(CodecError::InvalidValue { what: "role" })
        );
        let bytes = me.card().to_bytes();
        assert!(matches!(
            decode_exact::<IdentityCard>(&bytes[..bytes.len() - 1]),
            Err(CodecError::Truncated { .. })
        ));
    }
}
