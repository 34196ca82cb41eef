//! Round 1 — CP admission (Algorithm 1).
//!
//! A CP sends `token = Enc(cloud, VID)`, a fresh nonce and a timestamp, signed over the task id, its
//! VID, the nonce, the timestamp and the token (the signature input binds all of them, see
//! [`crate::signed`]). The cloud answers with the CP's index encrypted to it, and once n CPs are in,
//! signs the committee. All messages here need an authenticated channel only; the token and the
//! index are encrypted end to end.

use crate::codec::{CodecError, Decode, Encode, Reader, Writer};
use crate::crypto::kem::SealedBox;
use crate::identity::{IdentityCard, PartyId};
use crate::signed::Signable;

/// Purpose label of the token's encryption context.
pub const TOKEN_PURPOSE: &str = "admission-token";
/// Purpose label of the granted index's encryption context.
pub const INDEX_PURPOSE: &str = "admission-index";

/// CP → cloud: a request to join a task's committee. The signer is the VID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionRequest {
    /// The VID encrypted to the cloud.
    pub token: SealedBox,
    /// 16 fresh random bytes; the cloud refuses a nonce it has seen.
    pub nonce: [u8; 16],
    /// The CP's clock, Unix seconds; the cloud refuses one outside its window.
    pub timestamp: u64,
}

impl Encode for AdmissionRequest {
    fn encode(&self, w: &mut Writer) {
        self.token.encode(w);
        w.fixed(&self.nonce);
        w.u64(self.timestamp);
    }
}

impl Decode for AdmissionRequest {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(AdmissionRequest {
            token: SealedBox::decode(r)?,
            nonce: r.array("nonce")?,
            timestamp: r.u64("timestamp")?,
        })
    }
}

impl Signable for AdmissionRequest {
    const LABEL: &'static str = "admission-request";
}

/// Cloud → CP: the CP's index, encrypted to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionGrant {
    /// The admitted CP.
    pub cp: PartyId,
    /// `Enc(CP, index as u32 LE)`.
    pub sealed_index: SealedBox,
}

impl Encode for AdmissionGrant {
    fn encode(&self, w: &mut Writer) {
        self.cp.encode(w);
        self.sealed_index.encode(w);
    }
}

impl Decode for AdmissionGrant {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(AdmissionGrant {
            cp: PartyId::decode(r)?,
            sealed_index: SealedBox::decode(r)?,
        })
    }
}

impl Signable for AdmissionGrant {
    const LABEL: &'static str = "admission-grant";
}

/// One seat of the committee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitteeMember {
    /// The CP's index, 1..=n: its Shamir evaluation point.
    pub index: u32,
    /// The CP's public identity.
    pub card: IdentityCard,
}

/// Cloud → everyone: the n admitted CPs, in index order 1..=n.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committee {
    /// The members, `members[i-1].index == i`.
    pub members: Vec<CommitteeMember>,
}

impl Committee {
    /// The member with `index`.
    pub fn member(&self, index: u32) -> Option<&CommitteeMember> {
        index
            .checked_sub(1)
            .and_then(|i| self.members.get(i as usize))
            .filter(|m| m.index == index)
    }

    /// The index of CP `id`, if it is a member.
    pub fn index_of(&self, id: &PartyId) -> Option<u32> {
        self.members
            .iter()
            .find(|m| &m.card.id == id)
            .map(|m| m.index)
    }
}

impl Encode for Committee {
    fn encode(&self, w: &mut Writer) {
        w.list(&self.members, |w, m| {
            w.u32(m.index);
            m.card.encode(w);
        });
    }
}

impl Decode for Committee {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let members = r.list("committee", 102, |r| {
            Ok(CommitteeMember {
                index: r.u32("index")?,
                card: IdentityCard::decode(r)?,
            })
        })?;
        let in_order = members.iter().zip(1..).all(|(m, i)| m.index == i);
        if !in_order {
            return Err(CodecError::InvalidValue {
                what: "committee indices",
            });
        }
        Ok(Committee { members })
    }
}

impl Signable for Committee {
    const LABEL: &'static str = "committee";
}
