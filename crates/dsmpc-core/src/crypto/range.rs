//! Range proofs that a committed input lies in the task's declared range `[min, max]`:
//! Bulletproofs+ (the `tari_bulletproofs_plus` crate, on curve25519-dalek 5) over the DP's own
//! Pedersen commitment, so a proof needs no second commitment and no proof of equality.
//!
//! **The statement.** A scalar input `x` (a mantissa at the task's scale) is committed by its
//! sharing's constant coefficient, `C_0 = x·G_0 + b_0·H` ([`crate::crypto::pedersen`]). With `n`
//! the smallest power of two such that `2^n > max − min` (at most 64), the DP proves that
//!
//! ```text
//! D = C_0 + (2^n − 1 − max)·G_0   commits to   v = x + 2^n − 1 − max  ∈  [2^n − 1 − (max − min), 2^n)
//! ```
//!
//! with a Bulletproofs+ range proof for `n` bits and a *minimum-value promise*
//! `2^n − 1 − (max − min)`, under the Pedersen bases `G_0` (value) and `H` (blind). `v ≥` the
//! promise is `x ≥ min`; `v < 2^n` is `x ≤ max`. The proof shows this for the integer `v < ℓ`
//! that `D` opens to; as `x ≡ v − (2^n − 1 − max) (mod ℓ)` and `|x|` is far below `ℓ/2`, the value
//! the CPs' shares reconstruct to is an integer in `[min, max]`. Binding of the commitment (no one
//! knows `log_{G_0} H`) ties the proof to the very value that was shared: the CPs check their
//! shares against the same `C_0`.
//!
//! **Binding to the bundle.** The Fiat–Shamir transcript starts with the label
//! `dsmpc/v1/range` and the caller's binding bytes (the task id and the DP's id), so a proof
//! copied from another DP or task does not verify.
//!
//! **Batch verification.** [`verify_batch`] checks many DPs' proofs in one multiscalar
//! multiplication and, only if that fails, checks them one by one to name the invalid ones.
//!
//! **Vectors** (`d > 1`). `C_0 = Σ_j x_j·G_j + b_0·H` binds the whole vector, with one generator
//! per element, so the DP also commits to each element on the common bases,
//! `E_j = x_j·G_0 + β_j·H`, proves all `E_j` in range with one aggregated Bulletproofs+ proof
//! (the same shift and promise per element; `m = d` rounded up to a power of two, the extra
//! statements being the public commitments `(2^n − 1)·G_0`), and proves with [`link`] that the
//! `E_j` and `C_0` open to the same vector. Layout: `E_0 … E_{d−1}` (32 bytes each) ‖ link proof
//! (`32·d + 128` bytes) ‖ the aggregated proof.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::MultiscalarMul;
use rand_core::CryptoRng;
use tari_bulletproofs_plus::PedersenGens;
use tari_bulletproofs_plus::commitment_opening::CommitmentOpening;
use tari_bulletproofs_plus::generators::pedersen_gens::ExtensionDegree;
use tari_bulletproofs_plus::range_parameters::RangeParameters;
use tari_bulletproofs_plus::range_proof::{RangeProof, VerifyAction};
use tari_bulletproofs_plus::range_statement::RangeStatement;
use tari_bulletproofs_plus::range_witness::RangeWitness;
use tari_merlin::Transcript;

use super::pedersen::Generators;
use super::{CryptoError, decompress};

mod link;

/// The label the Fiat–Shamir transcript of every range proof starts with.
const TRANSCRIPT_LABEL: &[u8] = b"dsmpc/v1/range";

/// The longest Bulletproofs+ proof accepted for decoding (a 64-bit proof is about 700 bytes; an
/// aggregated proof grows by 64 bytes per doubling of the statements).
pub const MAX_PROOF_LEN: usize = 2048;

/// The longest vector a range proof covers: an aggregated proof of `d·n` bits costs about a
/// millisecond per element to make.
pub const MAX_PROVEN_DIM: usize = 1 << 12;

/// A declared input range `[min, max]` of mantissas, and the proof statement it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeBound {
    min: i128,
    max: i128,
    bits: u32,
}

impl RangeBound {
    /// The range `[min, max]`; refused when `min > max` or when `max − min` does not fit in 64
    /// bits (a Bulletproofs+ proof covers at most 64).
    pub fn new(min: i128, max: i128) -> Result<RangeBound, CryptoError> {
        let width = max
            .checked_sub(min)
            .filter(|w| (0..=i128::from(u64::MAX)).contains(w))
            .ok_or(CryptoError::RangeTooWide { min, max })?;
        let needed = 128 - (width as u128).leading_zeros();
        let bits = needed.max(1).next_power_of_two();
        Ok(RangeBound { min, max, bits })
    }

