//! The one error type of the protocol core.
//!
//! Each variant names what was wrong — which share id, which bound, which field — so that a user
//! reading it knows what to fix. Variants never carry secret values.

use crate::field::FieldId;

/// Everything that can go wrong in the protocol core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A share id (party index) was zero, or is zero in the field: its share would be the secret.
    #[error("share id {id} is zero in {field}; ids must be nonzero")]
    ZeroShareId {
        /// The offending id.
        id: u64,
        /// The field it was mapped into.
        field: FieldId,
    },
    /// The same share id appeared twice among the shares or interpolation points.
    #[error("share id {id} appears more than once")]
    DuplicateShareId {
        /// The repeated id.
        id: u64,
    },
    /// A share id lies outside `1..=n`.
    #[error("share id {id} is outside 1..={n}")]
    ShareIdOutOfRange {
        /// The offending id.
        id: u64,
        /// The number of parties.
        n: u32,
    },
    /// Fewer shares than the threshold were supplied to reconstruction.
    #[error("reconstruction needs {needed} shares but got {got}")]
    NotEnoughShares {
        /// The threshold t (or n for additive sharing).
        needed: u32,
        /// How many distinct shares were supplied.
        got: u32,
    },
    /// The committee size or threshold is not usable.
    #[error("invalid sharing parameters: {reason}")]
    InvalidParameters {
        /// What is wrong, in words.
        reason: String,
    },
    /// A vector length is outside the supported range.
    #[error("dimension {dim} is outside 1..={max}")]
    InvalidDimension {
        /// The requested dimension.
        dim: usize,
        /// The largest supported dimension.
        max: usize,
    },
    /// A share's vector has the wrong length.
    #[error("share {id} has {got} elements, expected {expected}")]
    ShareLengthMismatch {
        /// The share's id.
        id: u64,
        /// The task's dimension.
        expected: usize,
        /// The share's length.
        got: usize,
    },
    /// Bytes that should encode a field element are the wrong length or not canonical.
    #[error("invalid {field} element encoding: {reason}")]
    InvalidFieldElement {
        /// The field being decoded.
        field: FieldId,
        /// Why the bytes were refused.
        reason: &'static str,
    },
    /// A field name did not parse.
    #[error("unknown field {name:?}; expected one of m31, m61, ristretto255")]
    UnknownField {
        /// The name given.
        name: String,
    },
    /// A decimal number did not parse.
    #[error("invalid number {input:?}: {reason}")]
    InvalidNumber {
        /// The text given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A value lies outside the declared input range.
    #[error("value {value} is outside the declared range [{min}, {max}]")]
    ValueOutOfRange {
        /// The value, as a decimal string.
        value: String,
        /// The declared minimum, as a decimal string.
        min: String,
        /// The declared maximum, as a decimal string.
        max: String,
    },
    /// The declared range and weights allow a result no supported field holds exactly.
    #[error(
        "the result could reach ±{bound} (sum of |weights| × largest |input|, in units of the \
         result's last decimal place), but the largest field that fits ({field}) holds only ±{limit}; \
         narrow the input range, lower the scale, or use smaller weights"
    )]
    BoundTooLarge {
        /// The bound on |Σ w·x|, or `"more than 2^128"`.
        bound: String,
        /// The largest magnitude the field holds exactly.
        limit: String,
        /// The largest candidate field.
        field: FieldId,
    },
    /// A reconstructed value lies outside the bound that was declared for it: some share was wrong.
    #[error("reconstructed value {value} exceeds the declared bound ±{bound}")]
    ResultOutOfBound {
        /// The value found (a field element's centered representative, or "huge").
        value: String,
        /// The declared bound.
        bound: u128,
    },
}
