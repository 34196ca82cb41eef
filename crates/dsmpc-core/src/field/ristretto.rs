//! The scalar field of ristretto255 (prime order ℓ = 2^252 + 27742317777372353535851937790883648493),
//! wrapping `curve25519_dalek::Scalar`, so that shares can be committed to on the curve.

use curve25519_dalek::Scalar;
use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use super::{Field, FieldId, fixed_bytes, impl_field_ops};
use crate::Error;

/// An element of the ristretto255 scalar field.
#[derive(Clone, Copy, Default, Debug, Zeroize)]
pub struct Ristretto(pub Scalar);

impl Ristretto {
    #[inline(always)]
    fn add_(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }

    #[inline(always)]
    fn sub_(self, rhs: Self) -> Self {
        Self(self.0 - rhs.0)
    }

    #[inline(always)]
    fn neg_(self) -> Self {
        Self(-self.0)
    }

    #[inline(always)]
    fn mul_(self, rhs: Self) -> Self {
        Self(self.0 * rhs.0)
    }

    /// The value if it is below 2^127 (so that it fits an `i128` as a positive number).
    fn small_positive(s: &Scalar) -> Option<i128> {
        let bytes = s.to_bytes();
        let (low, high) = bytes.split_at(16);
        if high.iter().any(|&b| b != 0) || low[15] & 0x80 != 0 {
            return None;
        }
        let mut buf = [0u8; 16];
        buf.copy_from_slice(low);
        Some(i128::from_le_bytes(buf))
    }
}

impl_field_ops!(Ristretto);

/// ℓ as four little-endian 64-bit limbs.
const ORDER_LIMBS: [u64; 4] = [
    0x5812_631a_5cf5_d3ed,
    0x14de_f9de_a2f7_9cd6,
    0,
    0x1000_0000_0000_0000,
];

/// `Scalar::from_canonical_bytes` without its cost: that function reduces the candidate mod ℓ
/// (a Montgomery multiplication and reduction, most of the time of decoding a share vector) to
/// compare it with itself. Here the check is a borrow chain of `bytes − ℓ` — constant time, since
/// shares are secret — and a canonical value becomes a `Scalar` as it is, which keeps the
/// invariant that every `Scalar` is reduced.
pub(crate) fn canonical_scalar(bytes: [u8; 32]) -> subtle::CtOption<Scalar> {
    let mut borrow = 0u64;
    for (i, order) in ORDER_LIMBS.iter().enumerate() {
        let mut limb = [0u8; 8];
        limb.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        let (d1, b1) = u64::from_le_bytes(limb).overflowing_sub(*order);
        let (_, b2) = d1.overflowing_sub(borrow);
        borrow = u64::from(b1 | b2);
    }
    // A final borrow means bytes < ℓ.
    let below_order = Choice::from(borrow as u8);
    subtle::CtOption::new(Scalar::from_bits(bytes), below_order)
}

/// A scalar's canonical value as four little-endian 64-bit limbs.
#[inline(always)]
fn limbs(s: &Scalar) -> [u64; 4] {
    let bytes = s.as_bytes();
    std::array::from_fn(|i| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&bytes[8 * i..8 * i + 8]);
        u64::from_le_bytes(b)
    })
}

/// An unreduced sum of scalar products: a non-negative integer below 2^512, as eight
/// little-endian 64-bit limbs. Arithmetic on it takes data-independent time; it is reduced mod ℓ
/// once per [`Field::WIDE_TERMS`] products instead of after every one (a reduced `Scalar`
/// multiplication costs two Montgomery multiplications).
#[derive(Clone, Copy, Default, Zeroize)]
pub struct Wide512([u64; 8]);

impl Wide512 {
    /// `a·b` for 256-bit `a` and `b`.
    #[inline(always)]
    fn product(a: &[u64; 4], b: &[u64; 4]) -> Wide512 {
        let mut out = [0u64; 8];
        for (i, &ai) in a.iter().enumerate() {
            let mut carry = 0u128;
            for (j, &bj) in b.iter().enumerate() {
                // At most (2^64-1)^2 + 2·(2^64-1) = 2^128 - 1: no overflow.
                let t = u128::from(out[i + j]) + u128::from(ai) * u128::from(bj) + carry;
                out[i + j] = t as u64;
                carry = t >> 64;
            }
            out[i + 4] = carry as u64;
        }
        Wide512(out)
    }