    /// The smallest value of the range.
    pub fn min(&self) -> i128 {
        self.min
    }

    /// The largest value of the range.
    pub fn max(&self) -> i128 {
        self.max
    }

    /// The bit length `n` of the proof: the smallest power of two with `2^n > max − min`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `2^n − 1 − max`: what is added to the input to make the proven value.
    fn offset(&self) -> i128 {
        ((1u128 << self.bits) - 1) as i128 - self.max
    }

    /// `2^n − 1 − (max − min)`: the minimum-value promise.
    fn promise(&self) -> u64 {
        (((1u128 << self.bits) - 1) - (self.max - self.min) as u128) as u64
    }

    /// The proven value of input `x`, if `x` is in the range.
    fn shifted(&self, x: i128) -> Option<u64> {
        (self.min..=self.max)
            .contains(&x)
            .then(|| (x + self.offset()) as u64)
    }

    /// `D = C_0 + offset·G_0`: the commitment the proof is about.
    fn statement_commitment(&self, gens: &Generators, c0: &RistrettoPoint) -> RistrettoPoint {
        c0 + scalar_of(self.offset()) * gens.g()[0]
    }
}

/// `x` as a scalar (negative values as `ℓ − |x|`).
pub fn scalar_of(x: i128) -> Scalar {
    let magnitude = Scalar::from(x.unsigned_abs());
    if x < 0 { -magnitude } else { magnitude }
}

/// Bulletproofs+ parameters for `bits`-bit proofs of up to `m` statements under the bases `G_0`
/// and `H` of `gens`, made once per shape (the generators are derived by hashing) and shared.
fn parameters(
    gens: &Generators,
    bound: &RangeBound,
    m: usize,
) -> Result<RangeParameters<RistrettoPoint>, CryptoError> {
    let bits = bound.bits;
    type Cache = Mutex<BTreeMap<(u32, usize, [u8; 32]), Arc<RangeParameters<RistrettoPoint>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let g0 = gens.g().first().ok_or(CryptoError::LengthMismatch {
        expected: 1,
        got: 0,
    })?;
    let key = (bits, m, g0.compress().to_bytes());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(found) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok((**found).clone());
    }
    let pc_gens = PedersenGens {
        h_base: *g0,
        h_base_compressed: g0.compress(),
        g_base_vec: vec![*gens.h()],
        g_base_compressed_vec: vec![gens.h().compress()],
        extension_degree: ExtensionDegree::DefaultPedersen,
    };
    let made = RangeParameters::init(bits as usize, m, pc_gens).map_err(|_| {
        CryptoError::RangeTooWide {
            min: bound.min,
            max: bound.max,
        }
    })?;
    cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, Arc::new(made.clone()));
    Ok(made)
}

fn transcript(binding: &[u8]) -> Transcript {
    let mut t = Transcript::new(TRANSCRIPT_LABEL);
    t.append_message(b"binding", binding);
    t
}

fn statement(
    gens: &Generators,
    bound: &RangeBound,
    c0: &RistrettoPoint,
) -> Result<RangeStatement<RistrettoPoint>, CryptoError> {
    vector_statement(gens, bound, std::slice::from_ref(c0))
}

/// The statement that every commitment of `e` (on the bases `G_0`, `H`) holds a value in
/// `bound`, padded with public in-range commitments to a power of two.
fn vector_statement(
    gens: &Generators,
    bound: &RangeBound,
    e: &[RistrettoPoint],
) -> Result<RangeStatement<RistrettoPoint>, CryptoError> {
    let m = e.len().next_power_of_two();
    let params = parameters(gens, bound, m)?;
    let mut commitments: Vec<RistrettoPoint> = e
        .iter()
        .map(|p| bound.statement_commitment(gens, p))
        .collect();
    commitments.resize(m, pad_commitment(gens, bound));
    RangeStatement::init(params, commitments, vec![Some(bound.promise()); m], None)
        .map_err(|_| CryptoError::InvalidProof)
}

/// The value of the padding statements, `2^n − 1` (inside the promise), and their commitment
/// `(2^n − 1)·G_0` (blind 0), which every verifier computes itself.
fn pad_value(bound: &RangeBound) -> u64 {
    ((1u128 << bound.bits) - 1) as u64
}

fn pad_commitment(gens: &Generators, bound: &RangeBound) -> RistrettoPoint {
    Scalar::from(pad_value(bound)) * gens.g()[0]
}

