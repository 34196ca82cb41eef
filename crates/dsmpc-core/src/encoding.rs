//! Exact encoding of inputs, weights and results (DESIGN.md §5).
//!
//! Inputs and weights are signed integers or fixed-point decimals. A decimal with `scale` s is
//! carried as its *mantissa*, the integer `value·10^s` (`-12.5` at scale 2 is `-1250`). A field
//! element stands for the integer in `[-(p-1)/2, (p-1)/2]` congruent to it, so a weighted sum is
//! exact as long as `|Σ w·x|` stays within that range: [`Plan::new`] bounds `|Σ w·x|` by
//! `Σ|w|·max|x|` from the declared input range and the weights, and picks the smallest field whose
//! capacity holds the bound — or refuses, saying the bound and the limit. A result is then scaled by
//! `10^-(input scale + weight scale)`.
//!
//! [`Encoding::Modular`] keeps the first seed's semantics instead: inputs are arbitrary elements of
//! Z_p given as integers in `0..p`, and the result is reported modulo p.

use crate::Error;
use crate::field::{Field, FieldId};

/// The largest number of decimal places dsmpc accepts for inputs or weights.
pub const MAX_SCALE: u32 = 18;

/// Parses decimal text (`-12.5`, `7`, `+0.25`) into its mantissa at `scale`: `value·10^scale`.
///
/// Refuses text with more decimal places than `scale` (it would lose precision), exponents,
/// separators and values whose mantissa does not fit an `i128`.
pub fn parse_fixed(text: &str, scale: u32) -> Result<i128, Error> {
    let invalid = |reason: String| Error::InvalidNumber {
        input: text.to_owned(),
        reason,
    };
    if scale > MAX_SCALE {
        return Err(invalid(format!("scale {scale} exceeds {MAX_SCALE}")));
    }
    let trimmed = text.trim();
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(invalid("expected a decimal number such as -12.5".into()));
    }
    if frac_part.len() > scale as usize {
        return Err(invalid(format!(
            "has {} decimal places but the scale is {scale}",
            frac_part.len()
        )));
    }
    let overflow = || invalid("too large".into());
    let mut mantissa: i128 = 0;
    let padded = frac_part
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(scale as usize);
    for digit in int_part.bytes().chain(padded) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit - b'0')))
            .ok_or_else(overflow)?;
    }
    Ok(if negative { -mantissa } else { mantissa })
}

/// Formats a mantissa at `scale` as exact decimal text, with exactly `scale` decimal places.
pub fn format_fixed(mantissa: i128, scale: u32) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let sign = if mantissa < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    format!("{sign}{int_part}.{frac_part}")
}

/// The declared range of every input element, as mantissas at the input scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputRange {
    /// Smallest allowed mantissa.
    pub min: i128,
    /// Largest allowed mantissa.
    pub max: i128,
}

impl InputRange {
    /// The range `[min, max]`; refuses `min > max`.
    pub fn new(min: i128, max: i128) -> Result<InputRange, Error> {
        if min > max {
            return Err(Error::InvalidParameters {
                reason: format!("input range minimum {min} is above its maximum {max}"),
            });
        }
        Ok(InputRange { min, max })
    }

    /// The largest magnitude an input can have.
    pub fn max_abs(&self) -> u128 {
        self.min.unsigned_abs().max(self.max.unsigned_abs())
    }
}

/// How values map into the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Exact signed fixed-point arithmetic; the result can never wrap.
    Exact {
        /// Decimal places of inputs.
        input_scale: u32,
        /// Decimal places of weights.
        weight_scale: u32,
        /// Declared range of every input element (mantissas at `input_scale`).
        range: InputRange,
    },
    /// The first seed's semantics: inputs and weights are integers in `0..p`, the result is mod p.
    Modular {
        /// The field whose modulus p is used.
        field: FieldId,
    },
}

impl Encoding {
    /// The mantissa of weight 1: `10^weight_scale` (exact), 1 (modular); `None` for a weight
    /// scale above [`MAX_SCALE`].
    pub fn unit_weight(&self) -> Option<i128> {
        match *self {
            Encoding::Exact { weight_scale, .. } if weight_scale > MAX_SCALE => None,
            Encoding::Exact { weight_scale, .. } => Some(10i128.pow(weight_scale)),
            Encoding::Modular { .. } => Some(1),
        }
    }
}

/// Which fields a task may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldPolicy {
    /// The smallest field that holds the result (fast mode).
    Smallest,
    /// The ristretto255 scalar field, which Pedersen commitments need (verifiable mode).
    Verifiable,
    /// The smallest field of at least 61 bits that holds the result (fast mode with validated
    /// inputs: the proof's soundness error per try is about `1/p`).
    Validated,
}

impl FieldPolicy {
    fn candidates(self) -> &'static [FieldId] {
        match self {
            FieldPolicy::Smallest => &FieldId::ALL,
            FieldPolicy::Verifiable => &[FieldId::Ristretto255],
            FieldPolicy::Validated => &[FieldId::M61, FieldId::Ristretto255],
        }
    }
}

/// `Σ|w|·max_abs`, or `None` if it exceeds 2^128.
pub fn weighted_sum_bound(max_abs_input: u128, weights: &[i128]) -> Option<u128> {
    weights
        .iter()
        .try_fold(0u128, |acc, w| acc.checked_add(w.unsigned_abs()))?
        .checked_mul(max_abs_input)
}

