//! A fully linear proof that a secret-shared vector holds an input inside the task's range, for
//! fast mode (Boneh, Boyle, Corrigan-Gibbs, Gilboa, Ishai, "Zero-knowledge proofs on
//! secret-shared data via fully linear PCPs", CRYPTO 2019 — the construction Prio3 uses).
//!
//! **Statement.** A DP shares the bits of `y_e = x_e − min` for every element `e` (and, when the
//! width `w = max − min` is not `2^n − 1`, the bits of `y_e + o` with `o = 2^n − 1 − w`: both
//! below `2^n` means `y_e ≤ w`). The CPs aggregate `min + Σ_k 2^k·b_{e,k}`, a linear function of
//! the shares. The proof shows that every shared value is a bit and, with an offset, that the two
//! decompositions of each element differ by exactly `o`.
//!
//! **Circuit.** The `L` bits are laid out in `m` rows of `c` (zero-padded). With joint
//! randomness `γ_1..γ_c` (fixed by the DP's input shares, before the proof exists) and query
//! randomness `ρ_1..ρ_m`, `ψ_1..ψ_d` (fixed by the whole signed bundle, after it), the circuit is
//!
//! `C = Σ_ℓ ρ_ℓ·G(row_ℓ) − Σ_ℓ ρ_ℓ·Σ_k γ_k·row_ℓ[k] + Σ_e ψ_e·(Σ_k 2^k·(b'_{e,k} − b_{e,k}) − o)`
//!
//! with the gadget `G(u) = Σ_k γ_k·u_k²`. `C = Σ_ℓ ρ_ℓ Σ_k γ_k (b² − b) + Σ_e ψ_e·lin_e` is 0 for
//! a valid input and, for an invalid one, 0 with probability at most `2/p` over the randomness.
//!
//! **Proof.** Wire polynomial `f_k` (one per column) takes `s` random seeds at nodes `0..s` and
//! the column's bits at nodes `s..s+m`, degree `D = s + m − 1`; the proof is the seeds and the
//! values of `p = G(f_1..f_c)` (degree `2D`) at nodes `0..=2D`. Every verifier quantity — `C`,
//! `p(r)`, `f_k(r)` at `s` query points `r` outside the nodes — is linear in (input, proof), so a
//! CP computes its *share* of them from its shares, and any t shares reconstruct them (Shamir:
//! Lagrange at 0; additive: the sum). The decision on the reconstructed verifier is `C = 0` and
//! `p(r) = Σ_k γ_k f_k(r)²` at every query point: a wrong `p` passes one point with probability
//! at most `2D/p`, so `s` is chosen per field to keep `(2D/p)^s` below 2^-100.
//!
//! **Zero knowledge.** With `s` seeds per wire, the `s` revealed values `f_k(r_i)` are uniform
//! and independent of the bits; `p(r)` is determined by them and `C` is 0.
//!
//! A constant (the offset `o`) enters shares as `o·one`, `one` being the CP's share of 1 (1 for
//! every Shamir share, 1 for the first additive share and 0 for the others).

use rand_core::CryptoRng;

use crate::field::Field;
use crate::prg::Seed;

/// Labels of the PRG streams the randomness is drawn from.
const JOINT_LABEL: &[u8] = b"dsmpc/v1/flp/joint";
const QUERY_LABEL: &[u8] = b"dsmpc/v1/flp/query";

/// The shape of the statement and of its proof: what the DP shares and what a CP computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeCircuit {
    /// Elements of the input vector (`d`).
    pub dim: usize,
    /// Bits a decomposition of one element has (`n`).
    pub bits: u32,
    /// `o = 2^n − 1 − (max − min)` when the width is not `2^n − 1`: a second decomposition, of
    /// `y + o`, follows the first.
    pub offset: Option<u128>,
    /// Columns of the bit matrix (wires of the gadget).
    chunk: usize,
    /// Rows (gadget calls).
    calls: usize,
    /// Random seeds per wire = query points.
    seeds: usize,
}