/// Proves that `C_0 = x·G_0 + blind·H` commits to an `x` in `bound`, bound to `binding` (the task
/// id and the DP's id). Refuses an `x` outside the range ([`CryptoError::OutOfRange`]): an
/// honest DP never makes a proof it knows to be false.
pub fn prove<R: CryptoRng + ?Sized>(
    gens: &Generators,
    bound: &RangeBound,
    x: i128,
    blind: &Scalar,
    binding: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    let v = bound
        .shifted(x)
        .ok_or(CryptoError::OutOfRange { bits: bound.bits })?;
    let g0 = gens.g().first().ok_or(CryptoError::LengthMismatch {
        expected: 1,
        got: 0,
    })?;
    let c0 = scalar_of(x) * g0 + blind * gens.h();
    prove_shifted(gens, bound, &c0, v, blind, binding, rng)
}

/// Proves that `c0` shifted by the bound's offset opens to `v` with `blind`, without checking
/// that this is true or that `v` is what `c0` holds: what a cheating DP can attempt (tests and
/// `simulate --out-of-range-dp` use it to make forgeries). An honest caller uses [`prove`].
pub fn prove_shifted<R: CryptoRng + ?Sized>(
    gens: &Generators,
    bound: &RangeBound,
    c0: &RistrettoPoint,
    v: u64,
    blind: &Scalar,
    binding: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    let statement = statement(gens, bound, c0)?;
    let witness = RangeWitness::init(vec![CommitmentOpening::new(v, vec![*blind])])
        .map_err(|_| CryptoError::InvalidProof)?;
    let mut rng = rng;
    let proof =
        RangeProof::prove_with_rng(&mut transcript(binding), &statement, &witness, &mut rng)
            .map_err(|_| CryptoError::OutOfRange { bits: bound.bits })?;
    Ok(proof.to_bytes())
}

/// Proves that the vector `xs`, committed with blind `b0` as `C_0 = Σ x_j·G_j + b0·H`, lies in
/// `bound` element by element (see the module's "Vectors"). An honest DP: refuses an element
/// outside the range.
pub fn prove_vector<R: CryptoRng + ?Sized>(
    gens: &Generators,
    bound: &RangeBound,
    xs: &[i128],
    b0: &Scalar,
    binding: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    if xs.iter().any(|&x| bound.shifted(x).is_none()) {
        return Err(CryptoError::OutOfRange { bits: bound.bits });
    }
    prove_vector_claiming(gens, bound, xs, xs, b0, binding, rng)
}

/// A vector proof whose per-element commitments hold `claimed` while `C_0` holds `xs`: the
/// honest proof when they are equal, a forgery otherwise (a cheating DP's best attempt: its
/// range proof may verify, the link to `C_0` does not). A range proof the prover refuses to make
/// (a claimed value out of range) is left out (an empty range part).
pub fn prove_vector_claiming<R: CryptoRng + ?Sized>(
    gens: &Generators,
    bound: &RangeBound,
    xs: &[i128],
    claimed: &[i128],
    b0: &Scalar,
    binding: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    let d = xs.len();
    if d == 0 || d > MAX_PROVEN_DIM || claimed.len() != d || gens.len() < d {
        return Err(CryptoError::LengthMismatch {
            expected: gens.len().min(MAX_PROVEN_DIM),
            got: d,
        });
    }
    let g = gens.g();
    let x: Vec<Scalar> = xs.iter().map(|&v| scalar_of(v)).collect();
    let c0 = RistrettoPoint::multiscalar_mul(
        x.iter().chain(std::iter::once(b0)),
        g.iter().take(d).chain(std::iter::once(gens.h())),
    );
    let betas: Vec<Scalar> = (0..d).map(|_| Scalar::random(rng)).collect();
    let e: Vec<RistrettoPoint> = claimed
        .iter()
        .zip(&betas)
        .map(|(&v, beta)| scalar_of(v) * g[0] + beta * gens.h())
        .collect();
    let link = link::prove(gens, binding, &c0, &e, &x, b0, &betas, rng);
    let statement = vector_statement(gens, bound, &e)?;
    let m = statement.commitments.len();
    let mut openings: Vec<CommitmentOpening> = claimed
        .iter()
        .zip(&betas)
        .map(|(&v, beta)| CommitmentOpening::new(shifted_value(bound, v), vec![*beta]))
        .collect();
    openings.resize_with(m, || {
        CommitmentOpening::new(pad_value(bound), vec![Scalar::ZERO])
    });
    let mut rng = rng;
    let range = RangeWitness::init(openings)
        .ok()
        .and_then(|witness| {
            RangeProof::prove_with_rng(&mut transcript(binding), &statement, &witness, &mut rng)
                .ok()
        })
        .map(|p| p.to_bytes())
        .unwrap_or_default();
    let mut out = Vec::with_capacity(64 * d + 128 + range.len());
    for p in &e {
        out.extend_from_slice(p.compress().as_bytes());
    }
    out.extend_from_slice(&link);
    out.extend_from_slice(&range);
    Ok(out)
}

