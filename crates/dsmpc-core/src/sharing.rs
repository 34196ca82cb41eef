//! Secret sharing of vectors: additive n-of-n and Shamir t-of-n, explicit or seed-compressed.
//!
//! A secret is a vector of `d` field elements (1 ≤ d ≤ [`MAX_DIM`]); party `i` (1 ≤ i ≤ n) gets
//! share `i`. With Shamir sharing every element gets its own random polynomial of degree t-1 whose
//! constant term is the element, and share `i` is the vector of evaluations at `i`; any t shares give
//! the secret back by Lagrange interpolation at 0, and t-1 shares are uniformly random.
//!
//! **Seed compression.** A share that may be pseudorandom travels as a 32-byte [`Seed`]:
//! for additive sharing shares 1..n-1 are seeds and share n is `secret - Σ expand(seed_i)`; for Shamir
//! sharing shares 1..t-1 are seeds and shares t..n are the evaluations of the unique polynomial of
//! degree t-1 through `(0, secret)` and the t-1 pseudorandom points. Either way the shares have the
//! same distribution as in the explicit scheme (up to the PRG), and the dealer uploads about
//! `n-t+1` share vectors instead of `n`.

use std::fmt;
use std::ops::Deref;

use rand_core::CryptoRng;
use zeroize::Zeroize;

use crate::Error;
use crate::field::Field;
use crate::polynomial::{lagrange_at_zero, lagrange_coefficients};
use crate::prg::Seed;

/// The largest vector length dsmpc shares.
pub const MAX_DIM: usize = 1_000_000;
/// The largest committee dsmpc supports.
pub const MAX_PARTIES: u32 = 1024;
/// PRG label for seed-compressed shares.
const SHARE_LABEL: &[u8] = b"share";

/// A vector of secret field elements: zeroized on drop, printed as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretVec<F: Field>(Vec<F>);

impl<F: Field> SecretVec<F> {
    /// Takes ownership of `values`.
    pub fn from_vec(values: Vec<F>) -> Self {
        SecretVec(values)
    }

    /// `len` zeros.
    pub fn zeros(len: usize) -> Self {
        SecretVec(vec![F::ZERO; len])
    }

    /// The elements.
    pub fn as_slice(&self) -> &[F] {
        &self.0
    }

    /// The elements, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [F] {
        &mut self.0
    }
}

impl<F: Field> Deref for SecretVec<F> {
    type Target = [F];

    fn deref(&self) -> &[F] {
        &self.0
    }
}

impl<F: Field> Drop for SecretVec<F> {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl<F: Field> fmt::Debug for SecretVec<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretVec(len={}, <redacted>)", self.0.len())
    }
}

/// How a secret is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// n-of-n: the shares sum to the secret.
    Additive {
        /// Number of parties.
        n: u32,
    },
    /// t-of-n: the shares are evaluations of degree t-1 polynomials.
    Shamir {
        /// Number of parties.
        n: u32,
        /// Threshold: shares needed to reconstruct.
        t: u32,
    },
}

impl Scheme {
    /// Additive sharing among `n` parties (1 ≤ n ≤ [`MAX_PARTIES`]).
    pub fn additive(n: u32) -> Result<Scheme, Error> {
        check_committee(n, n)?;
        Ok(Scheme::Additive { n })
    }

    /// Shamir sharing among `n` parties with threshold `t` (1 ≤ t ≤ n ≤ [`MAX_PARTIES`]).
    pub fn shamir(n: u32, t: u32) -> Result<Scheme, Error> {
        check_committee(n, t)?;
        Ok(Scheme::Shamir { n, t })
    }

    /// Number of parties.
    pub fn n(self) -> u32 {
        match self {
            Scheme::Additive { n } | Scheme::Shamir { n, .. } => n,
        }
    }

    /// Shares needed to reconstruct (n for additive sharing).
    pub fn threshold(self) -> u32 {
        match self {
            Scheme::Additive { n } => n,
            Scheme::Shamir { t, .. } => t,
        }
    }

    /// How many shares (ids `1..=count`) travel as seeds in the compressed form.
    pub fn seeded_count(self) -> u32 {
        self.threshold() - 1
    }
}

