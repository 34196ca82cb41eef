//! The proof that a DP's per-element commitments `E_j = x_j·G_0 + β_j·H` (what a vector's range
//! proof is about) open to the same vector `x` as its sharing's vector commitment
//! `C_0 = Σ_j x_j·G_j + b_0·H` (what the CPs check their shares against).
//!
//! A Schnorr-style proof of knowledge, made non-interactive by Fiat–Shamir (SHA-512):
//!
//! ```text
//! γ_j = H("dsmpc/v1/range-link/gamma" ‖ binding ‖ C_0 ‖ E_0 … E_{d-1} ‖ j)       (public weights)
//! E*  = Σ_j γ_j·E_j                                   commits to Σ_j γ_j·x_j with blind Σ_j γ_j·β_j
//! prover: k_j, k_b, k_e random;  T1 = Σ_j k_j·G_j + k_b·H;  T2 = (Σ_j γ_j·k_j)·G_0 + k_e·H
//! c   = H("dsmpc/v1/range-link/challenge" ‖ binding ‖ C_0 ‖ E_0 … ‖ T1 ‖ T2)
//! z_j = k_j + c·x_j;   z_b = k_b + c·b_0;   z_e = k_e + c·Σ_j γ_j·β_j
//! verifier:  Σ_j z_j·G_j + z_b·H = T1 + c·C_0   and   (Σ_j γ_j·z_j)·G_0 + z_e·H = T2 + c·E*
//! ```
//!
//! **Soundness.** Two accepting answers to one `(T1, T2)` give `x`, `b_0` with
//! `C_0 = Σ x_j·G_j + b_0·H` and `E* = (Σ γ_j·x_j)·G_0 + β*·H`. The range proof's extractor gives
//! openings `(x'_j, β_j)` of each `E_j`, so `E* = (Σ γ_j·x'_j)·G_0 + (Σ γ_j·β_j)·H`, and binding
//! (no one knows `log_{G_0} H`) gives `Σ γ_j·(x_j − x'_j) = 0`. The `γ_j` are hashed from `C_0`
//! and every `E_j`, which fix `x` and `x'`, so unless `x = x'` this holds with probability
//! about `1/ℓ` per hash the prover tries. **Zero knowledge:** every `z` is masked by a uniform
//! `k`. **Size:** `32·d + 128` bytes.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{MultiscalarMul, VartimeMultiscalarMul};
use rand_core::CryptoRng;
use sha2::{Digest, Sha512};

use crate::crypto::pedersen::Generators;
use crate::crypto::{canonical_scalar, decompress};

const GAMMA_DOMAIN: &[u8] = b"dsmpc/v1/range-link/gamma";
const CHALLENGE_DOMAIN: &[u8] = b"dsmpc/v1/range-link/challenge";

/// A decoded link proof.
pub(super) struct LinkProof {
    t1: RistrettoPoint,
    t2: RistrettoPoint,
    z: Vec<Scalar>,
    z_b: Scalar,
    z_e: Scalar,
}

/// Everything both sides hash: the binding, `C_0` and the `E_j`.
fn statement_hash(
    domain: &[u8],
    binding: &[u8],
    c0: &RistrettoPoint,
    e: &[RistrettoPoint],
) -> Sha512 {
    let mut h = Sha512::new();
    h.update(domain);
    h.update((binding.len() as u64).to_le_bytes());
    h.update(binding);
    h.update(c0.compress().as_bytes());
    h.update((e.len() as u64).to_le_bytes());
    for p in e {
        h.update(p.compress().as_bytes());
    }
    h
}

/// The public weights `γ_j`.
fn gammas(binding: &[u8], c0: &RistrettoPoint, e: &[RistrettoPoint]) -> Vec<Scalar> {
    let seed = statement_hash(GAMMA_DOMAIN, binding, c0, e).finalize();
    (0..e.len() as u64)
        .map(|j| {
            let mut h = Sha512::new();
            h.update(seed);
            h.update(j.to_le_bytes());
            Scalar::from_hash(h)
        })
        .collect()
}

fn challenge(
    binding: &[u8],
    c0: &RistrettoPoint,
    e: &[RistrettoPoint],
    t1: &RistrettoPoint,
    t2: &RistrettoPoint,
) -> Scalar {
    let mut h = statement_hash(CHALLENGE_DOMAIN, binding, c0, e);
    h.update(t1.compress().as_bytes());
    h.update(t2.compress().as_bytes());
    Scalar::from_hash(h)
}