/// Randomness the proof depends on, drawn from a seed bound to the DP's input shares.
#[derive(Debug, Clone)]
pub struct JointRand<F: Field> {
    gamma: Vec<F>,
}

/// Randomness only the verifiers use, drawn from a seed bound to the DP's whole signed bundle.
#[derive(Debug, Clone)]
pub struct QueryRand<F: Field> {
    rho: Vec<F>,
    psi: Vec<F>,
    /// Per query point: the Lagrange basis of the wire nodes and of the proof nodes at it.
    wire_basis: Vec<Vec<F>>,
    proof_basis: Vec<Vec<F>>,
}

impl RangeCircuit {
    /// The circuit for `dim` elements in a range of width `width` (`max − min`) over `F`, or
    /// `None` for an empty vector or a width of 64 bits or more.
    pub fn new<F: Field>(dim: usize, width: u128) -> Option<RangeCircuit> {
        if dim == 0 || width >= 1 << 64 {
            return None;
        }
        let bits = (128 - width.leading_zeros()).max(1);
        let full = (1u128 << bits) - 1;
        let offset = (width != full).then_some(full - width);
        let len = dim * bits as usize * if offset.is_some() { 2 } else { 1 };
        // c ≈ 2√L: the prover's extrapolation costs c·D² ≈ L²/c products, the verifier share
        // 1 + s·(c + 1) elements and the proof c·s + 2D + 1; twice √L halves the prover's work
        // (measured: the DP's share of `bench p3-validated`) for a verifier of 2√L elements.
        let chunk = (2.0 * (len as f64).sqrt()).ceil() as usize;
        let calls = len.div_ceil(chunk);
        // Soundness of one query point: 2D/p. Two points for the 61-bit field, one for larger.
        let seeds = if F::CAPACITY >> 120 > 0 { 1 } else { 2 };
        Some(RangeCircuit {
            dim,
            bits,
            offset,
            chunk,
            calls,
            seeds,
        })
    }

    /// Bits shared per DP (`L`): the input part of a share.
    pub fn input_len(&self) -> usize {
        self.dim * self.bits as usize * if self.offset.is_some() { 2 } else { 1 }
    }

    /// Elements of the proof (and of each share of it).
    pub fn proof_len(&self) -> usize {
        self.chunk * self.seeds + 2 * self.degree() + 1
    }

    /// Elements of a verifier (and of each CP's share of it).
    pub fn verifier_len(&self) -> usize {
        1 + self.seeds * (self.chunk + 1)
    }

    /// Elements of the joint randomness.
    fn joint_len(&self) -> usize {
        self.chunk
    }

    /// Degree of the wire polynomials.
    fn degree(&self) -> usize {
        self.seeds + self.calls - 1
    }

    /// The bits an honest DP shares for `values`, each `y_e = x_e − min` in `0..=width`
    /// (checked by the caller): `n` bits of every `y_e`, then `n` bits of every `y_e + o`.
    pub fn encode<F: Field>(&self, values: &[u128]) -> Vec<F> {
        let mut out = Vec::with_capacity(self.input_len());
        let mut push_bits = |v: u128| {
            for k in 0..self.bits {
                out.push(if (v >> k) & 1 == 1 { F::ONE } else { F::ZERO });
            }
        };
        values.iter().for_each(|&v| push_bits(v));
        if let Some(o) = self.offset {
            values.iter().for_each(|&v| push_bits(v + o));
        }
        out
    }

    /// `Σ_k 2^k·b_{e,k}` for every element: a share of `y = x − min` from a share of the bits
    /// (the first decomposition).
    pub fn decode<F: Field>(&self, bits: &[F]) -> Vec<F> {
        let n = self.bits as usize;
        bits[..self.dim * n]
            .chunks(n)
            .map(|b| weighted_bits(b))
            .collect()
    }

    /// The joint randomness drawn from `seed`.
    pub fn joint_rand<F: Field>(&self, seed: &Seed) -> JointRand<F> {
        let mut rng = seed.stream::<F>(JOINT_LABEL);
        JointRand {
            gamma: (0..self.joint_len()).map(|_| F::random(&mut rng)).collect(),
        }
    }

