//! Pedersen vector commitments to the coefficient vectors of a Shamir sharing, so that every party
//! can check its share against a dealer's public commitments — one dealer at a time, or all
//! dealers at once with one multiscalar multiplication.
//!
//! A dealer shares a vector `x` of length `d` with per-element polynomials of degree t-1 over the
//! ristretto255 scalar field: coefficient vectors `a_0 = x, a_1, …, a_{t-1}` (see
//! [`crate::sharing::VectorPolynomial`]) and one blinding polynomial
//! `b(X) = b_0 + b_1·X + … + b_{t-1}·X^{t-1}`. It publishes the t commitments
//!
//! ```text
//! C_k = Σ_j a_{k,j}·G_j + b_k·H
//! ```
//!
//! Party `i` receives `s_i = (f_j(i))_j` and `r_i = b(i)` and checks
//! `Σ_j s_{i,j}·G_j + r_i·H == Σ_k i^k·C_k`. The commitments are perfectly hiding (they reveal
//! nothing about `x`) and computationally binding (a dealer cannot open them two ways without
//! knowing discrete logs among the generators, which nobody does: they are hashed to the group).
//!
//! Commitments are linear: `Σ_u w_u·C_{u,k}` commits to the weighted sum of the dealers'
//! polynomials, so an aggregated share `Σ_u w_u·s_{u,i}` with blind `Σ_u w_u·r_{u,i}` verifies
//! against [`combine_commitments`] — which is how a result share is checked.
//!
//! **Timing.** Committing uses the constant-time multiscalar multiplication, because the
//! coefficients are the dealer's secrets. Verification uses the variable-time one, which is several
//! times faster for large inputs; the share being verified is secret, but the timing it leaks is
//! observable only on the verifier's own machine, which already holds the share.

use std::fmt;
use std::iter;
use std::ops::Range;
use std::sync::OnceLock;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity, MultiscalarMul, VartimeMultiscalarMul};
use rand_core::CryptoRng;
use rayon::prelude::*;
use sha2::Sha512;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::{Zeroize, Zeroizing};

use super::{CryptoError, decompress};
use crate::field::{LINEAR_COMBINATION_BLOCK, Ristretto, Wide512};
use crate::sharing::SecretVec;

/// The largest number of `G_j` generators (the largest committed vector length).
pub const MAX_GENERATORS: usize = 1_000_000;

/// Hash-to-group input prefix of `G_j`; followed by `j` as a little-endian `u64`.
const G_DOMAIN: &[u8] = b"dsmpc/v1/pedersen/G";
/// Hash-to-group input of `H`.
const H_DOMAIN: &[u8] = b"dsmpc/v1/pedersen/H";

/// Points per constant-time multiscalar multiplication: bounds the lookup tables (1280 bytes per
/// point) to a few hundred kilobytes; the shared doublings cost about 1% per chunk.
const CT_CHUNK: usize = 256;
/// Points per variable-time multiscalar multiplication: bounds Pippenger's buffers (about 230
/// bytes per point) to about 15 MB. Inputs up to this size take exactly one multiplication.
const VARTIME_CHUNK: usize = 1 << 16;
/// Points from which a variable-time multiscalar multiplication is split across rayon's threads:
/// below, one Pippenger run is cheap enough that the split would gain little.
const VARTIME_PAR_MIN: usize = 512;

/// The generators `G_0, …, G_{d-1}` and `H` of vector commitments of length `d`.
///
/// `G_j` is `RistrettoPoint::hash_from_bytes::<Sha512>("dsmpc/v1/pedersen/G" ‖ j as u64 LE)` and
/// `H` is `hash_from_bytes::<Sha512>("dsmpc/v1/pedersen/H")`, so nobody knows a discrete-log
/// relation among them, and every party derives the same ones.
///
/// For up to [`MAX_KEPT_MULTIPLES`] generators they also keep, built on first use, the multiples
/// `1·G_j … 8·G_j` that committing to short values needs (see [`commit_in_range`]). These are
/// public and derived from the generators alone.
#[derive(Clone)]
pub struct Generators {
    g: Vec<RistrettoPoint>,
    h: RistrettoPoint,
    multiples: OnceLock<Option<Vec<short::Multiples>>>,
}

