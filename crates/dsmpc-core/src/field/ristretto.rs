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
    const CAPACITY: u128 = i128::MAX as u128;
    const WIDE_TERMS: usize = usize::MAX;

    type Wide = Scalar;

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
        Option::from(Scalar::from_canonical_bytes(raw))
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
    fn mul_wide(a: Self, b: Self) -> Scalar {
        a.0 * b.0
    }

    #[inline(always)]
    fn add_wide(acc: Scalar, x: Scalar) -> Scalar {
        acc + x
    }

    #[inline(always)]
    fn reduce_wide(acc: Scalar) -> Self {
        Self(acc)
    }

    fn as_ristretto(values: &[Self]) -> Option<&[Ristretto]> {
        Some(values)
    }
}