    /// The query randomness drawn from `seed`; query points that fall on a node are redrawn.
    pub fn query_rand<F: Field>(&self, seed: &Seed) -> QueryRand<F> {
        let mut rng = seed.stream::<F>(QUERY_LABEL);
        let rho = (0..self.calls).map(|_| F::random(&mut rng)).collect();
        let psi = match self.offset {
            Some(_) => (0..self.dim).map(|_| F::random(&mut rng)).collect(),
            None => Vec::new(),
        };
        let nodes = 2 * self.degree() + 1;
        let mut points = Vec::with_capacity(self.seeds);
        while points.len() < self.seeds {
            let r = F::random(&mut rng);
            if r.to_u128().is_none_or(|v| v >= nodes as u128) {
                points.push(r);
            }
        }
        QueryRand {
            rho,
            psi,
            wire_basis: points
                .iter()
                .map(|&r| consecutive_basis(self.degree(), r))
                .collect(),
            proof_basis: points
                .iter()
                .map(|&r| consecutive_basis(2 * self.degree(), r))
                .collect(),
        }
    }

    /// The proof for `input` (the bits, [`RangeCircuit::input_len`] of them). An honest DP
    /// proves valid bits; the algorithm runs on any input (a proof for invalid bits fails).
    pub fn prove<F: Field, R: CryptoRng + ?Sized>(
        &self,
        input: &[F],
        joint: &JointRand<F>,
        rng: &mut R,
    ) -> Vec<F> {
        let (c, s, d) = (self.chunk, self.seeds, self.degree());
        // Node rows: s rows of seeds, then the m rows of bits.
        let mut rows: Vec<Vec<F>> = (0..s)
            .map(|_| (0..c).map(|_| F::random(rng)).collect())
            .collect();
        rows.extend(self.rows(input));
        let seeds: Vec<F> = (0..c)
            .flat_map(|k| rows[..s].iter().map(move |row| row[k]))
            .collect();
        let gadget = |wires: &[F]| -> F {
            let squares: Vec<F> = wires.iter().map(|&w| w * w).collect();
            F::dot(&squares, &joint.gamma)
        };
        let mut evals: Vec<F> = rows.iter().map(|row| gadget(row)).collect();
        let refs: Vec<&[F]> = rows.iter().map(Vec::as_slice).collect();
        let mut wires = vec![F::ZERO; c];
        for x in d + 1..=2 * d {
            let basis = consecutive_basis(d, F::from_u64(x as u64));
            F::linear_combination(&basis, &refs, &mut wires);
            evals.push(gadget(&wires));
        }
        let mut proof = seeds;
        proof.extend(evals);
        proof
    }

    /// A CP's share of the verifier, from its shares of the input and of the proof; `one` is
    /// its share of the constant 1. `None` when a length is off.
    pub fn query<F: Field>(
        &self,
        input: &[F],
        proof: &[F],
        joint: &JointRand<F>,
        query: &QueryRand<F>,
        one: F,
    ) -> Option<Vec<F>> {
        if input.len() != self.input_len() || proof.len() != self.proof_len() {
            return None;
        }
        let (c, s) = (self.chunk, self.seeds);
        let (seeds, evals) = proof.split_at(c * s);
        let rows = self.rows(input);
        // C: the gadget outputs at the call nodes, minus the linear part, plus the relation.
        let calls = &evals[s..s + self.calls];
        let mut circuit = F::dot(&query.rho, calls);
        for (row, &rho) in rows.iter().zip(&query.rho) {
            circuit -= rho * F::dot(row, &joint.gamma);
        }
        circuit += self.relation(input, &query.psi, one);
        let mut verifier = vec![circuit];
        let refs: Vec<&[F]> = rows.iter().map(Vec::as_slice).collect();
        for (i, (wire_basis, proof_basis)) in
            query.wire_basis.iter().zip(&query.proof_basis).enumerate()
        {
            verifier.push(F::dot(proof_basis, evals));
            let mut wires = vec![F::ZERO; c];
            F::linear_combination(&wire_basis[s..], &refs, &mut wires);
            for (w, seed) in wires.iter_mut().zip(seeds.chunks(s)) {
                *w += F::dot(&wire_basis[..s], seed);
            }
            verifier.extend(wires);
            debug_assert_eq!(verifier.len(), 1 + (i + 1) * (c + 1));
        }
        Some(verifier)
    }