/// Proves that `e` (with blinds `betas`) and `C_0 = Σ x_j·G_j + b0·H` open to the same `x`.
/// The caller passes the values it committed; nothing here checks that they are what the
/// commitments hold (a proof about other values does not verify).
#[allow(clippy::too_many_arguments)]
pub(super) fn prove<R: CryptoRng + ?Sized>(
    gens: &Generators,
    binding: &[u8],
    c0: &RistrettoPoint,
    e: &[RistrettoPoint],
    x: &[Scalar],
    b0: &Scalar,
    betas: &[Scalar],
    rng: &mut R,
) -> Vec<u8> {
    let g = gens.g();
    let gamma = gammas(binding, c0, e);
    let k: Vec<Scalar> = x.iter().map(|_| Scalar::random(rng)).collect();
    let (k_b, k_e) = (Scalar::random(rng), Scalar::random(rng));
    let t1 = RistrettoPoint::multiscalar_mul(
        k.iter().chain(std::iter::once(&k_b)),
        g.iter().take(x.len()).chain(std::iter::once(gens.h())),
    );
    let weighted_k: Scalar = gamma.iter().zip(&k).map(|(a, b)| a * b).sum();
    let t2 = RistrettoPoint::multiscalar_mul([weighted_k, k_e], [g[0], *gens.h()]);
    let c = challenge(binding, c0, e, &t1, &t2);
    let beta_star: Scalar = gamma.iter().zip(betas).map(|(a, b)| a * b).sum();
    let mut out = Vec::with_capacity(32 * x.len() + 128);
    out.extend_from_slice(t1.compress().as_bytes());
    out.extend_from_slice(t2.compress().as_bytes());
    for (kj, xj) in k.iter().zip(x) {
        out.extend_from_slice((kj + c * xj).as_bytes());
    }
    out.extend_from_slice((k_b + c * b0).as_bytes());
    out.extend_from_slice((k_e + c * beta_star).as_bytes());
    out
}

/// Decodes a link proof for `d` elements: exactly `32·d + 128` bytes, canonical points and
/// scalars.
pub(super) fn decode(bytes: &[u8], d: usize) -> Option<LinkProof> {
    if bytes.len() != 32 * d + 128 {
        return None;
    }
    let chunk =
        |i: usize| -> &[u8; 32] { bytes[32 * i..32 * i + 32].try_into().expect("32 bytes") };
    let t1 = decompress(chunk(0))?;
    let t2 = decompress(chunk(1))?;
    let scalar = |i| canonical_scalar(chunk(i)).ok();
    let z = (0..d).map(|j| scalar(2 + j)).collect::<Option<Vec<_>>>()?;
    Some(LinkProof {
        t1,
        t2,
        z,
        z_b: scalar(2 + d)?,
        z_e: scalar(3 + d)?,
    })
}

/// Whether `proof` shows that `e` and `c0` open to the same vector.
pub(super) fn verify(
    gens: &Generators,
    binding: &[u8],
    c0: &RistrettoPoint,
    e: &[RistrettoPoint],
    proof: &LinkProof,
) -> bool {
    let d = e.len();
    if proof.z.len() != d || gens.len() < d || d == 0 {
        return false;
    }
    let g = gens.g();
    let gamma = gammas(binding, c0, e);
    let c = challenge(binding, c0, e, &proof.t1, &proof.t2);
    // Σ z_j·G_j + z_b·H − T1 − c·C_0 = 0
    let first = RistrettoPoint::vartime_multiscalar_mul(
        proof.z.iter().copied().chain([proof.z_b, -Scalar::ONE, -c]),
        g.iter().take(d).copied().chain([*gens.h(), proof.t1, *c0]),
    );
    // (Σ γ_j·z_j)·G_0 + z_e·H − T2 − c·Σ γ_j·E_j = 0
    let weighted_z: Scalar = gamma.iter().zip(&proof.z).map(|(a, b)| a * b).sum();
    let second = RistrettoPoint::vartime_multiscalar_mul(
        [weighted_z, proof.z_e, -Scalar::ONE]
            .into_iter()
            .chain(gamma.iter().map(|gj| -(c * gj))),
        [g[0], *gens.h(), proof.t2]
            .into_iter()
            .chain(e.iter().copied()),
    );
    use curve25519_dalek::traits::IsIdentity;
    first.is_identity() && second.is_identity()
}
