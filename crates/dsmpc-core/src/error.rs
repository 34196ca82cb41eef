//! The one error type of the protocol core.
//!
//! Each variant names what was wrong — which share id, which bound, which field — so that a user
//! reading it knows what to fix. Variants never carry secret values.

use crate::codec::CodecError;
use crate::crypto::CryptoError;
use crate::field::FieldId;
use crate::identity::{PartyId, Role};
use crate::task::TaskId;

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
    /// A data provider's input has a different number of values than the task's dimension.
    #[error("the input has {got} value{}, but the task takes {expected} per data provider", if *.got == 1 { "" } else { "s" })]
    InputLength {
        /// Values given.
        got: usize,
        /// The task's dimension.
        expected: usize,
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
    /// A party id is not 1-64 characters of `a-z 0-9 . _ -`.
    #[error("invalid party id {id:?}: use 1-64 characters from a-z, 0-9, '.', '_' and '-'")]
    InvalidPartyId {
        /// The id given (truncated).
        id: String,
    },
    /// A party is not in the roster.
    #[error("party {id} is not in the roster")]
    UnknownParty {
        /// The unknown id.
        id: PartyId,
    },
    /// A party acted in a role the roster does not give it.
    #[error("party {id} is a {actual}, not a {expected}")]
    WrongRole {
        /// The party.
        id: PartyId,
        /// The role the message needs.
        expected: Role,
        /// The role in the roster.
        actual: Role,
    },
    /// A signature did not verify.
    #[error("bad signature from {signer}")]
    BadSignature {
        /// Whose signature it claimed to be.
        signer: PartyId,
    },
    /// A message did not decode.
    #[error("malformed message: {0}")]
    Codec(#[from] CodecError),
    /// A cryptographic operation failed.
    #[error("{what} from {sender}: {source}")]
    Crypto {
        /// What was being processed.
        what: &'static str,
        /// Who sent it.
        sender: PartyId,
        /// The failure.
        source: CryptoError,
    },
    /// A message names a task this party does not know.
    #[error("unknown task {task}")]
    UnknownTask {
        /// The task id.
        task: TaskId,
    },
    /// A message is valid but not acceptable in the task's current state.
    #[error("task {task}: {reason}")]
    ProtocolViolation {
        /// The task.
        task: TaskId,
        /// What was wrong.
        reason: String,
    },
    /// A CP admission request was refused (Algorithm 1).
    #[error("admission of {cp} refused: {reason}")]
    AdmissionRefused {
        /// The requesting CP (as it claimed).
        cp: PartyId,
        /// Why.
        reason: AdmissionRefusal,
    },
    /// The edge could not reconstruct: fewer than t valid result shares.
    #[error(
        "only {valid} valid result shares, {needed} needed; culprits: [{culprits}]",
        culprits = culprits.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
    )]
    NotEnoughResultShares {
        /// Valid shares received.
        valid: u32,
        /// The threshold.
        needed: u32,
        /// CPs whose shares were invalid.
        culprits: Vec<PartyId>,
    },
}

/// Why the cloud refused a CP's admission request; each check of Algorithm 1 has its own variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdmissionRefusal {
    /// The VID is not a CP in the roster.
    #[error("unknown VID")]
    UnknownVid,
    /// The signature over task id, VID, nonce and timestamp does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The encrypted token does not decrypt to the VID that signed the request.
    #[error("token does not match the VID")]
    TokenMismatch,
    /// The timestamp is outside the accepted window around the cloud's clock.
    #[error("timestamp outside the accepted window")]
    StaleTimestamp,
    /// The nonce was seen before: a replay.
    #[error("nonce already used")]
    ReplayedNonce,
    /// The VID already holds an index in this task (no Sybil).
    #[error("VID already admitted")]
    AlreadyAdmitted,
    /// All n indices are taken.
    #[error("committee already full")]
    CommitteeFull,
}