    /// `self + x`; the caller keeps the sum below 2^512.
    #[inline(always)]
    fn add(&self, x: &Wide512) -> Wide512 {
        let mut out = [0u64; 8];
        let mut carry = 0u64;
        for (o, (&a, &b)) in out.iter_mut().zip(self.0.iter().zip(&x.0)) {
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry);
            *o = s2;
            carry = u64::from(c1) + u64::from(c2);
        }
        Wide512(out)
    }

    /// `self += w·s` for a 128-bit `w` (random batch weights): half the work of a full product.
    #[inline(always)]
    pub fn add_weighted(&mut self, w: u128, s: &Scalar) {
        let s = limbs(s);
        for (i, wi) in [w as u64, (w >> 64) as u64].into_iter().enumerate() {
            let mut carry = 0u128;
            for (j, &sj) in s.iter().enumerate() {
                let t = u128::from(self.0[i + j]) + u128::from(wi) * u128::from(sj) + carry;
                self.0[i + j] = t as u64;
                carry = t >> 64;
            }
            for limb in &mut self.0[i + 4..] {
                let t = u128::from(*limb) + carry;
                *limb = t as u64;
                carry = t >> 64;
            }
        }
    }

    /// The value mod ℓ.
    pub fn reduce(&self) -> Scalar {
        let mut bytes = [0u8; 64];
        for (chunk, limb) in bytes.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        let s = Scalar::from_bytes_mod_order_wide(&bytes);
        bytes.zeroize();
        s
    }
}

impl ConstantTimeEq for Ristretto {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl Field for Ristretto {
    const ID: FieldId = FieldId::Ristretto255;
    const ZERO: Self = Self(Scalar::ZERO);
    const ONE: Self = Self(Scalar::ONE);
    const ENCODED_LEN: usize = 32;
    const PACKED_BITS: Option<u32> = None;
    const CAPACITY: u128 = i128::MAX as u128;
    // Products of two canonical scalars are below 2^506, so 63 of them fit in 512 bits.
    const WIDE_TERMS: usize = 63;

    type Wide = Wide512;

    fn from_u128(v: u128) -> Self {
        Self(Scalar::from(v))
    }

    fn invert(self) -> Option<Self> {
        (self.0 != Scalar::ZERO).then(|| Self(self.0.invert()))
    }

    fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self(Scalar::random(rng))
    }

    fn write_bytes(&self, out: &mut [u8]) {
        out.copy_from_slice(self.0.as_bytes());
    }

    fn read_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let raw: [u8; 32] = fixed_bytes(Self::ID, bytes)?;
        Option::from(canonical_scalar(raw))
            .map(Self)
            .ok_or(Error::InvalidFieldElement {
                field: Self::ID,
                reason: "value not below the group order",
            })
    }

    fn centered(self) -> Option<i128> {
        Self::small_positive(&self.0).or_else(|| Self::small_positive(&-self.0).map(|v| -v))
    }

    fn to_u128(self) -> Option<u128> {
        let bytes = self.0.to_bytes();
        let (low, high) = bytes.split_at(16);
        if high.iter().any(|&b| b != 0) {
            return None;
        }
        let mut buf = [0u8; 16];
        buf.copy_from_slice(low);
        Some(u128::from_le_bytes(buf))
    }

    #[inline(always)]
    fn mul_wide(a: Self, b: Self) -> Wide512 {
        Wide512::product(&limbs(&a.0), &limbs(&b.0))
    }

    #[inline(always)]
    fn add_wide(acc: Wide512, x: Wide512) -> Wide512 {
        acc.add(&x)
    }

    #[inline(always)]
    fn reduce_wide(acc: Wide512) -> Self {
        Self(acc.reduce())
    }

    fn as_ristretto(values: &[Self]) -> Option<&[Ristretto]> {
        Some(values)
    }
}
