//! The finite fields dsmpc computes in, behind one small trait.
//!
//! * [`M31`]: GF(2^31-1), the first seed's field, for small fast-mode tasks and `--modular` runs;
//! * [`M61`]: GF(2^61-1), the fast-mode field;
//! * [`Ristretto`]: the scalar field of ristretto255 (order ℓ ≈ 2^252), used in verifiable mode so
//!   that shares can be committed to with Pedersen commitments.
//!
//! Arithmetic is exposed through operators. Bulk operations (dot products, sums, linear
//! combinations of vectors) accumulate unreduced products in a wide integer ([`Field::Wide`]) and
//! reduce only every [`Field::WIDE_TERMS`] terms, which is about three times faster than reducing
//! after every multiply-add for the Mersenne fields.
//!
//! Equality is constant-time; decoding accepts only canonical encodings.

mod mersenne;
mod ristretto;

use std::fmt;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

use rand_core::CryptoRng;
use rayon::prelude::*;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::Error;

pub use mersenne::{M31, M61, Mersenne};
pub use ristretto::{Ristretto, Wide512};

/// Elements per block in [`Field::linear_combination`].
pub const LINEAR_COMBINATION_BLOCK: usize = 256;

/// Names the fields dsmpc supports, in increasing order of size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FieldId {
    /// GF(2^31-1).
    M31,
    /// GF(2^61-1).
    M61,
    /// The ristretto255 scalar field.
    Ristretto255,
}

impl FieldId {
    /// Every supported field, smallest first.
    pub const ALL: [FieldId; 3] = [FieldId::M31, FieldId::M61, FieldId::Ristretto255];

    /// The field's name as used on the command line and in messages.
    pub fn name(self) -> &'static str {
        match self {
            FieldId::M31 => "m31",
            FieldId::M61 => "m61",
            FieldId::Ristretto255 => "ristretto255",
        }
    }

    /// The one-byte code of this field on the wire.
    pub fn code(self) -> u8 {
        match self {
            FieldId::M31 => 1,
            FieldId::M61 => 2,
            FieldId::Ristretto255 => 3,
        }
    }

    /// The field with wire code `code`, if any.
    pub fn from_code(code: u8) -> Option<FieldId> {
        FieldId::ALL.into_iter().find(|f| f.code() == code)
    }

    /// The largest magnitude `m` such that every integer in `[-m, m]` has a distinct element in
    /// this field that [`Field::centered`] maps back to it.
    ///
    /// This is `(p-1)/2`, except for ristretto255 where it is capped at `i128::MAX` because
    /// dsmpc decodes results into `i128`.
    pub fn capacity(self) -> u128 {
        match self {
            FieldId::M31 => M31::CAPACITY,
            FieldId::M61 => M61::CAPACITY,
            FieldId::Ristretto255 => Ristretto::CAPACITY,
        }
    }

    /// The length in bytes of one encoded element.
    pub fn element_len(self) -> usize {
        match self {
            FieldId::M31 => M31::ENCODED_LEN,
            FieldId::M61 => M61::ENCODED_LEN,
            FieldId::Ristretto255 => Ristretto::ENCODED_LEN,
        }
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FieldId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FieldId::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownField { name: s.to_owned() })
    }
}

