//! Complaint arbitration: the check anyone — the cloud, an auditor — can run on a complaint.
//!
//! A complaint reveals the KEM shared secret of one sealed share with a DLEQ proof. If the proof
//! holds, the share is decrypted with the revealed secret and checked against the DP's signed
//! commitments. The complaint is **upheld** (the DP cheated) when the share does not decrypt, does
//! not parse, or fails the commitment check; it is **rejected** (the CP lied) when the proof fails
//! or the share is valid.

use curve25519_dalek::RistrettoPoint;

use crate::crypto::dleq::{self, DleqProof};
use crate::crypto::kem::{self, SharedSecret};
use crate::crypto::pedersen::{self, Generators};
use crate::field::Field;
use crate::identity::{PartyId, Role};
use crate::round1::Committee;
use crate::round2::{BundleCore, SHARE_PURPOSE, ShareDelivery, SharePayload};
use crate::round3::Complaint;
use crate::sharing::ShareValue;
use crate::task::{Mode, Task};
use crate::wire::seal_context;

use super::validity;

/// The outcome of checking a complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The DP's share is invalid: exclude the DP.
    Upheld,
    /// The complaint is false: the complaining CP is a culprit.
    Rejected,
}

/// Decodes the `t` commitments of a bundle core, or `None` if any is malformed or the count is off.
pub fn commitments_of(core: &BundleCore, t: u32) -> Option<Vec<RistrettoPoint>> {
    if core.commitments.len() != t as usize {
        return None;
    }
    core.commitments
        .iter()
        .map(|c| pedersen::point_from_bytes(c).ok())
        .collect()
}

/// Judges `complaint` against the DP's stored share for the complaining CP: `delivery` is the
/// DP's signed core and the share sealed to CP `delivery.index`, as the cloud stored them.
pub fn judge<F: Field>(
    task: &Task,
    committee: &Committee,
    delivery: &ShareDelivery,
    complaint: &Complaint,
    gens: Option<&Generators>,
) -> Verdict {
    let Some(member) = committee.member(complaint.index) else {
        return Verdict::Rejected;
    };
    if delivery.index != complaint.index || delivery.core.signer != complaint.dp {
        return Verdict::Rejected;
    }
    let sealed = &delivery.share;
    let context = seal_context(
        SHARE_PURPOSE,
        &task.id,
        (&delivery.core.signer, Role::Dp),
        (&member.card.id, Role::Cp),
        member.index,
    );
    let proven = SharedSecret::from_bytes(&complaint.shared_secret).and_then(|shared| {
        let proof = DleqProof::from_bytes(&complaint.proof)?;
        dleq::verify(
            &member.card.kem_key,
            &sealed.ephemeral,
            &shared,
            &proof,
            &context,
        )?;
        Ok(shared)
    });
    let Ok(shared) = proven else {
        return Verdict::Rejected;
    };
    let Ok(plaintext) =
        kem::open_with_shared_secret(&shared, &member.card.kem_key, &context, sealed)
    else {
        return Verdict::Upheld;
    };
    let Ok(payload) = SharePayload::<F>::from_bytes(&plaintext, task.share_len::<F>()) else {
        return Verdict::Upheld;
    };
    let signed = &delivery.core;
    if share_is_valid(
        task,
        &signed.signer,
        &signed.body,
        complaint.index,
        &payload,
        gens,
    ) {
        Verdict::Rejected
    } else {
        Verdict::Upheld
    }
}

/// Whether `dp`'s decrypted share is valid for CP `index`: in verifiable mode, an explicit share
/// with a blinding share that matches the commitments; in fast mode, a share without blinding
/// and, when the task validates inputs, with a proof share whose part matches the DP's core
/// ([`validity::check_share`]; nothing more can be checked there).
pub fn share_is_valid<F: Field>(
    task: &Task,
    dp: &PartyId,
    core: &BundleCore,
    index: u32,
    payload: &SharePayload<F>,
    gens: Option<&Generators>,
) -> bool {
    match (task.params.mode, gens) {
        (Mode::Fast, _) => match task.validity_circuit::<F>() {
            Some(circuit) => {
                validity::check_share(task, &circuit, dp, core, index, payload).is_some()
            }
            None => payload.blind.is_none() && payload.validity.is_none(),
        },
        (Mode::Verifiable, Some(gens)) => {
            let (ShareValue::Explicit(share), Some(blind)) = (&payload.share, &payload.blind)
            else {
                return false;
            };
            let Some(commitments) = commitments_of(core, task.params.t) else {
                return false;
            };
            let (Some(share), Some(blind)) = (
                F::as_ristretto(share),
                F::as_ristretto(std::slice::from_ref(blind)),
            ) else {
                return false;
            };
            pedersen::verify_share(gens, &commitments, u64::from(index), share, &blind[0])
                .unwrap_or(false)
        }
        (Mode::Verifiable, None) => false,
    }
}