/// The most generators whose multiples are kept (1280 bytes each, 84 MB at this bound); beyond,
/// [`commit_in_range`] builds them for each commitment, which still beats the general
/// multiplication for ranges of up to about 32 bits (3.6 against 6 µs per point at 10 bits).
pub const MAX_KEPT_MULTIPLES: usize = 1 << 16;

impl PartialEq for Generators {
    fn eq(&self, other: &Self) -> bool {
        self.g == other.g && self.h == other.h
    }
}

impl Eq for Generators {}

impl Generators {
    /// The generators for vectors of length `d` (at most [`MAX_GENERATORS`]).
    ///
    /// Hashing to the group costs about 10 µs per point — about 10 s for a million — so callers
    /// derive the generators once per dimension and keep them.
    pub fn derive(d: usize) -> Result<Self, CryptoError> {
        if d > MAX_GENERATORS {
            return Err(CryptoError::TooManyGenerators {
                requested: d,
                max: MAX_GENERATORS,
            });
        }
        Ok(Generators {
            g: (0..d as u64).map(generator_g).collect(),
            h: RistrettoPoint::hash_from_bytes::<Sha512>(H_DOMAIN),
            multiples: OnceLock::new(),
        })
    }

    /// The vector length `d` these generators commit to.
    pub fn len(&self) -> usize {
        self.g.len()
    }

    /// Whether `d` is 0 (commitments are then to the blind only).
    pub fn is_empty(&self) -> bool {
        self.g.is_empty()
    }

    /// `G_0, …, G_{d-1}`.
    pub fn g(&self) -> &[RistrettoPoint] {
        &self.g
    }

    /// `H`, the generator of the blinding factor.
    pub fn h(&self) -> &RistrettoPoint {
        &self.h
    }

    /// `G_0, …, G_{d-1}, H`, in the order of [`commit`]'s scalars.
    fn all(&self) -> impl Iterator<Item = &RistrettoPoint> {
        self.g.iter().chain(iter::once(&self.h))
    }

    fn check_len(&self, got: usize) -> Result<(), CryptoError> {
        check_len(self.len(), got)
    }

    /// The multiples `1·G_j … 8·G_j` for [`commit_in_range`], built on first use (in parallel
    /// for long vectors); `None` beyond [`MAX_KEPT_MULTIPLES`] generators.
    fn kept_multiples(&self) -> Option<&[short::Multiples]> {
        self.multiples
            .get_or_init(|| multiples(&self.g, MAX_KEPT_MULTIPLES))
            .as_deref()
    }
}

/// The multiples of each of `g`, if there are at most `keep_at_most` of them.
fn multiples(g: &[RistrettoPoint], keep_at_most: usize) -> Option<Vec<short::Multiples>> {
    (g.len() <= keep_at_most).then(|| {
        if g.len() < CT_CHUNK {
            g.iter().map(short::Multiples::new).collect()
        } else {
            g.par_iter().map(short::Multiples::new).collect()
        }
    })
}

impl fmt::Debug for Generators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Generators(d={})", self.len())
    }
}

fn generator_g(j: u64) -> RistrettoPoint {
    let mut input = [0u8; G_DOMAIN.len() + 8];
    input[..G_DOMAIN.len()].copy_from_slice(G_DOMAIN);
    input[G_DOMAIN.len()..].copy_from_slice(&j.to_le_bytes());
    RistrettoPoint::hash_from_bytes::<Sha512>(&input)
}

fn check_len(expected: usize, got: usize) -> Result<(), CryptoError> {
    if expected != got {
        return Err(CryptoError::LengthMismatch { expected, got });
    }
    Ok(())
}

/// `Σ_j values[j]·G_j + blind·H`, in constant time. `values` must have `gens.len()` elements.
pub fn commit(
    gens: &Generators,
    values: &[Ristretto],
    blind: &Ristretto,
) -> Result<RistrettoPoint, CryptoError> {
    gens.check_len(values.len())?;
    let scalars = values.iter().chain(iter::once(blind)).map(|v| &v.0);
    Ok(ct_msm(scalars, gens.all()))
}

/// A public bound on committed values: each is an integer `v` with `|v| < 2^bits`. A dealer's
/// inputs lie in the task's declared range, so the commitment to its constant coefficients can
/// take the short path of [`commit_in_range`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRange {
    bits: u32,
}