fn check_committee(n: u32, t: u32) -> Result<(), Error> {
    let reason = if n == 0 || n > MAX_PARTIES {
        format!("committee size n = {n} must be in 1..={MAX_PARTIES}")
    } else if t == 0 || t > n {
        format!("threshold t = {t} must be in 1..=n ({n})")
    } else {
        return Ok(());
    };
    Err(Error::InvalidParameters { reason })
}

fn check_dim(dim: usize) -> Result<(), Error> {
    if dim == 0 || dim > MAX_DIM {
        return Err(Error::InvalidDimension { dim, max: MAX_DIM });
    }
    Ok(())
}

/// The content of one share.
#[derive(Clone, PartialEq, Eq)]
pub enum ShareValue<F: Field> {
    /// The share's elements.
    Explicit(SecretVec<F>),
    /// A seed whose expansion is the share's elements.
    Seeded(Seed),
}

impl<F: Field> fmt::Debug for ShareValue<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShareValue::Explicit(v) => write!(f, "Explicit({v:?})"),
            ShareValue::Seeded(s) => write!(f, "Seeded({s:?})"),
        }
    }
}

/// Party `id`'s share of a secret vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share<F: Field> {
    /// The party's id, 1..=n.
    pub id: u32,
    /// The share's content.
    pub value: ShareValue<F>,
}

impl<F: Field> Share<F> {
    /// The share's `dim` elements, expanding a seed if need be.
    pub fn expand(&self, dim: usize) -> Result<SecretVec<F>, Error> {
        match &self.value {
            ShareValue::Explicit(v) => {
                self.check_len(v.len(), dim)?;
                Ok(v.clone())
            }
            ShareValue::Seeded(seed) => Ok(expand_share_seed(seed, dim)),
        }
    }

    /// Borrows explicit elements or expands a seed, without copying explicit shares.
    fn elements(&self, dim: usize) -> Result<Elements<'_, F>, Error> {
        match &self.value {
            ShareValue::Explicit(v) => {
                self.check_len(v.len(), dim)?;
                Ok(Elements::Borrowed(v))
            }
            ShareValue::Seeded(seed) => Ok(Elements::Owned(expand_share_seed(seed, dim))),
        }
    }

    fn check_len(&self, got: usize, expected: usize) -> Result<(), Error> {
        if got != expected {
            return Err(Error::ShareLengthMismatch {
                id: u64::from(self.id),
                expected,
                got,
            });
        }
        Ok(())
    }
}

enum Elements<'a, F: Field> {
    Borrowed(&'a [F]),
    Owned(SecretVec<F>),
}

impl<F: Field> Elements<'_, F> {
    fn as_slice(&self) -> &[F] {
        match self {
            Elements::Borrowed(v) => v,
            Elements::Owned(v) => v,
        }
    }
}

fn expand_share_seed<F: Field>(seed: &Seed, dim: usize) -> SecretVec<F> {
    seed.expand::<F>(SHARE_LABEL, dim)
}

/// A random polynomial of degree t-1 per element of a secret vector, stored coefficient-major:
/// `coefficients[k][j]` is the coefficient of `x^k` for element `j`, and `coefficients[0]` is the
/// secret. Verifiable sharing commits to these coefficient vectors.
pub struct VectorPolynomial<F: Field> {
    coefficients: Vec<SecretVec<F>>,
}

impl<F: Field> VectorPolynomial<F> {
    /// Draws t-1 random coefficient vectors above the constant term `secret`.
    pub fn random<R: CryptoRng + ?Sized>(secret: &[F], t: u32, rng: &mut R) -> Self {
        let mut coefficients = Vec::with_capacity(t as usize);
        coefficients.push(SecretVec::from_vec(secret.to_vec()));
        for _ in 1..t {
            coefficients.push(random_vec(secret.len(), rng));
        }
        VectorPolynomial { coefficients }
    }

    /// The coefficient vectors, constant term first.
    pub fn coefficients(&self) -> &[SecretVec<F>] {
        &self.coefficients
    }

