//! Validated inputs in fast mode: what binds a DP's fully linear proof ([`crate::crypto::flp`]) to
//! its bundle, how a CP opens its share of the input and of the proof into its share of the
//! verifier, and how the cloud decides from the CPs' verifier shares.
//!
//! **Binding.** The joint randomness (which the proof depends on) must be fixed by the input
//! before the proof exists, and the query randomness by everything the DP sent. The DP therefore
//! publishes, in its signed core, one *part* per CP: `part_i = H(task ‖ DP ‖ i ‖ blind_i ‖
//! share_i of the bits)`, the blind keeping a low-entropy share from being guessed from its
//! part. The joint seed is `H(task ‖ DP ‖ part_1 ‖ … ‖ part_n)`; the query seed hashes the whole
//! signed core (which holds every sealed share's digest, so the proof shares too). Each CP checks
//! its own part against what it decrypted: a share that does not match is the DP's fault, and the
//! CP complains as about any bad share (the arbiter checks the part the same way).
//!
//! **Decision.** A CP reports its verifier share for every DP it accepted. The cloud reconstructs
//! each DP's verifier from the reports (Shamir: any t, Lagrange at 0; additive: all n). With more
//! than t Shamir shares it first keeps those on the polynomial most shares agree on and names the
//! CPs off it (`inconsistent-verifier-share`); a DP whose verifier rejects is named
//! `invalid-validity-proof` and left out of the input set.

use sha2::{Digest, Sha256};

use crate::codec::{CodecError, Encode, Reader, Writer};
use crate::crypto::flp::RangeCircuit;
use crate::field::Field;
use crate::identity::PartyId;
use crate::polynomial::best_agreement;
use crate::prg::Seed;
use crate::round2::{BundleCore, SharePayload, write_share_value};
use crate::sharing::{Share, interpolate_at_zero};
use crate::task::{Task, TaskId};

/// Bytes of one CP's part in a core's `validity`.
pub const PART_LEN: usize = 32;

/// Most verifier elements one report may carry (DPs × verifier length): 2^24 elements, 128 MiB
/// in the 61-bit field, half the largest message.
pub const MAX_REPORT_VERIFIER: u64 = 1 << 24;

fn hash_prefix(label: &[u8], task: &TaskId, dp: &PartyId) -> Sha256 {
    let mut h = Sha256::new();
    h.update(label);
    h.update(task.0);
    h.update((dp.as_str().len() as u64).to_le_bytes());
    h.update(dp.as_str().as_bytes());
    h
}

/// CP `index`'s part: the hash of its share of the bits (as sent: elements or seed) and a blind.
pub fn part<F: Field>(
    task: &TaskId,
    dp: &PartyId,
    index: u32,
    blind: &Seed,
    share: &crate::sharing::ShareValue<F>,
) -> [u8; PART_LEN] {
    let mut w = Writer::new();
    write_share_value(&mut w, share);
    let mut h = hash_prefix(b"dsmpc/v1/flp/part", task, dp);
    h.update(index.to_le_bytes());
    h.update(blind.as_bytes());
    h.update(zeroize::Zeroizing::new(w.into_bytes()).as_slice());
    h.finalize().into()
}

/// The seed of the joint randomness: the hash of all the parts.
pub fn joint_seed(task: &TaskId, dp: &PartyId, parts: &[u8]) -> Seed {
    let mut h = hash_prefix(b"dsmpc/v1/flp/joint", task, dp);
    h.update(parts);
    Seed::from_bytes(h.finalize().into())
}

/// The seed of the query randomness: the hash of the DP's whole core.
pub fn query_seed(task: &TaskId, dp: &PartyId, core: &BundleCore) -> Seed {
    let mut w = Writer::new();
    core.encode(&mut w);
    let mut h = hash_prefix(b"dsmpc/v1/flp/query", task, dp);
    h.update(w.into_bytes());
    Seed::from_bytes(h.finalize().into())
}

/// CP `index`'s share of the constant 1: 1 in a Shamir sharing (the shares of a constant are
/// the constant), 1 for the first additive share and 0 for the others.
pub fn share_of_one<F: Field>(task: &Task, index: u32) -> F {
    if task.params.additive && index != 1 {
        F::ZERO
    } else {
        F::ONE
    }
}

/// What a CP takes from a DP's share in a fast task that validates inputs.
pub struct CheckedShare<F: Field> {
    /// Its share of the input `x = min + Σ 2^k·b_k`, one element per input element.
    pub input: Vec<F>,
    /// Its share of the verifier.
    pub verifier: Vec<F>,
}