impl ValueRange {
    /// The bound covering the integers `min..=max`, if it fits in [`short::MAX_BITS`] bits
    /// (beyond, the short path would not pay); `None` otherwise, or if `min > max`.
    pub fn of_integers(min: i128, max: i128) -> Option<ValueRange> {
        if min > max {
            return None;
        }
        let magnitude = min.unsigned_abs().max(max.unsigned_abs());
        let bits = u128::BITS - magnitude.leading_zeros();
        (bits <= short::MAX_BITS).then_some(ValueRange { bits })
    }

    /// The bound's width: values have `|v| < 2^bits`.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// `value` as a signed integer, if `|value| < 2^bits`. Whether a value lies in the range is
    /// public (dealers refuse inputs outside the task's range before sharing); the value itself,
    /// its sign included, is handled without branching on it.
    fn signed(&self, value: &Scalar) -> Option<i64> {
        let (positive, positive_fits) = self.magnitude(value);
        let (negative, negative_fits) = self.magnitude(&-value);
        let negated = 0u64.wrapping_sub(negative);
        let signed = u64::conditional_select(&negated, &positive, positive_fits);
        bool::from(positive_fits | negative_fits).then_some(signed as i64)
    }

    /// `value` as an integer below `2^bits`, and whether it is one (a `Choice`, not a branch).
    fn magnitude(&self, value: &Scalar) -> (u64, Choice) {
        let bytes = Zeroizing::new(value.to_bytes());
        let mut low = Zeroizing::new([0u8; 8]);
        low.copy_from_slice(&bytes[..8]);
        let low = u64::from_le_bytes(*low);
        let high = bytes[8..].iter().fold(0u8, |acc, b| acc | b);
        let fits = high.ct_eq(&0) & (low >> self.bits).ct_eq(&0);
        (low, fits)
    }
}

/// [`commit`] for values known to lie in `range`: the same commitment
/// `Σ_j values[j]·G_j + blind·H`, with the short constant-time multiplication of [`short`] for
/// the values. Errors if a value lies outside the range or the lengths disagree.
pub fn commit_in_range(
    gens: &Generators,
    values: &[Ristretto],
    range: &ValueRange,
    blind: &Ristretto,
) -> Result<RistrettoPoint, CryptoError> {
    gens.check_len(values.len())?;
    let signed = values
        .iter()
        .map(|v| range.signed(&v.0))
        .collect::<Option<Vec<i64>>>()
        .map(Zeroizing::new)
        .ok_or(CryptoError::OutOfRange { bits: range.bits })?;
    let kept = gens.kept_multiples();
    let sum = chunked_sum(gens.len(), CT_CHUNK, |chunk| {
        let multiples = kept.map(|m| &m[chunk.clone()]);
        short::msm(
            &gens.g[chunk.clone()],
            multiples,
            &signed[chunk],
            range.bits,
        )
    });
    Ok(sum + gens.h * blind.0)
}

/// Constant-time `Σ scalars[i]·points[i]`, in chunks of [`CT_CHUNK`] points multiplied in
/// parallel on rayon's threads. Each chunk is the constant-time Straus multiplication, so the
/// split (which depends only on the length) leaks nothing about the scalars.
fn ct_msm<'a>(
    scalars: impl Iterator<Item = &'a Scalar>,
    points: impl Iterator<Item = &'a RistrettoPoint>,
) -> RistrettoPoint {
    let pairs: Vec<(&Scalar, &RistrettoPoint)> = scalars.zip(points).collect();
    chunked_sum(pairs.len(), CT_CHUNK, |chunk| {
        let chunk = &pairs[chunk];
        RistrettoPoint::multiscalar_mul(chunk.iter().map(|p| p.0), chunk.iter().map(|p| p.1))
    })
}

/// `Σ sum_of(range)` over `0..len` cut into ranges of `chunk`: a single range on the caller's
/// thread (a hand-off to rayon costs two wake-ups), several in parallel on rayon's threads. The
/// cut depends only on the lengths, never on the values.
fn chunked_sum(
    len: usize,
    chunk: usize,
    sum_of: impl Fn(Range<usize>) -> RistrettoPoint + Sync,
) -> RistrettoPoint {
    if len <= chunk {
        return sum_of(0..len);
    }
    (0..len.div_ceil(chunk))
        .into_par_iter()
        .map(|c| sum_of(c * chunk..((c + 1) * chunk).min(len)))
        .reduce(RistrettoPoint::identity, |acc, p| acc + p)
}

