//! Round 4 — result shares and the result.
//!
//! CP i sends the edge `S_i = Σ_u w_u·s_ui` (and in verifiable mode `R_i = Σ_u w_u·r_ui`) over the
//! input set, sealed to the edge and signed. The edge checks each against the combined commitments,
//! reconstructs from any t valid ones and signs the [`TaskResult`].

use crate::codec::{CodecError, Decode, Encode, Reader, Writer, decode_exact};
use crate::crypto::kem::SealedBox;
use crate::dpset::DpSet;
use crate::encoding::format_fixed;
use crate::field::Field;
use crate::identity::PartyId;
use crate::round3::Culprit;
use crate::sharing::SecretVec;
use crate::signed::Signable;
use crate::task::Function;

/// Purpose label of a result share's encryption context.
pub const RESULT_PURPOSE: &str = "result-share";

/// The plaintext of a result share. Layout: `u32 count ‖ elements ‖ blind flag u8 ‖ blind?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultPayload<F: Field> {
    /// `S_i`, one element per dimension.
    pub sum: SecretVec<F>,
    /// `R_i` (verifiable mode).
    pub blind: Option<F>,
}

impl<F: Field> ResultPayload<F> {
    /// The encoding.
    pub fn to_secret_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.field_elements(self.sum.as_slice());
        match &self.blind {
            Some(b) => {
                w.u8(1);
                w.field_element(b);
            }
            None => w.u8(0),
        }
        zeroize::Zeroizing::new(w.into_bytes())
    }

    /// Decodes a payload that must have `dim` elements.
    pub fn from_bytes(bytes: &[u8], dim: usize) -> Result<Self, CodecError> {
        let payload: ResultPayload<F> = decode_exact(bytes)?;
        if payload.sum.len() != dim {
            return Err(CodecError::InvalidValue {
                what: "result length",
            });
        }
        Ok(payload)
    }
}

impl<F: Field> Decode for ResultPayload<F> {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let sum = SecretVec::from_vec(r.field_elements("result")?);
        let blind = match r.u8("blind flag")? {
            0 => None,
            1 => Some(r.field_element("blind")?),
            _ => return Err(CodecError::InvalidValue { what: "blind flag" }),
        };
        Ok(ResultPayload { sum, blind })
    }
}

/// CP → edge: a sealed result share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultShare {
    /// The CP's index.
    pub index: u32,
    /// The [`ResultPayload`], sealed to the edge.
    pub sealed: SealedBox,
}

impl Encode for ResultShare {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.index);
        self.sealed.encode(w);
    }
}

impl Decode for ResultShare {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(ResultShare {
            index: r.u32("index")?,
            sealed: SealedBox::decode(r)?,
        })
    }
}

impl Signable for ResultShare {
    const LABEL: &'static str = "result-share";
}

/// Edge → everyone: the result, with the input set and the culprits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskResult {
    /// The function computed.
    pub function: Function,
    /// `Σ w·x` per element, as mantissas at `scale` (residues mod p in modular mode).
    pub sums: Vec<i128>,
    /// Decimal places of `sums`.
    pub scale: u32,
    /// `Σ w` over the input set, as a mantissa at `weight_scale`.
    pub weight_total: i128,
    /// Decimal places of `weight_total`.
    pub weight_scale: u32,
    /// DPs aggregated, by position in the task's DP list; the others of the list were left out.
    pub included: DpSet,
    /// Parties caught cheating.
    pub culprits: Vec<Culprit>,
}

/// Decimal places a mean is given with beyond the inputs' own.
pub const MEAN_EXTRA_DIGITS: u32 = 6;

impl TaskResult {
    /// The result as exact decimal text, one string per element: the (weighted) sum, or for means
    /// the quotient by the total weight rounded half away from zero to the input scale plus
    /// [`MEAN_EXTRA_DIGITS`] decimals.
    pub fn values(&self) -> Vec<String> {
        self.sums
            .iter()
            .map(|&s| {
                if self.function.is_mean() {
                    self.mean(s)
                } else {
                    format_fixed(s, self.scale)
                }
            })
            .collect()
    }

    fn mean(&self, sum: i128) -> String {
        // sum / 10^scale ÷ (W / 10^weight_scale) = sum / (W·10^input_scale)
        let input_scale = self.scale - self.weight_scale;
        let digits = input_scale + MEAN_EXTRA_DIGITS;
        if self.weight_total == 0 {
            return "undefined (total weight is 0)".into();
        }
        let quotient = 10i128
            .checked_pow(digits)
            .and_then(|p| sum.checked_mul(p))
            .zip(
                10i128
                    .checked_pow(input_scale)
                    .and_then(|p| self.weight_total.checked_mul(p)),
            )
            .map(|(num, den)| div_round(num, den));
        match quotient {
            Some(q) => format_fixed(q, digits),
            None => format!("{} / {}", format_fixed(sum, self.scale), self.weight_total),
        }
    }
}