/// Opens CP `index`'s decrypted share of `dp`'s bits and proof: checks the part in the DP's
/// signed `core`, expands both shares and computes the CP's shares of the input and of the
/// verifier. `None` when anything is off — the DP's fault, since its core is signed.
pub fn check_share<F: Field>(
    task: &Task,
    circuit: &RangeCircuit,
    dp: &PartyId,
    core: &BundleCore,
    index: u32,
    payload: &SharePayload<F>,
) -> Option<CheckedShare<F>> {
    let n = task.params.n as usize;
    let validity = payload.validity.as_ref()?;
    if payload.blind.is_some() || core.validity.len() != n * PART_LEN || index == 0 {
        return None;
    }
    let at = (index as usize - 1) * PART_LEN;
    let expected = core.validity.get(at..at + PART_LEN)?;
    if part(&task.id, dp, index, &validity.blind, &payload.share) != expected {
        return None;
    }
    let bits = Share {
        id: index,
        value: payload.share.clone(),
    }
    .expand(circuit.input_len())
    .ok()?;
    let proof = Share {
        id: index,
        value: validity.proof.clone(),
    }
    .expand(circuit.proof_len())
    .ok()?;
    let joint = circuit.joint_rand::<F>(&joint_seed(&task.id, dp, &core.validity));
    let query = circuit.query_rand::<F>(&query_seed(&task.id, dp, core));
    let one = share_of_one::<F>(task, index);
    let verifier = circuit.query(&bits, &proof, &joint, &query, one)?;
    let min = F::from_i128(task.range_min()?) * one;
    let input = circuit.decode(&bits).into_iter().map(|y| y + min).collect();
    Some(CheckedShare { input, verifier })
}

/// A report's verifier shares: `u64 count ‖ (u64 DP position ‖ elements)*`.
pub fn encode_verifiers<F: Field>(entries: &[(u64, &[F])]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(entries.len() as u64);
    for (position, verifier) in entries {
        w.u64(*position);
        w.field_elements(verifier);
    }
    w.into_bytes()
}

/// Decodes [`encode_verifiers`], refusing shares of another length than `len` and positions
/// that are not increasing.
pub fn decode_verifiers<F: Field>(
    bytes: &[u8],
    len: usize,
) -> Result<Vec<(u64, Vec<F>)>, CodecError> {
    let mut r = Reader::new(bytes);
    let count = r.u64("verifier count")?;
    // Each entry takes at least 8 + 4 bytes: refuse a count the bytes cannot hold.
    if count > (bytes.len() / 12) as u64 {
        return Err(CodecError::InvalidValue {
            what: "verifier count",
        });
    }
    let mut out: Vec<(u64, Vec<F>)> = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let position = r.u64("verifier position")?;
        let verifier = r.field_elements::<F>("verifier share")?;
        if verifier.len() != len || out.last().is_some_and(|(p, _)| *p >= position) {
            return Err(CodecError::InvalidValue {
                what: "verifier share",
            });
        }
        out.push((position, verifier));
    }
    r.finish()?;
    Ok(out)
}

/// What the verifier shares of one DP say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `Some(true)`: the input is valid; `Some(false)`: it is not; `None`: too few consistent
    /// shares to tell.
    pub valid: Option<bool>,
    /// CPs whose verifier shares are off the polynomial the others agree on.
    pub inconsistent: Vec<u32>,
}

/// Decides one DP from the CPs' verifier `shares` (index, share): `weights` (one per verifier
/// element, random and unknown to the CPs) compress each share to one point for the consistency
/// check, as the edge does with result shares.
pub fn decide<F: Field>(
    task: &Task,
    circuit: &RangeCircuit,
    joint: &Seed,
    shares: &[(u32, &[F])],
    weights: &[F],
) -> Decision {
    let t = task.params.t as usize;
    let undecided = |inconsistent| Decision {
        valid: None,
        inconsistent,
    };
    let joint = circuit.joint_rand::<F>(joint);
    if task.params.additive {
        if shares.len() < task.params.n as usize {
            return undecided(Vec::new());
        }
        let mut sum = vec![F::ZERO; circuit.verifier_len()];
        for (_, s) in shares {
            sum.iter_mut().zip(s.iter()).for_each(|(a, &b)| *a += b);
        }
        return Decision {
            valid: Some(circuit.decide(&sum, &joint)),
            inconsistent: Vec::new(),
        };
    }
    if shares.len() < t {
        return undecided(Vec::new());
    }
    let mut inconsistent = Vec::new();
    let mut kept: Vec<(u32, &[F])> = shares.to_vec();
    if shares.len() > t {
        let points: Vec<(u32, F)> = shares
            .iter()
            .map(|(i, s)| (*i, F::dot(s, weights)))
            .collect();
        let Ok(best) = best_agreement(&points, t) else {
            return undecided(Vec::new());
        };
        let max_errors = (shares.len() - t) / 2;
        if best.len() < shares.len() - max_errors {
            return undecided(Vec::new());
        }
        inconsistent = shares
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| !best.contains(i))
            .collect();
        kept.retain(|(i, _)| best.contains(i));
    }
    let ids: Vec<u64> = kept.iter().take(t).map(|(i, _)| u64::from(*i)).collect();
    let vectors: Vec<&[F]> = kept.iter().take(t).map(|(_, s)| *s).collect();
    let valid = interpolate_at_zero(&ids, &vectors)
        .ok()
        .map(|verifier| circuit.decide(&verifier, &joint));
    Decision {
        valid,
        inconsistent,
    }
}