/// The value a proof for input `x` would prove, whether or not `x` is in range (for forgeries):
/// `x + 2^n − 1 − max`, wrapped to 64 bits.
pub fn shifted_value(bound: &RangeBound, x: i128) -> u64 {
    (x + bound.offset()) as u64
}

/// One DP's claim: its constant-coefficient commitment `C_0`, its proof and the binding bytes.
pub struct RangeClaim<'a> {
    /// `C_0`, the commitment to the input.
    pub commitment: RistrettoPoint,
    /// The encoded proof.
    pub proof: &'a [u8],
    /// The task id and the DP's id, as given to [`prove`].
    pub binding: Vec<u8>,
}

/// The range statement and proof of a scalar claim (the proof is about `C_0` itself).
fn parse_scalar(
    gens: &Generators,
    bound: &RangeBound,
    claim: &RangeClaim<'_>,
) -> Option<(RangeStatement<RistrettoPoint>, RangeProof<RistrettoPoint>)> {
    if claim.proof.len() > MAX_PROOF_LEN {
        return None;
    }
    let proof = RangeProof::from_bytes(claim.proof).ok()?;
    Some((statement(gens, bound, &claim.commitment).ok()?, proof))
}

/// The range statement and proof of a vector claim of `d` elements, once its link proof checks.
fn parse_vector(
    gens: &Generators,
    bound: &RangeBound,
    d: usize,
    claim: &RangeClaim<'_>,
) -> Option<(RangeStatement<RistrettoPoint>, RangeProof<RistrettoPoint>)> {
    if d > MAX_PROVEN_DIM || gens.len() < d {
        return None;
    }
    let (e_bytes, rest) = claim.proof.split_at_checked(32 * d)?;
    let (link_bytes, range_bytes) = rest.split_at_checked(32 * d + 128)?;
    if range_bytes.len() > MAX_PROOF_LEN {
        return None;
    }
    let e = e_bytes
        .chunks_exact(32)
        .map(|c| decompress(c.try_into().ok()?))
        .collect::<Option<Vec<_>>>()?;
    let link = link::decode(link_bytes, d)?;
    if !link::verify(gens, &claim.binding, &claim.commitment, &e, &link) {
        return None;
    }
    let proof = RangeProof::from_bytes(range_bytes).ok()?;
    Some((vector_statement(gens, bound, &e).ok()?, proof))
}

/// Checks every claim (each of `d` elements) against `bound`; returns, in order, whether each
/// proof is valid. One batched check of the range proofs for all; only if it fails, each is
/// checked alone. (A vector's link proof is checked on its own first.)
pub fn verify_batch(
    gens: &Generators,
    bound: &RangeBound,
    d: usize,
    claims: &[RangeClaim<'_>],
) -> Vec<bool> {
    let parsed: Vec<Option<(RangeStatement<RistrettoPoint>, RangeProof<RistrettoPoint>)>> = claims
        .iter()
        .map(|c| match d {
            1 => parse_scalar(gens, bound, c),
            _ => parse_vector(gens, bound, d, c),
        })
        .collect();
    // The parsed claims, side by side, so that the whole batch and each single one are slices
    // (no statement is copied).
    let mut index = Vec::with_capacity(claims.len());
    let (mut statements, mut proofs) = (Vec::new(), Vec::new());
    for (i, p) in parsed.into_iter().enumerate() {
        if let Some((statement, proof)) = p {
            index.push(i);
            statements.push(statement);
            proofs.push(proof);
        }
    }
    let check = |range: std::ops::Range<usize>| -> bool {
        if range.is_empty() {
            return true;
        }
        let mut transcripts: Vec<Transcript> = index[range.clone()]
            .iter()
            .map(|&i| transcript(&claims[i].binding))
            .collect();
        RangeProof::verify_batch(
            &mut transcripts,
            &statements[range.clone()],
            &proofs[range],
            VerifyAction::VerifyOnly,
        )
        .is_ok()
    };
    let mut verdicts = vec![false; claims.len()];
    let all = check(0..index.len());
    for (k, &i) in index.iter().enumerate() {
        verdicts[i] = all || check(k..k + 1);
    }
    verdicts
}

#[cfg(test)]
mod tests;