/// The field and bound a task computes with, decided before any share is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The value encoding.
    pub encoding: Encoding,
    /// The chosen field.
    pub field: FieldId,
    /// The bound on |Σ w·x| (mantissa units at the result scale); `None` in modular mode.
    pub bound: Option<u128>,
}

impl Plan {
    /// Chooses the field for `encoding` and `weights` (one per data provider).
    pub fn new(encoding: Encoding, weights: &[i128], policy: FieldPolicy) -> Result<Plan, Error> {
        let sum = weights
            .iter()
            .try_fold(0u128, |acc, w| acc.checked_add(w.unsigned_abs()));
        Plan::with_weight_sum(encoding, sum, policy)
    }

    /// Chooses the field for `encoding` and weights whose absolute values add up to
    /// `weight_sum` (`None`: beyond 2^128), which is all the plan depends on.
    pub fn with_weight_sum(
        encoding: Encoding,
        weight_sum: Option<u128>,
        policy: FieldPolicy,
    ) -> Result<Plan, Error> {
        match encoding {
            Encoding::Exact {
                input_scale,
                weight_scale,
                range,
            } => {
                check_scale(input_scale)?;
                check_scale(weight_scale)?;
                let bound = weight_sum.and_then(|w| w.checked_mul(range.max_abs()));
                let field = choose_field(bound, policy)?;
                Ok(Plan {
                    encoding,
                    field,
                    bound,
                })
            }
            Encoding::Modular { field } => {
                if policy == FieldPolicy::Verifiable && field != FieldId::Ristretto255 {
                    return Err(Error::InvalidParameters {
                        reason: format!("verifiable mode needs ristretto255, not {field}"),
                    });
                }
                Ok(Plan {
                    encoding,
                    field,
                    bound: None,
                })
            }
        }
    }

    /// Decimal places of the weighted sum: input scale + weight scale (0 in modular mode).
    pub fn result_scale(&self) -> u32 {
        match self.encoding {
            Encoding::Exact {
                input_scale,
                weight_scale,
                ..
            } => input_scale + weight_scale,
            Encoding::Modular { .. } => 0,
        }
    }

    /// Maps one input mantissa into the field, refusing values outside the declared range
    /// (or, in modular mode, outside `0..p`).
    pub fn encode_input<F: Field>(&self, mantissa: i128) -> Result<F, Error> {
        match self.encoding {
            Encoding::Exact {
                range, input_scale, ..
            } => {
                if mantissa < range.min || mantissa > range.max {
                    return Err(Error::ValueOutOfRange {
                        value: format_fixed(mantissa, input_scale),
                        min: format_fixed(range.min, input_scale),
                        max: format_fixed(range.max, input_scale),
                    });
                }
                Ok(F::from_i128(mantissa))
            }
            Encoding::Modular { .. } => encode_modular(mantissa),
        }
    }

    /// Maps one weight mantissa into the field (modular mode: must lie in `0..p`).
    pub fn encode_weight<F: Field>(&self, mantissa: i128) -> Result<F, Error> {
        match self.encoding {
            Encoding::Exact { .. } => Ok(F::from_i128(mantissa)),
            Encoding::Modular { .. } => encode_modular(mantissa),
        }
    }

    /// Reads a weighted sum back: the signed mantissa at [`Plan::result_scale`], or in modular mode
    /// the canonical residue. A value beyond the bound means some share was wrong and is refused.
    pub fn decode_result<F: Field>(&self, value: F) -> Result<i128, Error> {
        match self.bound {
            Some(bound) => {
                let v = value.centered().ok_or(Error::ResultOutOfBound {
                    value: "beyond 2^127".into(),
                    bound,
                })?;
                if v.unsigned_abs() > bound {
                    return Err(Error::ResultOutOfBound {
                        value: v.to_string(),
                        bound,
                    });
                }
                Ok(v)
            }
            None => value
                .to_u128()
                .and_then(|v| i128::try_from(v).ok())
                .ok_or_else(|| Error::InvalidParameters {
                    reason: "modular result does not fit 127 bits".into(),
                }),
        }
    }
}

fn check_scale(scale: u32) -> Result<(), Error> {
    if scale > MAX_SCALE {
        return Err(Error::InvalidParameters {
            reason: format!("scale {scale} exceeds {MAX_SCALE}"),
        });
    }
    Ok(())
}

/// The smallest allowed field whose capacity holds `bound` (`None`: more than 2^128).
pub fn choose_field(bound: Option<u128>, policy: FieldPolicy) -> Result<FieldId, Error> {
    let candidates = policy.candidates();
    if let Some(b) = bound
        && let Some(&field) = candidates.iter().find(|f| b <= f.capacity())
    {
        return Ok(field);
    }
    let largest = *candidates.last().expect("at least one candidate field");
    Err(Error::BoundTooLarge {
        bound: bound.map_or_else(|| "more than 2^128".into(), |b| b.to_string()),
        limit: largest.capacity().to_string(),
        field: largest,
    })
}

/// An integer in `0..p` as a field element, refusing anything else.
fn encode_modular<F: Field>(v: i128) -> Result<F, Error> {
    let x = F::from_i128(v);
    let canonical = v >= 0 && x.to_u128() == Some(v as u128);
    if !canonical {
        return Err(Error::ValueOutOfRange {
            value: v.to_string(),
            min: "0".into(),
            max: format!("the modulus of {} minus 1", F::ID),
        });
    }
    Ok(x)
}

#[cfg(test)]
mod tests;