/// Variable-time `Σ scalars[i]·points[i]`: one Pippenger multiplication for up to
/// [`VARTIME_PAR_MIN`] points; beyond, one per rayon thread (at most [`VARTIME_CHUNK`] points
/// each), in parallel.
fn vartime_msm<'a>(
    scalars: &[Scalar],
    points: impl Iterator<Item = &'a RistrettoPoint>,
) -> RistrettoPoint {
    let threads = rayon::current_num_threads().max(1);
    let chunk = if scalars.len() < VARTIME_PAR_MIN {
        VARTIME_CHUNK
    } else {
        scalars.len().div_ceil(threads).clamp(1, VARTIME_CHUNK)
    };
    vartime_msm_chunked(scalars, points, chunk)
}

fn vartime_msm_chunked<'a>(
    scalars: &[Scalar],
    points: impl Iterator<Item = &'a RistrettoPoint>,
    chunk: usize,
) -> RistrettoPoint {
    let points: Vec<&RistrettoPoint> = points.collect();
    chunked_sum(scalars.len(), chunk, |range| {
        RistrettoPoint::vartime_multiscalar_mul(
            &scalars[range.clone()],
            points[range].iter().copied(),
        )
    })
}

/// The t commitments `C_k = Σ_j coefficients[k][j]·G_j + blinding[k]·H` to a vector polynomial
/// (see [`crate::sharing::VectorPolynomial::coefficients`]). There must be one blinding
/// coefficient per coefficient vector, and every vector must have `gens.len()` elements.
pub fn commit_polynomial(
    gens: &Generators,
    coefficients: &[SecretVec<Ristretto>],
    blinding: &[Ristretto],
) -> Result<Vec<RistrettoPoint>, CryptoError> {
    check_len(coefficients.len(), blinding.len())?;
    for c in coefficients {
        gens.check_len(c.len())?;
    }
    if gens.len() < CT_CHUNK {
        // Short vectors: t small multiplications on the caller's thread.
        return coefficients
            .iter()
            .zip(blinding)
            .map(|(c, b)| commit(gens, c, b))
            .collect();
    }
    coefficients
        .par_iter()
        .zip(blinding)
        .map(|(c, b)| commit(gens, c, b))
        .collect()
}

/// `1, x, x^2, …, x^{t-1}`.
fn powers(x: u64, t: usize) -> Vec<Scalar> {
    let x = Scalar::from(x);
    iter::successors(Some(Scalar::ONE), |&p| Some(p * x))
        .take(t)
        .collect()
}

/// `Σ_k x^k·C_k`: the commitment to party `x`'s share (and blind), from the dealer's commitments.
pub fn share_commitment(commitments: &[RistrettoPoint], x: u64) -> RistrettoPoint {
    vartime_msm(&powers(x, commitments.len()), commitments.iter())
}

/// Checks that `share` with blind `blind` is the evaluation at `x` (the party's id) of the
/// polynomials committed to by `commitments`. Errors only if `share` does not have `gens.len()`
/// elements. Variable time (see the module documentation).
pub fn verify_share(
    gens: &Generators,
    commitments: &[RistrettoPoint],
    x: u64,
    share: &[Ristretto],
    blind: &Ristretto,
) -> Result<bool, CryptoError> {
    gens.check_len(share.len())?;
    let mut scalars = Zeroizing::new(Vec::with_capacity(share.len() + 1 + commitments.len()));
    scalars.extend(share.iter().chain(iter::once(blind)).map(|v| v.0));
    scalars.extend(powers(x, commitments.len()).iter().map(|p| -p));
    let points = gens.all().chain(commitments);
    Ok(vartime_msm(&scalars, points).is_identity())
}

/// One dealer's share for the party being verified, in a batch.
pub struct BatchItem<'a> {
    /// The dealer's commitments `C_0, …, C_{t-1}`.
    pub commitments: &'a [RistrettoPoint],
    /// The party's share vector from this dealer.
    pub share: &'a [Ristretto],
    /// The party's blinding share from this dealer. Zeroized when the item is dropped.
    pub blind: Ristretto,
}