    /// The evaluations of every element's polynomial at `x`: `Σ_k x^k·coefficients[k]`, by
    /// Horner's rule, t-1 multiplications and additions per element. (A lazily reduced linear
    /// combination costs t wide products and one reduction per element, three times as much in
    /// the ristretto255 scalar field at t = 2.)
    pub fn evaluate(&self, x: F) -> SecretVec<F> {
        let (highest, lower) = self
            .coefficients
            .split_last()
            .expect("a polynomial has at least its constant coefficient vector");
        let mut out = highest.clone();
        for coefficients in lower.iter().rev() {
            for (o, &c) in out.as_mut_slice().iter_mut().zip(coefficients.iter()) {
                *o = *o * x + c;
            }
        }
        out
    }
}

fn random_vec<F: Field, R: CryptoRng + ?Sized>(dim: usize, rng: &mut R) -> SecretVec<F> {
    SecretVec::from_vec((0..dim).map(|_| F::random(rng)).collect())
}

/// Splits `secret` into `scheme.n()` shares, ids 1..=n in order. With `compressed`, the shares that
/// may be pseudorandom are [`ShareValue::Seeded`].
pub fn share<F: Field, R: CryptoRng + ?Sized>(
    secret: &[F],
    scheme: Scheme,
    compressed: bool,
    rng: &mut R,
) -> Result<Vec<Share<F>>, Error> {
    check_dim(secret.len())?;
    check_committee(scheme.n(), scheme.threshold())?;
    let shares = match (scheme, compressed) {
        (Scheme::Additive { n }, false) => share_additive(secret, n, rng),
        (Scheme::Additive { n }, true) => share_additive_seeded(secret, n, rng),
        (Scheme::Shamir { n, t }, false) => share_shamir(secret, n, t, rng),
        (Scheme::Shamir { n, t }, true) => share_shamir_seeded(secret, n, t, rng)?,
    };
    Ok(shares)
}

fn explicit<F: Field>(id: u32, values: SecretVec<F>) -> Share<F> {
    Share {
        id,
        value: ShareValue::Explicit(values),
    }
}

fn share_additive<F: Field, R: CryptoRng + ?Sized>(
    secret: &[F],
    n: u32,
    rng: &mut R,
) -> Vec<Share<F>> {
    let mut last = SecretVec::from_vec(secret.to_vec());
    let mut shares: Vec<Share<F>> = (1..n)
        .map(|id| {
            let r = random_vec(secret.len(), rng);
            subtract_from(&mut last, &r);
            explicit(id, r)
        })
        .collect();
    shares.push(explicit(n, last));
    shares
}

fn share_additive_seeded<F: Field, R: CryptoRng + ?Sized>(
    secret: &[F],
    n: u32,
    rng: &mut R,
) -> Vec<Share<F>> {
    let mut last = SecretVec::from_vec(secret.to_vec());
    let mut shares: Vec<Share<F>> = (1..n)
        .map(|id| {
            let seed = Seed::random(rng);
            subtract_from(&mut last, &expand_share_seed(&seed, secret.len()));
            Share {
                id,
                value: ShareValue::Seeded(seed),
            }
        })
        .collect();
    shares.push(explicit(n, last));
    shares
}

fn subtract_from<F: Field>(acc: &mut SecretVec<F>, x: &[F]) {
    for (a, &b) in acc.as_mut_slice().iter_mut().zip(x) {
        *a -= b;
    }
}

fn share_shamir<F: Field, R: CryptoRng + ?Sized>(
    secret: &[F],
    n: u32,
    t: u32,
    rng: &mut R,
) -> Vec<Share<F>> {
    let poly = VectorPolynomial::random(secret, t, rng);
    (1..=n)
        .map(|id| explicit(id, poly.evaluate(F::from_u64(u64::from(id)))))
        .collect()
}