/// `num / den` rounded half away from zero.
fn div_round(num: i128, den: i128) -> i128 {
    let (q, r) = (num / den, num % den);
    if r.unsigned_abs().saturating_mul(2) >= den.unsigned_abs() {
        q + if (num < 0) == (den < 0) { 1 } else { -1 }
    } else {
        q
    }
}

impl Encode for TaskResult {
    fn encode(&self, w: &mut Writer) {
        self.function.encode(w);
        w.list(&self.sums, |w, s| w.i128(*s));
        w.u32(self.scale);
        w.i128(self.weight_total);
        w.u32(self.weight_scale);
        self.included.encode(w);
        w.list(&self.culprits, |w, c| c.encode(w));
    }
}

impl Decode for TaskResult {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let function = Function::decode(r)?;
        let sums = r.list("sums", 16, |r| r.i128("sum"))?;
        let scale = r.u32("scale")?;
        let weight_total = r.i128("weight total")?;
        let weight_scale = r.u32("weight scale")?;
        if weight_scale > scale {
            return Err(CodecError::InvalidValue {
                what: "weight scale",
            });
        }
        Ok(TaskResult {
            function,
            sums,
            scale,
            weight_total,
            weight_scale,
            included: DpSet::decode(r)?,
            culprits: r.list("culprits", 3, crate::round3::Culprit::decode)?,
        })
    }
}

impl Signable for TaskResult {
    const LABEL: &'static str = "result";
}

/// Edge → all: the task ended without a result, and why — signed, so that whoever waits for
/// the result learns it as soon as the edge does, and can show it to others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// What is missing, in words ("only 2 of 5 CPs reported; threshold 3").
    pub reason: String,
    /// The parties whose part is missing (CPs that did not report or answer), ids ascending.
    pub missing: Vec<PartyId>,
}

/// The longest [`TaskFailure::reason`] accepted, in bytes.
pub const MAX_FAILURE_REASON: usize = 4096;

impl Encode for TaskFailure {
    fn encode(&self, w: &mut Writer) {
        w.bytes(self.reason.as_bytes());
        w.list(&self.missing, |w, id| id.encode(w));
    }
}

impl Decode for TaskFailure {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let reason = r.bytes("reason")?;
        if reason.len() > MAX_FAILURE_REASON {
            return Err(CodecError::InvalidValue { what: "reason" });
        }
        let reason = std::str::from_utf8(reason)
            .map_err(|_| CodecError::InvalidValue { what: "reason" })?
            .to_owned();
        Ok(TaskFailure {
            reason,
            missing: r.list("missing", 2, PartyId::decode)?,
        })
    }
}

impl Signable for TaskFailure {
    const LABEL: &'static str = "task-failure";
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)?;
        if !self.missing.is_empty() {
            let names: Vec<&str> = self.missing.iter().map(PartyId::as_str).collect();
            write!(f, " (missing: {})", names.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(function: Function, sums: Vec<i128>, scale: u32, w: i128, ws: u32) -> TaskResult {
        TaskResult {
            function,
            sums,
            scale,
            weight_total: w,
            weight_scale: ws,
            included: DpSet::default(),
            culprits: vec![],
        }
    }

    #[test]
    fn failures_roundtrip_and_refuse_long_or_malformed_reasons() {
        use crate::codec::decode_exact;
        let failure = TaskFailure {
            reason: "only 2 of 5 CPs reported; threshold 3".into(),
            missing: vec![PartyId::new("cp3").unwrap(), PartyId::new("cp5").unwrap()],
        };
        assert_eq!(
            decode_exact::<TaskFailure>(&failure.to_bytes()).unwrap(),
            failure
        );
        assert_eq!(
            failure.to_string(),
            "only 2 of 5 CPs reported; threshold 3 (missing: cp3, cp5)"
        );
        let long = TaskFailure {
            reason: "x".repeat(MAX_FAILURE_REASON + 1),
            missing: Vec::new(),
        };
        assert!(decode_exact::<TaskFailure>(&long.to_bytes()).is_err());
        let mut w = Writer::new();
        w.bytes(&[0xff, 0xfe]);
        w.list(&Vec::<PartyId>::new(), |w, id| id.encode(w));
        let err = decode_exact::<TaskFailure>(&w.into_bytes()).unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
    }

    #[test]
    fn sums_print_exactly() {
        let r = result(Function::WeightedSum, vec![-1250, 7], 2, 3, 0);
        assert_eq!(r.values(), vec!["-12.50", "0.07"]);
    }

    #[test]
    fn means_round_half_away_from_zero() {
        // (10 + 20 + 31) / 3 = 20.333333…
        let r = result(Function::Mean, vec![61, -61, 2], 0, 3, 0);
        assert_eq!(r.values(), vec!["20.333333", "-20.333333", "0.666667"]);
        // Weighted: Σw·x = 2.5 (scale 1+1), Σw = 0.5 (scale 1) → 5
        let r = result(Function::WeightedMean, vec![250], 2, 5, 1);
        assert_eq!(r.values(), vec!["5.0000000"]);
        let r = result(Function::Mean, vec![1], 0, 0, 0);
        assert!(r.values()[0].contains("undefined"));
    }
}
