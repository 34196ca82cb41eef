//! GF(2^k - 1) for the Mersenne primes 2^31-1 and 2^61-1.
//!
//! Elements are kept fully reduced in a `u64`. Reduction uses `2^k ≡ 1 (mod p)`: a value
//! `hi·2^k + lo` is congruent to `hi + lo`, so a few shifts, masks and additions replace division.
//! Every operation on elements runs in time independent of their values.

use rand_core::CryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroize;

use super::{Field, FieldId, fixed_bytes, impl_field_ops};
use crate::Error;

/// An element of GF(2^K - 1); only `K = 31` and `K = 61` are supported.
#[derive(Clone, Copy, Default, Debug, Zeroize)]
pub struct Mersenne<const K: u32>(u64);

/// GF(2^31-1), the first seed's field.
pub type M31 = Mersenne<31>;
/// GF(2^61-1), the fast-mode field.
pub type M61 = Mersenne<61>;

impl<const K: u32> Mersenne<K> {
    /// The prime 2^K - 1.
    pub const P: u64 = {
        assert!(K == 31 || K == 61, "only 2^31-1 and 2^61-1 are supported");
        (1u64 << K) - 1
    };

    /// Folds applied to a full 128-bit accumulator before it is below 2^(K+1).
    const WIDE_FOLDS: usize = if K == 31 { 4 } else { 2 };

    /// The element with canonical value `v`; `v` must be below p.
    const fn from_canonical(v: u64) -> Self {
        Self(v)
    }

    /// The canonical value in `0..p`.
    pub fn value(self) -> u64 {
        self.0
    }

    /// Reduces `s < 2^(K+1)` to `0..p` in constant time.
    #[inline(always)]
    fn normalize(s: u64) -> u64 {
        let s = (s & Self::P) + (s >> K); // now s <= p + 1
        let t = s.wrapping_sub(Self::P);
        // Keep s when t wrapped below zero (top bit set), else take t.
        let keep_s = (t >> 63).wrapping_neg();
        (s & keep_s) | (t & !keep_s)
    }

    /// Reduces any 128-bit value.
    #[inline(always)]
    fn reduce_u128(mut x: u128) -> u64 {
        let p = u128::from(Self::P);
        for _ in 0..Self::WIDE_FOLDS {
            x = (x & p) + (x >> K);
        }
        Self::normalize(x as u64)
    }

    #[inline(always)]
    fn add_(self, rhs: Self) -> Self {
        Self(Self::normalize(self.0 + rhs.0))
    }

    #[inline(always)]
    fn sub_(self, rhs: Self) -> Self {
        Self(Self::normalize(self.0 + Self::P - rhs.0))
    }

    #[inline(always)]
    fn neg_(self) -> Self {
        Self(Self::normalize(Self::P - self.0))
    }

    #[inline(always)]
    fn mul_(self, rhs: Self) -> Self {
        let x = u128::from(self.0) * u128::from(rhs.0);
        // Both halves are below 2^K because x < 2^(2K).
        Self(Self::normalize((x as u64 & Self::P) + (x >> K) as u64))
    }
}

impl_field_ops!(Mersenne<31>);
impl_field_ops!(Mersenne<61>);

impl<const K: u32> ConstantTimeEq for Mersenne<K> {
    fn ct_eq(&self, other: &Self) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

/// Implements [`Field`] for one Mersenne field; the two instances differ only in constants.
macro_rules! impl_mersenne_field {
    ($k:literal, $id:expr) => {
        impl Field for Mersenne<$k> {
            const ID: FieldId = $id;
            const ZERO: Self = Self::from_canonical(0);
            const ONE: Self = Self::from_canonical(1);
            const ENCODED_LEN: usize = ($k as usize).div_ceil(8);
            const PACKED_BITS: Option<u32> = Some($k);
            const CAPACITY: u128 = ((Self::P - 1) / 2) as u128;
            // Products are below 2^(2K); this many sum to below 2^128.
            const WIDE_TERMS: usize = if $k == 31 { 1 << 20 } else { 63 };

            type Wide = u128;

            fn from_u128(v: u128) -> Self {
                Self(Self::reduce_u128(v))
            }

            fn invert(self) -> Option<Self> {
                (self.0 != 0).then(|| self.pow(u128::from(Self::P - 2)))
            }

            fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
                loop {
                    // Masking to K bits gives 0..=p uniformly; rejecting p leaves 0..p uniform.
                    let v = rng.next_u64() & Self::P;
                    if v != Self::P {
                        return Self(v);
                    }
                }
            }

            fn write_bytes(&self, out: &mut [u8]) {
                out.copy_from_slice(&self.0.to_le_bytes()[..Self::ENCODED_LEN]);
            }

            fn read_bytes(bytes: &[u8]) -> Result<Self, Error> {
                let raw: [u8; Self::ENCODED_LEN] = fixed_bytes(Self::ID, bytes)?;
                let mut wide = [0u8; 8];
                wide[..Self::ENCODED_LEN].copy_from_slice(&raw);
                let v = u64::from_le_bytes(wide);
                if v >= Self::P {
                    return Err(Error::InvalidFieldElement {
                        field: Self::ID,
                        reason: "value not below the modulus",
                    });
                }
                Ok(Self(v))
            }

            fn centered(self) -> Option<i128> {
                let v = i128::from(self.0);
                Some(if self.0 <= (Self::P - 1) / 2 {
                    v
                } else {
                    v - i128::from(Self::P)
                })
            }

            fn to_u128(self) -> Option<u128> {
                Some(u128::from(self.0))
            }

            #[inline(always)]
            fn mul_wide(a: Self, b: Self) -> u128 {
                u128::from(a.0) * u128::from(b.0)
            }

            #[inline(always)]
            fn add_wide(acc: u128, x: u128) -> u128 {
                acc + x
            }

            #[inline(always)]
            fn reduce_wide(acc: u128) -> Self {
                Self(Self::reduce_u128(acc))
            }

            fn sum(a: &[Self]) -> Self {
                // Elements are below 2^61, so 2^67 of them fit in a u128.
                Self(Self::reduce_u128(a.iter().map(|x| u128::from(x.0)).sum()))
            }
        }
    };
}

impl_mersenne_field!(31, FieldId::M31);
impl_mersenne_field!(61, FieldId::M61);