/// A prime field as dsmpc uses it.
///
/// `PartialEq` of implementors is constant-time (it goes through [`ConstantTimeEq`]).
pub trait Field:
    Copy
    + Default
    + Eq
    + fmt::Debug
    + Send
    + Sync
    + 'static
    + Zeroize
    + ConstantTimeEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// Which field this is.
    const ID: FieldId;
    /// The additive identity.
    const ZERO: Self;
    /// The multiplicative identity.
    const ONE: Self;
    /// Length in bytes of the canonical little-endian encoding.
    const ENCODED_LEN: usize;
    /// Bits per element in a packed vector ([`crate::codec::Writer::field_elements`]), for
    /// fields whose elements fit in at most 64 bits and leave encoding bits unused; `None` when
    /// vectors are plain concatenations of [`Field::ENCODED_LEN`]-byte encodings.
    const PACKED_BITS: Option<u32>;
    /// See [`FieldId::capacity`].
    const CAPACITY: u128;
    /// How many products fit in one [`Field::Wide`] accumulator before it must be reduced.
    const WIDE_TERMS: usize;

    /// An unreduced accumulator for sums of products.
    type Wide: Copy + Default + Zeroize + Send + Sync;

    /// The element `v mod p`.
    fn from_u128(v: u128) -> Self;

    /// The element `v mod p`, negative values mapping to `p - |v| mod p`.
    fn from_i128(v: i128) -> Self {
        let magnitude = Self::from_u128(v.unsigned_abs());
        if v < 0 { -magnitude } else { magnitude }
    }

    /// The element for `v` (reduced mod p).
    fn from_u64(v: u64) -> Self {
        Self::from_u128(u128::from(v))
    }

    /// The multiplicative inverse, or `None` for zero.
    fn invert(self) -> Option<Self>;

    /// A uniformly random element, by rejection sampling (or, for ristretto255, by reducing 512
    /// random bits, whose distance from uniform is below 2^-250).
    fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self;

    /// Writes the canonical little-endian encoding into `out`, which must be
    /// [`Field::ENCODED_LEN`] bytes long.
    fn write_bytes(&self, out: &mut [u8]);

    /// Decodes a canonical encoding; refuses wrong lengths and values not below p.
    fn read_bytes(bytes: &[u8]) -> Result<Self, Error>;

    /// The integer `v` with `|v| <= CAPACITY` that this element represents, if there is one.
    fn centered(self) -> Option<i128>;

    /// The canonical representative in `0..p`, if it fits in 128 bits (always for M31 and M61).
    fn to_u128(self) -> Option<u128>;

    /// `a·b`, unreduced.
    fn mul_wide(a: Self, b: Self) -> Self::Wide;

    /// `acc + x`, unreduced; valid for up to [`Field::WIDE_TERMS`] products.
    fn add_wide(acc: Self::Wide, x: Self::Wide) -> Self::Wide;

    /// Reduces an accumulator to a field element.
    fn reduce_wide(acc: Self::Wide) -> Self;

    /// `Σ a_i·b_i`, lazily reduced. The slices must have equal length.
    fn dot(a: &[Self], b: &[Self]) -> Self {
        assert_eq!(a.len(), b.len(), "dot product of vectors of unequal length");
        let mut total = Self::ZERO;
        for (ca, cb) in a.chunks(Self::WIDE_TERMS).zip(b.chunks(Self::WIDE_TERMS)) {
            let acc = ca
                .iter()
                .zip(cb)
                .fold(Self::Wide::default(), |acc, (&x, &y)| {
                    Self::add_wide(acc, Self::mul_wide(x, y))
                });
            total += Self::reduce_wide(acc);
        }
        total
    }

    /// `Σ a_i`.
    fn sum(a: &[Self]) -> Self {
        a.iter().fold(Self::ZERO, |acc, &x| acc + x)
    }

    /// `out[j] = Σ_i coeffs[i]·vectors[i][j]` for every j: a linear combination of vectors, lazily
    /// reduced. Every vector must have `out.len()` elements.
    ///
    /// Works through `out` in blocks of [`LINEAR_COMBINATION_BLOCK`] elements, streaming each
    /// vector's block into an array of wide accumulators, so that every vector is read
    /// contiguously and each output element is reduced once per [`Field::WIDE_TERMS`] vectors.
    fn linear_combination(coeffs: &[Self], vectors: &[&[Self]], out: &mut [Self]) {
        assert_eq!(coeffs.len(), vectors.len(), "one coefficient per vector");
        assert!(
            vectors.iter().all(|v| v.len() == out.len()),
            "vectors of unequal length"
        );
        let mut wide = [Self::Wide::default(); LINEAR_COMBINATION_BLOCK];
        for (block, out_block) in out.chunks_mut(LINEAR_COMBINATION_BLOCK).enumerate() {
            let range = block * LINEAR_COMBINATION_BLOCK
                ..block * LINEAR_COMBINATION_BLOCK + out_block.len();
            let acc = &mut wide[..out_block.len()];
            out_block.fill(Self::ZERO);
            for (cs, vs) in coeffs
                .chunks(Self::WIDE_TERMS)
                .zip(vectors.chunks(Self::WIDE_TERMS))
            {
                acc.fill(Self::Wide::default());
                for (&c, v) in cs.iter().zip(vs) {
                    for (a, &x) in acc.iter_mut().zip(&v[range.clone()]) {
                        *a = Self::add_wide(*a, Self::mul_wide(c, x));
                    }
                }
                for (o, &a) in out_block.iter_mut().zip(acc.iter()) {
                    *o += Self::reduce_wide(a);
                }
            }
        }
    }

    /// `acc[j] += w·x[j]` for every j. The slices must have equal length.
    fn scale_add(acc: &mut [Self], w: Self, x: &[Self]) {
        assert_eq!(acc.len(), x.len(), "scale_add of vectors of unequal length");
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += w * v;
        }
    }

    /// These elements as ristretto255 scalars, if this is that field: Pedersen commitments live on
    /// the curve, so verifiable mode works only in it. `None` for the Mersenne fields.
    fn as_ristretto(values: &[Self]) -> Option<&[Ristretto]> {
        let _ = values;
        None
    }

    /// `self^e`, by square-and-multiply (public exponents only).
    fn pow(self, mut e: u128) -> Self {
        let (mut base, mut acc) = (self, Self::ONE);
        while e > 0 {
            if e & 1 == 1 {
                acc *= base;
            }
            base *= base;
            e >>= 1;
        }
        acc
    }
}

/// Elements per parallel task of [`Accumulator::add_scaled_all`]: small enough to split a
/// thousand-element vector across two cores, large enough that a task outweighs its scheduling.
const ACCUMULATE_CHUNK: usize = 256;

/// Running sums `Σ_u w_u·x_u` of many vectors, reduced only every [`Field::WIDE_TERMS`] terms:
/// a CP folds thousands of weighted shares into one of these. Zeroized on drop.
pub struct Accumulator<F: Field> {
    wide: Vec<F::Wide>,
    terms: usize,
    reduced: Vec<F>,
}

