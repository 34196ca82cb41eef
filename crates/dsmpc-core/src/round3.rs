//! Round 3 — verification and the input set.
//!
//! Each CP checks its shares against the DPs' commitments and reports which it accepted. For a share
//! that fails, it files a [`Complaint`] anyone can check: it reveals the KEM shared secret of that
//! one sealed share with a Chaum–Pedersen proof that the secret is correct, so the cloud (or an
//! auditor) can decrypt that share alone and see whether it matches the commitments — without
//! trusting the CP. The cloud then signs the [`InputSet`]: the DPs whose bundles arrived whole and
//! drew no upheld complaint, and the culprits it found.

use crate::codec::{CodecError, Decode, Encode, Reader, Writer};
use crate::dpset::DpSet;
use crate::identity::PartyId;
use crate::signed::Signable;
use crate::task::named_enum;

/// A CP's verifiable accusation that DP `dp` sent it an invalid share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    /// The accused data provider.
    pub dp: PartyId,
    /// The complaining CP's index.
    pub index: u32,
    /// The KEM shared secret of the sealed share (compressed point).
    pub shared_secret: [u8; 32],
    /// DLEQ proof that the shared secret belongs to the CP's KEM key and the share's ephemeral key.
    pub proof: [u8; 64],
}

impl Encode for Complaint {
    fn encode(&self, w: &mut Writer) {
        self.dp.encode(w);
        w.u32(self.index);
        w.fixed(&self.shared_secret);
        w.fixed(&self.proof);
    }
}

impl Decode for Complaint {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Complaint {
            dp: PartyId::decode(r)?,
            index: r.u32("index")?,
            shared_secret: r.array("shared secret")?,
            proof: r.array("proof")?,
        })
    }
}

/// CP → cloud: what the CP verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationReport {
    /// The reporting CP's index.
    pub index: u32,
    /// DPs whose shares verified and were aggregated, by position in the task's DP list.
    pub accepted: DpSet,
    /// Complaints against DPs whose shares did not.
    pub complaints: Vec<Complaint>,
    /// DPs whose shares verified but whose range proofs did not (tasks that validate inputs),
    /// in id order. Anyone can re-check: the proof is in the DP's signed bundle core.
    pub range_complaints: Vec<PartyId>,
    /// Fast tasks that validate inputs: this CP's share of the verifier of every DP it accepted,
    /// in the task's field ([`crate::roles::validity::encode_verifiers`]); empty otherwise.
    pub verifiers: Vec<u8>,
}

impl Encode for VerificationReport {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.index);
        self.accepted.encode(w);
        w.list(&self.complaints, |w, c| c.encode(w));
        w.list(&self.range_complaints, |w, dp| dp.encode(w));
        w.bytes(&self.verifiers);
    }
}

impl Decode for VerificationReport {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(VerificationReport {
            index: r.u32("index")?,
            accepted: DpSet::decode(r)?,
            complaints: r.list("complaints", 102, Complaint::decode)?,
            range_complaints: r.list("range complaints", 2, PartyId::decode)?,
            verifiers: r.bytes("verifier shares")?.to_vec(),
        })
    }
}

impl Signable for VerificationReport {
    const LABEL: &'static str = "verification-report";
}

named_enum!(
    /// Why a party is named a culprit.
    CulpritReason, "culprit reason" {
        /// A DP sent a CP a share inconsistent with its commitments (upheld complaint).
        InvalidShare = (1, "invalid-share"),
        /// A CP complained about a share that was valid, or with an invalid proof.
        FalseComplaint = (2, "false-complaint"),
        /// A CP's result share failed the check against the combined commitments.
        InvalidResultShare = (3, "invalid-result-share"),
        /// A CP's result share is off the polynomial the other result shares agree on (fast mode).
        InconsistentResultShare = (4, "inconsistent-result-share"),
        /// A DP's range proof (verifiable mode) does not show its input inside the task's range.
        InvalidRangeProof = (5, "invalid-range-proof"),
        /// A DP's fully linear proof rejected: its shared input is not in the task's range
        /// (fast mode, validated inputs).
        InvalidValidityProof = (6, "invalid-validity-proof"),
        /// A CP's verifier share is off the polynomial the other CPs' shares agree on.
        InconsistentVerifierShare = (7, "inconsistent-verifier-share"),
    }
);

/// A party found cheating, and how.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Culprit {
    /// The cheating party.
    pub party: PartyId,
    /// What it did.
    pub reason: CulpritReason,
}

impl Encode for Culprit {
    fn encode(&self, w: &mut Writer) {
        self.party.encode(w);
        self.reason.encode(w);
    }
}

impl Decode for Culprit {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(Culprit {
            party: PartyId::decode(r)?,
            reason: CulpritReason::decode(r)?,
        })
    }
}

/// Cloud → CPs and edge: the DPs every CP aggregates, fixed once for the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSet {
    /// DPs whose shares are aggregated, by position in the task's DP list; the others of the
    /// list are excluded (no whole bundle, or an upheld complaint).
    pub included: DpSet,
    /// The committee indices of the CPs whose verification reports the cloud took, ascending:
    /// with fewer than t of them, the edge waits only briefly for the late ones' result shares.
    pub reported: Vec<u32>,
    /// Parties caught cheating so far.
    pub culprits: Vec<Culprit>,
}

impl Encode for InputSet {
    fn encode(&self, w: &mut Writer) {
        self.included.encode(w);
        w.list(&self.reported, |w, i| w.u32(*i));
        w.list(&self.culprits, |w, c| c.encode(w));
    }
}

impl Decode for InputSet {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(InputSet {
            included: DpSet::decode(r)?,
            reported: r.list("reported", 4, |r| r.u32("index"))?,
            culprits: r.list("culprits", 3, Culprit::decode)?,
        })
    }
}

impl Signable for InputSet {
    const LABEL: &'static str = "input-set";
}