fn share_shamir_seeded<F: Field, R: CryptoRng + ?Sized>(
    secret: &[F],
    n: u32,
    t: u32,
    rng: &mut R,
) -> Result<Vec<Share<F>>, Error> {
    let seeds: Vec<Seed> = (1..t).map(|_| Seed::random(rng)).collect();
    let seeded: Vec<SecretVec<F>> = seeds
        .iter()
        .map(|s| expand_share_seed(s, secret.len()))
        .collect();
    // The polynomial is fixed by its value at 0 (the secret) and at the seeded ids 1..t-1.
    let nodes: Vec<F> = (0..t).map(|x| F::from_u64(u64::from(x))).collect();
    let mut points: Vec<&[F]> = vec![secret];
    points.extend(seeded.iter().map(|v| v.as_slice()));
    let mut shares: Vec<Share<F>> = seeds
        .into_iter()
        .zip(1..)
        .map(|(seed, id)| Share {
            id,
            value: ShareValue::Seeded(seed),
        })
        .collect();
    for id in t..=n {
        let lambdas = lagrange_coefficients(&nodes, F::from_u64(u64::from(id)))?;
        let mut values = SecretVec::zeros(secret.len());
        F::linear_combination(&lambdas, &points, values.as_mut_slice());
        shares.push(explicit(id, values));
    }
    Ok(shares)
}

/// Checks that `ids` are distinct and in 1..=n.
fn check_ids(ids: &[u32], n: u32) -> Result<(), Error> {
    let mut seen = std::collections::BTreeSet::new();
    for &id in ids {
        if id == 0 || id > n {
            return Err(Error::ShareIdOutOfRange {
                id: u64::from(id),
                n,
            });
        }
        if !seen.insert(id) {
            return Err(Error::DuplicateShareId { id: u64::from(id) });
        }
    }
    Ok(())
}

/// Recovers the secret from shares: all n for additive sharing, any t (the first t given are used)
/// for Shamir sharing. Every share must have `dim` elements and a distinct id in 1..=n.
pub fn reconstruct<F: Field>(
    shares: &[Share<F>],
    scheme: Scheme,
    dim: usize,
) -> Result<SecretVec<F>, Error> {
    check_dim(dim)?;
    let ids: Vec<u32> = shares.iter().map(|s| s.id).collect();
    check_ids(&ids, scheme.n())?;
    let needed = scheme.threshold();
    if shares.len() < needed as usize {
        return Err(Error::NotEnoughShares {
            needed,
            got: shares.len() as u32,
        });
    }
    let used = &shares[..needed as usize];
    let elements = used
        .iter()
        .map(|s| s.elements(dim))
        .collect::<Result<Vec<_>, _>>()?;
    let vectors: Vec<&[F]> = elements.iter().map(Elements::as_slice).collect();
    match scheme {
        Scheme::Additive { .. } => Ok(sum_vectors(&vectors, dim)),
        Scheme::Shamir { .. } => {
            let ids: Vec<u64> = used.iter().map(|s| u64::from(s.id)).collect();
            interpolate_at_zero(&ids, &vectors)
        }
    }
}

/// `Σ_i vectors[i]`, element by element.
pub fn sum_vectors<F: Field>(vectors: &[&[F]], dim: usize) -> SecretVec<F> {
    let ones = vec![F::ONE; vectors.len()];
    let mut out = SecretVec::zeros(dim);
    F::linear_combination(&ones, vectors, out.as_mut_slice());
    out
}

/// Evaluates at 0 the polynomials whose values at `ids` are `vectors`: Shamir reconstruction from
/// exactly these points. `ids` must be distinct and nonzero; all vectors must have equal length.
pub fn interpolate_at_zero<F: Field>(ids: &[u64], vectors: &[&[F]]) -> Result<SecretVec<F>, Error> {
    if ids.len() != vectors.len() {
        return Err(Error::InvalidParameters {
            reason: format!("{} ids for {} vectors", ids.len(), vectors.len()),
        });
    }
    let lambdas = lagrange_at_zero::<F>(ids)?;
    let dim = vectors.first().map_or(0, |v| v.len());
    if let Some((i, v)) = vectors.iter().enumerate().find(|(_, v)| v.len() != dim) {
        return Err(Error::ShareLengthMismatch {
            id: ids[i],
            expected: dim,
            got: v.len(),
        });
    }
    let mut out = SecretVec::zeros(dim);
    F::linear_combination(&lambdas, vectors, out.as_mut_slice());
    Ok(out)
}

#[cfg(test)]
mod tests;