impl<F: Field> Accumulator<F> {
    /// Zero sums of `dim` elements.
    pub fn new(dim: usize) -> Self {
        Accumulator {
            wide: vec![F::Wide::default(); dim],
            terms: 0,
            reduced: vec![F::ZERO; dim],
        }
    }

    /// Adds `w·x`; `x` must have the accumulator's length.
    pub fn add_scaled(&mut self, w: F, x: &[F]) {
        assert_eq!(
            x.len(),
            self.wide.len(),
            "accumulating a vector of another length"
        );
        if self.terms + 1 >= F::WIDE_TERMS {
            self.flush();
        }
        for (a, &v) in self.wide.iter_mut().zip(x) {
            *a = F::add_wide(*a, F::mul_wide(w, v));
        }
        self.terms += 1;
    }

    /// Adds `w·x` for every `(w, x)` of `terms`, as [`Accumulator::add_scaled`] one after the
    /// other would, with the elements split across rayon's threads (each thread owns a slice of
    /// the sums and adds every term to it). Every `x` must have the accumulator's length.
    pub fn add_scaled_all(&mut self, terms: &[(F, &[F])]) {
        for (_, x) in terms {
            assert_eq!(
                x.len(),
                self.wide.len(),
                "accumulating a vector of another length"
            );
        }
        let mut rest = terms;
        while !rest.is_empty() {
            if self.terms + 1 >= F::WIDE_TERMS {
                self.flush();
            }
            let room = F::WIDE_TERMS - 1 - self.terms;
            let (now, later) = rest.split_at(room.min(rest.len()));
            let add_chunk = |(c, wide): (usize, &mut [F::Wide])| {
                let start = c * ACCUMULATE_CHUNK;
                for (w, x) in now {
                    let x = &x[start..start + wide.len()];
                    for (a, &v) in wide.iter_mut().zip(x) {
                        *a = F::add_wide(*a, F::mul_wide(*w, v));
                    }
                }
            };
            // One chunk stays on the caller's thread: handing it to rayon and waiting for it
            // costs two thread wake-ups and gains nothing.
            match self.wide.len() <= ACCUMULATE_CHUNK {
                true => add_chunk((0, &mut self.wide)),
                false => self
                    .wide
                    .par_chunks_mut(ACCUMULATE_CHUNK)
                    .enumerate()
                    .for_each(add_chunk),
            }
            self.terms += now.len();
            rest = later;
        }
    }

    fn flush(&mut self) {
        for (r, a) in self.reduced.iter_mut().zip(self.wide.iter_mut()) {
            *r += F::reduce_wide(*a);
            *a = F::Wide::default();
        }
        self.terms = 0;
    }

    /// The sums so far.
    pub fn sums(&mut self) -> &[F] {
        self.flush();
        &self.reduced
    }
}

impl<F: Field> Drop for Accumulator<F> {
    fn drop(&mut self) {
        self.wide.zeroize();
        self.reduced.zeroize();
    }
}

/// Implements the operator traits and constant-time `PartialEq` for a field wrapper whose methods
/// `add_`, `sub_`, `mul_` and `neg_` do the arithmetic.
macro_rules! impl_field_ops {
    ($t:ty) => {
        impl ::std::ops::Add for $t {
            type Output = $t;
            #[inline]
            fn add(self, rhs: $t) -> $t {
                self.add_(rhs)
            }
        }
        impl ::std::ops::Sub for $t {
            type Output = $t;
            #[inline]
            fn sub(self, rhs: $t) -> $t {
                self.sub_(rhs)
            }
        }
        impl ::std::ops::Mul for $t {
            type Output = $t;
            #[inline]
            fn mul(self, rhs: $t) -> $t {
                self.mul_(rhs)
            }
        }
        impl ::std::ops::Neg for $t {
            type Output = $t;
            #[inline]
            fn neg(self) -> $t {
                self.neg_()
            }
        }
        impl ::std::ops::AddAssign for $t {
            #[inline]
            fn add_assign(&mut self, rhs: $t) {
                *self = self.add_(rhs);
            }
        }
        impl ::std::ops::SubAssign for $t {
            #[inline]
            fn sub_assign(&mut self, rhs: $t) {
                *self = self.sub_(rhs);
            }
        }
        impl ::std::ops::MulAssign for $t {
            #[inline]
            fn mul_assign(&mut self, rhs: $t) {
                *self = self.mul_(rhs);
            }
        }
        impl PartialEq for $t {
            fn eq(&self, other: &$t) -> bool {
                bool::from(::subtle::ConstantTimeEq::ct_eq(self, other))
            }
        }
        impl Eq for $t {}
    };
}
pub(crate) use impl_field_ops;

/// Checks the length of an encoding and copies it into a fixed array.
pub(crate) fn fixed_bytes<const N: usize>(field: FieldId, bytes: &[u8]) -> Result<[u8; N], Error> {
    bytes.try_into().map_err(|_| Error::InvalidFieldElement {
        field,
        reason: "wrong length",
    })
}

#[cfg(test)]
mod tests;
