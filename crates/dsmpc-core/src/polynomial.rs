//! Polynomials over a [`Field`]: Horner evaluation and Lagrange interpolation coefficients.
//!
//! Shamir shares are evaluations `f(i)` at the parties' ids `i = 1..n`; reconstruction evaluates the
//! interpolating polynomial at 0 as `Σ λ_i·f(i)` with the coefficients computed here.

use std::collections::BTreeSet;

use crate::Error;
use crate::field::Field;

/// `Σ_k coeffs[k]·x^k`, by Horner's rule (`coeffs[0]` is the constant term).
pub fn horner<F: Field>(coeffs: &[F], x: F) -> F {
    coeffs.iter().rev().fold(F::ZERO, |acc, &c| acc * x + c)
}

/// Maps party ids to field elements, refusing ids that are zero in the field and duplicates.
pub fn id_points<F: Field>(ids: &[u64]) -> Result<Vec<F>, Error> {
    let mut seen = BTreeSet::new();
    ids.iter()
        .map(|&id| {
            let x = F::from_u64(id);
            if x == F::ZERO {
                return Err(Error::ZeroShareId { id, field: F::ID });
            }
            // Ids that collide in the field are as bad as equal ids.
            if !seen.insert(x.to_u128().unwrap_or(u128::from(id))) {
                return Err(Error::DuplicateShareId { id });
            }
            Ok(x)
        })
        .collect()
}

/// The Lagrange basis polynomials for the distinct `nodes`, evaluated at `at`:
/// `λ_i = Π_{j≠i} (at - x_j) / (x_i - x_j)`, so that `f(at) = Σ λ_i·f(x_i)` for every polynomial of
/// degree below `nodes.len()`.
pub fn lagrange_coefficients<F: Field>(nodes: &[F], at: F) -> Result<Vec<F>, Error> {
    let mut denominators = Vec::with_capacity(nodes.len());
    let mut numerators = Vec::with_capacity(nodes.len());
    for (i, &xi) in nodes.iter().enumerate() {
        let (mut num, mut den) = (F::ONE, F::ONE);
        for (j, &xj) in nodes.iter().enumerate() {
            if i != j {
                num *= at - xj;
                den *= xi - xj;
            }
        }
        numerators.push(num);
        denominators.push(den);
    }
    numerators
        .into_iter()
        .zip(denominators)
        .map(|(num, den)| {
            let inv = den.invert().ok_or_else(|| Error::InvalidParameters {
                reason: "interpolation nodes must be distinct".into(),
            })?;
            Ok(num * inv)
        })
        .collect()
}

/// Lagrange coefficients at 0 for the party ids `ids` (distinct, nonzero): reconstruction weights.
pub fn lagrange_at_zero<F: Field>(ids: &[u64]) -> Result<Vec<F>, Error> {
    let nodes = id_points::<F>(ids)?;
    lagrange_coefficients(&nodes, F::ZERO)
}

/// Largest number of t-subsets [`best_agreement`] tries.
pub const MAX_SUBSETS: usize = 20_000;

/// The largest set of indices whose points lie on one polynomial of degree below `t`, found by
/// trying t-subsets (at most [`MAX_SUBSETS`]).
pub fn best_agreement<F: Field>(points: &[(u32, F)], t: usize) -> Result<BTreeSet<u32>, Error> {
    let ids: Vec<u64> = points.iter().map(|(i, _)| u64::from(*i)).collect();
    let xs = id_points::<F>(&ids)?;
    let mut best = BTreeSet::new();
    for subset in Subsets::new(points.len(), t).take(MAX_SUBSETS) {
        let nodes: Vec<F> = subset.iter().map(|&k| xs[k]).collect();
        let agree: BTreeSet<u32> = points
            .iter()
            .zip(&xs)
            .filter(|((_, y), x)| {
                lagrange_coefficients(&nodes, **x)
                    .map(|l| {
                        subset
                            .iter()
                            .zip(&l)
                            .fold(F::ZERO, |acc, (&k, &c)| acc + c * points[k].1)
                            == *y
                    })
                    .unwrap_or(false)
            })
            .map(|((i, _), _)| *i)
            .collect();
        if agree.len() > best.len() {
            best = agree;
        }
        if best.len() == points.len() {
            break;
        }
    }
    Ok(best)
}

/// Iterates over the k-element subsets of `0..n` in lexicographic order.
struct Subsets {
    n: usize,
    current: Option<Vec<usize>>,
}

impl Subsets {
    fn new(n: usize, k: usize) -> Subsets {
        Subsets {
            n,
            current: (k <= n).then(|| (0..k).collect()),
        }
    }
}

impl Iterator for Subsets {
    type Item = Vec<usize>;

    fn next(&mut self) -> Option<Vec<usize>> {
        let out = self.current.clone()?;
        let k = out.len();
        let mut next = out.clone();
        let advanced = (0..k).rev().find(|&i| next[i] < self.n - k + i).map(|i| {
            next[i] += 1;
            for j in i + 1..k {
                next[j] = next[j - 1] + 1;
            }
        });
        self.current = advanced.map(|_| next);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{M31, M61, Ristretto};

    fn check_interpolates<F: Field>() {
        // f(x) = 3 + 2x + 5x^2
        let coeffs = [F::from_u64(3), F::from_u64(2), F::from_u64(5)];
        let ids = [2u64, 7, 4];
        let lambdas = lagrange_at_zero::<F>(&ids).unwrap();
        let at_zero = ids.iter().zip(&lambdas).fold(F::ZERO, |acc, (&id, &l)| {
            acc + l * horner(&coeffs, F::from_u64(id))
        });
        assert_eq!(at_zero, F::from_u64(3));
    }

    #[test]
    fn interpolation_recovers_constant_term() {
        check_interpolates::<M31>();
        check_interpolates::<M61>();
        check_interpolates::<Ristretto>();
    }

    #[test]
    fn horner_matches_direct_evaluation() {
        let coeffs = [M61::from_u64(1), M61::from_u64(2), M61::from_u64(3)];
        // 1 + 2*10 + 3*100
        assert_eq!(horner(&coeffs, M61::from_u64(10)), M61::from_u64(321));
        assert_eq!(horner::<M61>(&[], M61::from_u64(10)), M61::ZERO);
    }

    #[test]
    fn zero_id_is_refused() {
        let err = lagrange_at_zero::<M61>(&[1, 0, 3]).unwrap_err();
        assert_eq!(
            err,
            Error::ZeroShareId {
                id: 0,
                field: crate::field::FieldId::M61
            }
        );
    }

    #[test]
    fn id_equal_to_modulus_is_zero_in_the_field() {
        let p = M31::P;
        let err = lagrange_at_zero::<M31>(&[1, p]).unwrap_err();
        assert!(matches!(err, Error::ZeroShareId { id, .. } if id == p));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let err = lagrange_at_zero::<Ristretto>(&[4, 2, 4]).unwrap_err();
        assert_eq!(err, Error::DuplicateShareId { id: 4 });
        // Distinct integers that are equal modulo p are duplicates too.
        let err = lagrange_at_zero::<M31>(&[3, 3 + M31::P]).unwrap_err();
        assert_eq!(err, Error::DuplicateShareId { id: 3 + M31::P });
    }
}