impl Drop for BatchItem<'_> {
    fn drop(&mut self) {
        self.blind.zeroize();
    }
}

impl fmt::Debug for BatchItem<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BatchItem(t={}, d={}, <redacted>)",
            self.commitments.len(),
            self.share.len()
        )
    }
}

/// A random weight below 2^128: a batch with an invalid item passes with probability at most
/// 2^-128.
fn random_weight<R: CryptoRng + ?Sized>(rng: &mut R) -> u128 {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    u128::from_le_bytes(bytes)
}

/// Checks many shares for the same party `x`, one from each dealer, at the cost of about one
/// verification: with random 128-bit weights `ρ_u` it checks
///
/// ```text
/// Σ_j (Σ_u ρ_u·s_{u,j})·G_j + (Σ_u ρ_u·r_u)·H − Σ_u Σ_k (ρ_u·x^k)·C_{u,k} == identity
/// ```
///
/// with one variable-time multiscalar multiplication over `d + 1 + Σ_u t_u` points. Every valid
/// batch passes; a batch with an invalid item passes with probability at most 2^-128. Dealers may
/// have different thresholds. An empty batch passes. Errors only if a share does not have
/// `gens.len()` elements. Use [`find_invalid`] to name the bad items of a failing batch.
pub fn verify_batch<R: CryptoRng + ?Sized>(
    gens: &Generators,
    x: u64,
    items: &[BatchItem<'_>],
    rng: &mut R,
) -> Result<bool, CryptoError> {
    check_items(gens, items)?;
    if items.is_empty() {
        return Ok(true);
    }
    let weights: Vec<u128> = items.iter().map(|_| random_weight(rng)).collect();
    let total_t: usize = items.iter().map(|i| i.commitments.len()).sum();
    let mut scalars = Zeroizing::new(Vec::with_capacity(gens.len() + 1 + total_t));
    let shares: Vec<&[Ristretto]> = items.iter().map(|i| i.share).collect();
    scalars.extend(
        weighted_sum(gens.len(), &weights, &shares)
            .iter()
            .map(|v| v.0),
    );
    let blinds: Vec<&[Ristretto]> = items
        .iter()
        .map(|i| std::slice::from_ref(&i.blind))
        .collect();
    scalars.push(weighted_sum(1, &weights, &blinds)[0].0);
    let max_t = items.iter().map(|i| i.commitments.len()).max().unwrap_or(0);
    let powers = powers(x, max_t);
    for (item, w) in items.iter().zip(&weights) {
        let t = item.commitments.len();
        let w = Scalar::from(*w);
        scalars.extend(powers[..t].iter().map(|p| -(w * p)));
    }
    let points = gens
        .all()
        .chain(items.iter().flat_map(|i| i.commitments.iter()));
    Ok(vartime_msm(&scalars, points).is_identity())
}

/// `out[j] = Σ_u weights[u]·vectors[u][j]` for 128-bit weights, every vector of length `d`.
///
/// This is [`Field::linear_combination`] with truly lazy reduction: the field's accumulator for
/// ristretto255 is a reduced `Scalar` (about 150 ns per multiply-add), while a product of a
/// 128-bit weight and a scalar is below 2^381, so 512-bit integer accumulators take 2^131 of them
/// and are reduced once per element (about 10 ns per multiply-add).
///
/// Blocks of [`LINEAR_COMBINATION_BLOCK`] elements are summed in parallel on rayon's threads.
fn weighted_sum(d: usize, weights: &[u128], vectors: &[&[Ristretto]]) -> SecretVec<Ristretto> {
    let mut out = vec![Ristretto::default(); d];
    let sum_block = |(c, block): (usize, &mut [Ristretto])| {
        let start = c * LINEAR_COMBINATION_BLOCK;
        let mut acc = [Wide512::default(); LINEAR_COMBINATION_BLOCK];
        let acc_block = &mut acc[..block.len()];
        for (&w, v) in weights.iter().zip(vectors) {
            for (a, s) in acc_block.iter_mut().zip(&v[start..start + block.len()]) {
                a.add_weighted(w, &s.0);
            }
        }
        for (o, a) in block.iter_mut().zip(acc_block.iter()) {
            *o = Ristretto(a.reduce());
        }
        acc.zeroize();
    };
    match d <= LINEAR_COMBINATION_BLOCK {
        // One block: on the caller's thread (a hand-off to rayon costs two wake-ups).
        true => sum_block((0, &mut out)),
        false => out
            .par_chunks_mut(LINEAR_COMBINATION_BLOCK)
            .enumerate()
            .for_each(sum_block),
    }
    SecretVec::from_vec(out)
}

fn check_items(gens: &Generators, items: &[BatchItem<'_>]) -> Result<(), CryptoError> {
    items.iter().try_for_each(|i| gens.check_len(i.share.len()))
}

/// The indices (ascending) of the items that fail [`verify_share`] on their own, found by
/// bisection with [`verify_batch`]: a passing half is cleared at once; a failing half is split
/// again, down to single items, which are checked with [`verify_share`]. With `b` bad items among
/// `n` this costs about `2·b·log2(n)` batch verifications. Errors only for length mismatches,
/// which are checked before any verification.
pub fn find_invalid<R: CryptoRng + ?Sized>(
    gens: &Generators,
    x: u64,
    items: &[BatchItem<'_>],
    rng: &mut R,
) -> Result<Vec<usize>, CryptoError> {
    check_items(gens, items)?;
    let mut bad = Vec::new();
    bisect(gens, x, items, 0, false, rng, &mut bad)?;
    Ok(bad)
}

/// Appends to `bad` the indices (offset by `offset`) of the failing items. `known_bad` says a
/// failing item is certain to be among `items`, so the batch check can be skipped.
fn bisect<R: CryptoRng + ?Sized>(
    gens: &Generators,
    x: u64,
    items: &[BatchItem<'_>],
    offset: usize,
    known_bad: bool,
    rng: &mut R,
    bad: &mut Vec<usize>,
) -> Result<(), CryptoError> {
    match items {
        [] => {}
        [item] => {
            if !verify_share(gens, item.commitments, x, item.share, &item.blind)? {
                bad.push(offset);
            }
        }
        _ => {
            if !known_bad && verify_batch(gens, x, items, rng)? {
                return Ok(());
            }
            let (left, right) = items.split_at(items.len() / 2);
            let found = bad.len();
            bisect(gens, x, left, offset, false, rng, bad)?;
            // The whole failed; if the left half is clean, the fault is on the right.
            let right_known_bad = bad.len() == found;
            bisect(
                gens,
                x,
                right,
                offset + left.len(),
                right_known_bad,
                rng,
                bad,
            )?;
        }
    }
    Ok(())
}

/// `Σ_u weights[u]·commitments[u][k]` for every k: the commitments to the weighted sum of the
/// dealers' polynomials, against which the weighted sum of their shares (and blinds) verifies.
/// Every dealer must have the same number of commitments. Variable time: weights and
/// commitments are public.
pub fn combine_commitments(
    weights: &[Ristretto],
    commitments: &[&[RistrettoPoint]],
) -> Result<Vec<RistrettoPoint>, CryptoError> {
    check_len(weights.len(), commitments.len())?;
    let t = commitments.first().map_or(0, |c| c.len());
    for c in commitments {
        check_len(t, c.len())?;
    }
    let scalars: Vec<Scalar> = weights.iter().map(|w| w.0).collect();
    Ok((0..t)
        .map(|k| vartime_msm(&scalars, commitments.iter().map(|c| &c[k])))
        .collect())
}

/// The 32-byte compressed encoding of a point (a commitment or a generator).
pub fn point_to_bytes(point: &RistrettoPoint) -> [u8; 32] {
    point.compress().to_bytes()
}

/// Decodes a canonical compressed point. Unlike public keys, the identity is accepted: an honest
/// commitment equals it with negligible but nonzero probability, and accepting it costs the
/// verifier nothing, since binding does not depend on it.
pub fn point_from_bytes(bytes: &[u8; 32]) -> Result<RistrettoPoint, CryptoError> {
    decompress(bytes).ok_or(CryptoError::InvalidPoint)
}

mod short;

#[cfg(test)]
mod tests;
