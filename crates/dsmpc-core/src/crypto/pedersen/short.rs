//! Constant-time `Σ_j v_j·P_j` for signed values with `|v_j|` below a public bound `2^bits`.
//!
//! A dealer's constant coefficient vector is its input, and inputs lie in the task's declared
//! range, so they are short integers of either sign. The general constant-time multiplication
//! (Straus, in [`super::commit`]) walks all 64 radix-16 digits of every scalar, about 6 µs per
//! point here. Here each `v_j` is recoded into just `⌈(bits + 1)/4⌉` signed radix-16 digits, and
//! the sum is evaluated by Horner's rule: per digit, one constant-time selection from a table of
//! `1·P_j … 8·P_j` and one addition. For inputs in ±1000 that is 3 digits, about 1.2 µs per
//! point with the tables kept, 3.6 µs with them built on the spot.
//!
//! **Timing.** The number of digits depends only on `bits`, which is public (the task's range);
//! every table entry is read for every selection; the recoding is branch-free arithmetic. Nothing
//! about the values changes what is computed, so the timing reveals nothing about them.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use subtle::{Choice, ConditionallyNegatable, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

/// The widest values the short path takes: beyond 48 bits (13 digits) the general multiplication
/// costs less than the tables and selections.
pub const MAX_BITS: u32 = 48;

/// `1·P, 2·P, …, 8·P` for one point `P`: the entries a signed radix-16 digit selects from.
#[derive(Clone)]
pub(super) struct Multiples([RistrettoPoint; 8]);

impl Multiples {
    /// The multiples of `point` (seven additions).
    pub(super) fn new(point: &RistrettoPoint) -> Self {
        let mut entries = [*point; 8];
        for k in 1..8 {
            entries[k] = entries[k - 1] + point;
        }
        Multiples(entries)
    }

    /// `digit·P` for `digit` in `-8..=8`, in constant time: every entry is read, and the sign is
    /// applied by a conditional negation.
    fn select(&self, digit: i8) -> RistrettoPoint {
        let negative = (digit as u8) >> 7;
        let sign_mask = 0u8.wrapping_sub(negative);
        let magnitude = ((digit as u8) ^ sign_mask).wrapping_add(negative);
        let mut point = RistrettoPoint::identity();
        for (k, entry) in (1u8..).zip(&self.0) {
            point.conditional_assign(entry, magnitude.ct_eq(&k));
        }
        point.conditional_negate(Choice::from(negative));
        point
    }
}

/// How many signed radix-16 digits values with `|v| < 2^bits` need.
pub(super) fn digit_count(bits: u32) -> usize {
    (bits as usize + 1).div_ceil(4)
}

/// `value` (with `|value| < 2^bits` and `count = digit_count(bits)`) as `count` signed radix-16
/// digits, least significant first, each in `-8..=8`. The last digit absorbs the sign (the bits
/// above it are all zeros or all ones). Branch-free.
pub(super) fn recode(value: i64, count: usize, digits: &mut [i8]) {
    let mut carry = 0i64;
    for (i, digit) in digits.iter_mut().enumerate().take(count) {
        let nibble = ((value >> (4 * i)) & 15) + carry;
        if i + 1 == count {
            // 0 for a non-negative value, -16 for a negative one.
            *digit = (nibble + ((value >> (4 * count)) << 4)) as i8;
        } else {
            carry = (nibble + 8) >> 4;
            *digit = (nibble - (carry << 4)) as i8;
        }
    }
}

/// `Σ_j values[j]·points[j]` in constant time, every `|value|` below `2^bits`. `tables` are the
/// points' [`Multiples`] if the caller keeps them; otherwise they are built here.
pub(super) fn msm(
    points: &[RistrettoPoint],
    tables: Option<&[Multiples]>,
    values: &[i64],
    bits: u32,
) -> RistrettoPoint {
    debug_assert_eq!(points.len(), values.len());
    let count = digit_count(bits);
    let mut digits = Zeroizing::new(vec![0i8; values.len() * count]);
    for (value, slot) in values.iter().zip(digits.chunks_exact_mut(count)) {
        recode(*value, count, slot);
    }
    let built: Vec<Multiples>;
    let tables = match tables {
        Some(t) => t,
        None => {
            built = points.iter().map(Multiples::new).collect();
            &built
        }
    };
    let mut acc = RistrettoPoint::identity();
    for i in (0..count).rev() {
        for _ in 0..4 {
            acc = acc + acc;
        }
        for (table, slot) in tables.iter().zip(digits.chunks_exact(count)) {
            acc += table.select(slot[i]);
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::scalar::Scalar;
    use curve25519_dalek::traits::MultiscalarMul;
    use proptest::prelude::*;

    fn point(i: u64) -> RistrettoPoint {
        RistrettoPoint::mul_base(&Scalar::from(i * 7919 + 3))
    }

    fn scalar(v: i64) -> Scalar {
        let magnitude = Scalar::from(v.unsigned_abs());
        if v < 0 { -magnitude } else { magnitude }
    }

    /// `raw` folded into `-(2^bits - 1)..=2^bits - 1`.
    fn within(raw: i64, bits: u32) -> i64 {
        let magnitude = (raw.unsigned_abs() & ((1u64 << bits) - 1)) as i64;
        if raw < 0 { -magnitude } else { magnitude }
    }

    proptest! {
        #[test]
        fn recoded_digits_are_small_and_add_up(bits in 0u32..=MAX_BITS, raw: i64) {
            let value = within(raw, bits);
            let count = digit_count(bits);
            let mut digits = vec![0i8; count];
            recode(value, count, &mut digits);
            let mut total: i128 = 0;
            for (i, d) in digits.iter().enumerate() {
                prop_assert!((-8..=8).contains(d), "digit {d}");
                total += i128::from(*d) << (4 * i);
            }
            prop_assert_eq!(total, i128::from(value));
        }

        #[test]
        fn short_sums_equal_full_multiplications(
            bits in 0u32..=MAX_BITS,
            raw in proptest::collection::vec(any::<i64>(), 0..12),
            keep_tables: bool,
        ) {
            let values: Vec<i64> = raw.iter().map(|&v| within(v, bits)).collect();
            let points: Vec<RistrettoPoint> = (0..values.len() as u64).map(point).collect();
            let tables: Vec<Multiples> = points.iter().map(Multiples::new).collect();
            let got = msm(&points, keep_tables.then_some(&tables[..]), &values, bits);
            let want = RistrettoPoint::multiscalar_mul(values.iter().map(|&v| scalar(v)), &points);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn every_digit_selects_its_multiple() {
        let p = point(1);
        let table = Multiples::new(&p);
        for digit in -8i8..=8 {
            let k = Scalar::from(digit.unsigned_abs());
            let want = if digit < 0 { -(p * k) } else { p * k };
            assert_eq!(table.select(digit), want, "digit {digit}");
        }
    }

    #[test]
    fn the_extreme_values_of_each_width_are_summed_right() {
        let points: Vec<RistrettoPoint> = (0..4).map(point).collect();
        for bits in 1..=MAX_BITS {
            let top = (1i64 << bits) - 1;
            let values = [top, -top, 0, -(top >> 1)];
            let want = RistrettoPoint::multiscalar_mul(values.iter().map(|&v| scalar(v)), &points);
            assert_eq!(msm(&points, None, &values, bits), want, "bits {bits}");
        }
    }
}