    /// Whether a reconstructed verifier accepts: `C = 0` and `p(r) = G(f(r))` at every point.
    pub fn decide<F: Field>(&self, verifier: &[F], joint: &JointRand<F>) -> bool {
        if verifier.len() != self.verifier_len() || verifier[0] != F::ZERO {
            return false;
        }
        verifier[1..].chunks(self.chunk + 1).all(|point| {
            let squares: Vec<F> = point[1..].iter().map(|&w| w * w).collect();
            point[0] == F::dot(&squares, &joint.gamma)
        })
    }

    /// `Σ_e ψ_e·(Σ_k 2^k·(b'_{e,k} − b_{e,k}) − o·one)`: 0 without an offset.
    fn relation<F: Field>(&self, input: &[F], psi: &[F], one: F) -> F {
        let Some(o) = self.offset else {
            return F::ZERO;
        };
        let n = self.bits as usize;
        let (first, second) = input.split_at(self.dim * n);
        let constant = F::from_u128(o) * one;
        let lin: Vec<F> = first
            .chunks(n)
            .zip(second.chunks(n))
            .map(|(b, b2)| weighted_bits(b2) - weighted_bits(b) - constant)
            .collect();
        F::dot(psi, &lin)
    }

    /// The input as `m` rows of `c`, the last padded with zeros.
    fn rows<F: Field>(&self, input: &[F]) -> Vec<Vec<F>> {
        input
            .chunks(self.chunk)
            .map(|row| {
                let mut row = row.to_vec();
                row.resize(self.chunk, F::ZERO);
                row
            })
            .collect()
    }
}

/// `Σ_k 2^k·b_k`.
fn weighted_bits<F: Field>(bits: &[F]) -> F {
    bits.iter().rev().fold(F::ZERO, |acc, &b| acc + acc + b)
}

/// The Lagrange basis of the nodes `0, 1, …, n` evaluated at `x`: `f(x) = Σ_i λ_i·f(i)` for
/// every polynomial of degree at most `n`. Barycentric form, one batch inversion.
fn consecutive_basis<F: Field>(n: usize, x: F) -> Vec<F> {
    let nodes: Vec<F> = (0..=n).map(|i| F::from_u64(i as u64)).collect();
    if let Some(i) = nodes.iter().position(|&v| v == x) {
        let mut basis = vec![F::ZERO; n + 1];
        basis[i] = F::ONE;
        return basis;
    }
    // λ_i(x) = ℓ(x) · w_i / (x − i), ℓ(x) = Π_j (x − j), w_i = 1 / (i! · (n − i)! · (−1)^(n−i)).
    let mut factorial = vec![F::ONE; n + 1];
    for i in 1..=n {
        factorial[i] = factorial[i - 1] * nodes[i];
    }
    let mut denominators: Vec<F> = (0..=n)
        .map(|i| {
            let w = factorial[i] * factorial[n - i];
            let w = if (n - i) % 2 == 1 { -w } else { w };
            w * (x - nodes[i])
        })
        .collect();
    batch_invert(&mut denominators);
    let ell = nodes.iter().fold(F::ONE, |acc, &j| acc * (x - j));
    denominators.into_iter().map(|d| ell * d).collect()
}

/// Replaces every element by its inverse (all must be non-zero), with one field inversion.
fn batch_invert<F: Field>(values: &mut [F]) {
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = F::ONE;
    for &v in values.iter() {
        prefix.push(acc);
        acc *= v;
    }
    let mut inv = acc.invert().unwrap_or(F::ZERO);
    for (v, p) in values.iter_mut().zip(prefix).rev() {
        let next = inv * *v;
        *v = inv * p;
        inv = next;
    }
}

#[cfg(test)]
mod tests;
