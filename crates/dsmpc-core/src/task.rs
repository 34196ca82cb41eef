//! The task: what is computed, over whose inputs, by how many parties, in which field.
//!
//! The cloud signs a [`Task`]; every party checks the signature and re-derives the field from the
//! declared bounds ([`crate::encoding::Plan`]), so no party computes in a field that could wrap.

use ed25519_dalek::VerifyingKey;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::Error;
use crate::codec::{CodecError, Decode, Encode, Reader, Writer};
use crate::crypto::flp::RangeCircuit;
use crate::crypto::range::{MAX_PROVEN_DIM, RangeBound};
use crate::dpset::DpSet;
use crate::encoding::{Encoding, FieldPolicy, InputRange, MAX_SCALE, Plan};
use crate::field::{Field, FieldId};
use crate::identity::{PartyId, Role, Signers};
use crate::merkle;
use crate::roles::validity::MAX_REPORT_VERIFIER;
use crate::sharing::{MAX_DIM, Scheme};
use crate::signed::Signable;

/// A task's 16-byte random identifier.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(pub [u8; 16]);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({self})")
    }
}

impl std::str::FromStr for TaskId {
    type Err = Error;

    fn from_str(s: &str) -> Result<TaskId, Error> {
        let invalid = || Error::InvalidParameters {
            reason: format!("task id {s:?} is not 32 hexadecimal digits"),
        };
        if s.len() != 32 || !s.is_ascii() {
            return Err(invalid());
        }
        let mut id = [0u8; 16];
        for (i, byte) in id.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| invalid())?;
        }
        Ok(TaskId(id))
    }
}

impl Encode for TaskId {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
}

impl Decode for TaskId {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(TaskId(r.array("task id")?))
    }
}

/// Declares a fieldless enum with names and one-byte wire codes, plus its `Display`, `FromStr`
/// and codec impls, so every such enum is spelled the same way.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident = ($code:literal, $text:literal)),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// Every variant.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used on the command line and in output.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The one-byte wire code.
            pub fn code(self) -> u8 {
                match self { $($name::$variant => $code),+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> Result<$name, $crate::Error> {
                $name::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.name()).collect();
                    $crate::Error::InvalidParameters {
                        reason: format!("unknown {} {s:?}; expected one of {}", $what, names.join(", ")),
                    }
                })
            }
        }

        impl $crate::codec::Encode for $name {
            fn encode(&self, w: &mut $crate::codec::Writer) {
                w.u8(self.code());
            }
        }

        impl $crate::codec::Decode for $name {
            fn decode(r: &mut $crate::codec::Reader<'_>) -> Result<Self, $crate::codec::CodecError> {
                let code = r.u8($what)?;
                $name::ALL.iter().copied().find(|v| v.code() == code)
                    .ok_or($crate::codec::CodecError::InvalidValue { what: $what })
            }
        }
    };
}
pub(crate) use named_enum;

named_enum!(
    /// What the task computes.
    Function, "function" {
        /// `Σ x_u`.
        Sum = (1, "sum"),
        /// `Σ w_u·x_u`.
        WeightedSum = (2, "weighted-sum"),
        /// `Σ x_u / N`.
        Mean = (3, "mean"),
        /// `Σ w_u·x_u / Σ w_u`.
        WeightedMean = (4, "weighted-mean"),
    }
);

impl Function {
    /// Whether the function uses per-DP weights (otherwise every weight is 1).
    pub fn is_weighted(self) -> bool {
        matches!(self, Function::WeightedSum | Function::WeightedMean)
    }

    /// Whether the result is divided by the total weight of the input set.
    pub fn is_mean(self) -> bool {
        matches!(self, Function::Mean | Function::WeightedMean)
    }
}

named_enum!(
    /// How shares are protected against cheating data providers and computing parties.
    Mode, "mode" {
        /// Pedersen-committed Shamir shares over ristretto255; every share and result is checked.
        Verifiable = (1, "verifiable"),
        /// No commitments, seed-compressed shares, the smallest field that fits.
        Fast = (2, "fast"),
    }
);

/// What the cloud is asked to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskParams {
    /// The function.
    pub function: Function,
    /// Elements per input vector.
    pub dim: u32,
    /// How values map into the field.
    pub encoding: Encoding,
    /// The data providers allowed to contribute, each with its weight mantissa (at the encoding's
    /// weight scale; 1 at scale 0 for unweighted functions), in id order, without duplicates.
    pub weights: Vec<(PartyId, i128)>,
    /// Committee size.
    pub n: u32,
    /// Threshold: result shares needed to reconstruct.
    pub t: u32,
    /// Additive n-of-n sharing instead of Shamir (needs t = n and fast mode).
    pub additive: bool,
    /// Verifiable or fast.
    pub mode: Mode,
    /// Seconds (Unix time) by which the committee must be admitted.
    pub admission_deadline: u64,
    /// Seconds (Unix time) at which the input set closes.
    pub submission_deadline: u64,
    /// Whether every DP must prove its input inside the declared range, element by element
    /// (range proofs; verifiable mode, at most [`MAX_PROVEN_DIM`] elements).
    pub validate: bool,
}

/// The longest input vector whose range is proven by default ([`Task::validates_by_default`]).
pub const VALIDATED_BY_DEFAULT_DIM: usize = 16;

/// A validated task: its parameters, id, and the field and bound they imply.
///
/// Its signed encoding is a **header** whose size does not depend on the number of data
/// providers: instead of the list of DPs and weights it carries their count, the sum of the
/// weights' absolute values (all the plan needs) and the root of the Merkle tree over the list
/// (`merkle`). A task decoded from the wire therefore has an empty `params.weights` until a party
/// that needs the list (a CP, the edge) fetches it and [`Task::attach_dp_list`] checks it against
/// the header; a DP checks only its own entry ([`Task::verify_entry`]).
#[derive(Debug, Clone)]
pub struct Task {
    /// The task's id.
    pub id: TaskId,
    /// Its parameters; `weights` is empty until the DP list is attached.
    pub params: TaskParams,
    /// The field and bound derived from the parameters.
    pub plan: Plan,
    /// How many DPs the task lists.
    pub dps: u64,
    /// The sum of the absolute values of their weight mantissas.
    pub weight_sum: u128,
    /// The Merkle root over the list of (DP, weight, verifying key), in id order.
    pub dp_root: merkle::Hash,
    /// The verifying key of each listed DP, in the order of `params.weights` (empty until the
    /// DP list is attached).
    pub dp_keys: Vec<DpKey>,
    /// `dp_keys` decompressed, made on the first signature check of a list of at most
    /// [`DECOMPRESSED_KEYS_UP_TO`] DPs: decompressing a key costs about as much as a tenth of a
    /// signature check, and p1's 1000 DPs are checked by seven parties.
    /// Shared by every party in the process that holds the same list ([`shared_keys`]).
    decompressed: std::sync::OnceLock<Arc<DecompressedKeys>>,
}

/// A DP list's verifying keys, decompressed (`None` for a key that is not a valid point).
type DecompressedKeys = Vec<Option<VerifyingKey>>;

/// The decompressed keys of the list with Merkle root `root`, made from `keys` unless another
/// party in this process holds them already: the parties of one process (a simulation, a peer
/// that is a DP and a CP, the peer hosting the cloud and the edge) check the same list's
/// signatures, and the root commits to every key, so they share one copy — made once, freed
/// with the last task that holds it.
fn shared_keys(root: &merkle::Hash, keys: &[DpKey]) -> Arc<DecompressedKeys> {
    static SHARED: Mutex<BTreeMap<merkle::Hash, Weak<DecompressedKeys>>> =
        Mutex::new(BTreeMap::new());
    let lookup = || SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(keys) = lookup().get(root).and_then(Weak::upgrade) {
        return keys;
    }
    let made = Arc::new(decompress(keys));
    let mut shared = lookup();
    shared.retain(|_, w| w.strong_count() > 0);
    match shared.get(root).and_then(Weak::upgrade) {
        Some(raced) => raced,
        None => {
            shared.insert(*root, Arc::downgrade(&made));
            made
        }
    }
}

fn decompress(keys: &[DpKey]) -> DecompressedKeys {
    keys.iter()
        .map(|k| VerifyingKey::from_bytes(k).ok())
        .collect()
}

/// The longest DP list whose keys a party keeps decompressed (192 bytes a key instead of 32:
/// 3 MB at this length); longer lists decompress a key at each check.
pub const DECOMPRESSED_KEYS_UP_TO: usize = 16_384;

/// A data provider's Ed25519 verifying key as a task lists it: compressed, 32 bytes (a
/// decompressed key would take 192 bytes a DP in every party that holds the list).
pub type DpKey = merkle::Key;

/// One entry of a task's DP list as the CPs and the edge fetch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDp {
    /// The DP.
    pub id: PartyId,
    /// Its weight mantissa.
    pub weight: i128,
    /// Its verifying key, from the cloud's registry.
    pub key: DpKey,
}

impl PartialEq for Task {
    /// Two tasks are equal when their signed headers are (whether or not a list is attached).
    fn eq(&self, other: &Task) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for Task {}

/// A DP's entry in a task's list with the proof that it is there: what a DP fetches instead of
/// the whole list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpEntry {
    /// The DP's weight mantissa.
    pub weight: i128,
    /// The verifying key the task lists for the DP (the DP checks it is its own).
    pub key: DpKey,
    /// Its position in the list (ids ascending).
    pub index: u64,
    /// The Merkle inclusion proof, bottom up.
    pub proof: Vec<merkle::Hash>,
}

impl Task {
    /// Validates `params` and derives the plan; `dp_keys` are the listed DPs' verifying keys,
    /// in the order of `params.weights` (the cloud takes them from its registry).
    pub fn new(id: TaskId, params: TaskParams, dp_keys: Vec<DpKey>) -> Result<Task, Error> {
        let (plan, weight_sum) = Self::validate(&params)?;
        if dp_keys.len() != params.weights.len() {
            return Err(Error::InvalidParameters {
                reason: format!(
                    "{} verifying keys for {} data providers",
                    dp_keys.len(),
                    params.weights.len()
                ),
            });
        }
        Ok(Task {
            id,
            dps: params.weights.len() as u64,
            weight_sum,
            dp_root: merkle::root_of(&params.weights, &dp_keys),
            dp_keys,
            decompressed: std::sync::OnceLock::new(),
            params,
            plan,
        })
    }

    /// The checks of [`Task::new`] that need no keys: the parameters are valid; returns the
    /// plan and the sum of the weights' absolute values.
    pub fn validate(params: &TaskParams) -> Result<(Plan, u128), Error> {
        let reason = |r: String| Error::InvalidParameters { reason: r };
        let policy = Self::check_shape(params)?;
        Self::check_weights(params)?;
        let weight_sum = params
            .weights
            .iter()
            .try_fold(0u128, |acc, (_, w)| acc.checked_add(w.unsigned_abs()));
        let plan = Plan::with_weight_sum(params.encoding, weight_sum, policy)?;
        let weight_sum =
            weight_sum.ok_or_else(|| reason("the weights add up to more than 2^128".into()))?;
        Ok((plan, weight_sum))
    }

    /// A task from its decoded header: the same checks as [`Task::new`] but those that need the
    /// list, which [`Task::attach_dp_list`] makes.
    fn from_header(
        id: TaskId,
        params: TaskParams,
        dps: u64,
        weight_sum: u128,
        dp_root: merkle::Hash,
    ) -> Result<Task, Error> {
        let reason = |r: String| Error::InvalidParameters { reason: r };
        let policy = Self::check_shape(&params)?;
        if dps == 0 {
            return Err(reason("a task needs at least one data provider".into()));
        }
        let plan = Plan::with_weight_sum(params.encoding, Some(weight_sum), policy)?;
        Ok(Task {
            id,
            params,
            plan,
            dps,
            weight_sum,
            dp_root,
            dp_keys: Vec::new(),
            decompressed: std::sync::OnceLock::new(),
        })
    }

    /// Whether the list of DPs and weights is attached (always for a task made by
    /// [`Task::new`]; after [`Task::attach_dp_list`] for one decoded from its header).
    pub fn has_dp_list(&self) -> bool {
        self.params.weights.len() as u64 == self.dps && self.dp_keys.len() as u64 == self.dps
    }

    /// Attaches the list of (DP, weight, key) fetched for this task, after checking that it is
    /// the one the signed header commits to: as many entries, in id order without duplicates,
    /// weight 1 for unweighted functions, the same sum of absolute weights and the same Merkle
    /// root.
    pub fn attach_dp_list(&mut self, list: Vec<ListedDp>) -> Result<(), Error> {
        let mut weights = Vec::with_capacity(list.len());
        let mut keys = Vec::with_capacity(list.len());
        for dp in list {
            weights.push((dp.id, dp.weight));
            keys.push(dp.key);
        }
        self.attach_dp_parts(weights, keys)
    }

    /// [`Task::attach_dp_list`] with the list given as its (DP, weight) entries and their keys,
    /// in the same order: what a party that fetched the list page by page holds.
    pub fn attach_dp_parts(
        &mut self,
        weights: Vec<(PartyId, i128)>,
        keys: Vec<DpKey>,
    ) -> Result<(), Error> {
        let refuse = |reason: &str| {
            Err(Error::ProtocolViolation {
                task: self.id,
                reason: format!("the DP list does not match the signed task: {reason}"),
            })
        };
        if weights.len() as u64 != self.dps || keys.len() != weights.len() {
            return refuse(&format!(
                "{} entries and {} keys, the task has {}",
                weights.len(),
                keys.len(),
                self.dps
            ));
        }
        let mut candidate = self.params.clone();
        candidate.weights = weights;
        if let Err(e) = Self::check_weights(&candidate) {
            return refuse(&e.to_string());
        }
        let sum = candidate
            .weights
            .iter()
            .try_fold(0u128, |acc, (_, w)| acc.checked_add(w.unsigned_abs()));
        if sum != Some(self.weight_sum) {
            return refuse("another sum of weights");
        }
        if merkle::root_of(&candidate.weights, &keys) != self.dp_root {
            return refuse("another Merkle root");
        }
        self.params = candidate;
        self.dp_keys = keys;
        self.decompressed = std::sync::OnceLock::new();
        Ok(())
    }

    /// The task without its DP list: what its signed encoding carries (a copy that costs the
    /// same whatever the number of DPs).
    pub fn header(&self) -> Task {
        Task {
            params: TaskParams {
                weights: Vec::new(),
                ..self.params.clone()
            },
            dp_keys: Vec::new(),
            decompressed: std::sync::OnceLock::new(),
            id: self.id,
            plan: self.plan,
            dps: self.dps,
            weight_sum: self.weight_sum,
            dp_root: self.dp_root,
        }
    }

    /// The attached list from entry `from` on, at most `limit` entries.
    pub fn listed_dps(&self, from: usize, limit: usize) -> Vec<ListedDp> {
        let end = self.params.weights.len().min(from.saturating_add(limit));
        let start = from.min(end);
        self.params.weights[start..end]
            .iter()
            .zip(&self.dp_keys[start..end])
            .map(|((id, weight), key)| ListedDp {
                id: id.clone(),
                weight: *weight,
                key: *key,
            })
            .collect()
    }

    /// The Merkle tree over the attached list (for the party that answers DPs' entries).
    pub fn dp_tree(&self) -> merkle::Tree {
        merkle::Tree::new(&self.params.weights, &self.dp_keys)
    }

    /// `dp`'s entry with its inclusion proof in `tree` (this task's [`Task::dp_tree`]); `None`
    /// for a DP the attached list does not hold.
    pub fn entry_in(&self, tree: &merkle::Tree, dp: &PartyId) -> Option<DpEntry> {
        let index = self
            .params
            .weights
            .binary_search_by(|(id, _)| id.cmp(dp))
            .ok()?;
        Some(DpEntry {
            weight: self.params.weights[index].1,
            key: *self.dp_keys.get(index)?,
            index: index as u64,
            proof: tree.proof(index as u64)?,
        })
    }

    /// `dp`'s weight if `entry` proves it is in the list the header commits to.
    pub fn verify_entry(&self, dp: &PartyId, entry: &DpEntry) -> Option<i128> {
        let leaf = merkle::leaf(dp, entry.weight, &entry.key);
        merkle::verify(&self.dp_root, self.dps, entry.index, &leaf, &entry.proof)
            .then_some(entry.weight)
    }

    /// The checks that need no DP list (dimension, scheme, deadlines); returns the field policy
    /// of the task's mode.
    fn check_shape(params: &TaskParams) -> Result<FieldPolicy, Error> {
        if params.dim == 0 || params.dim as usize > MAX_DIM {
            return Err(Error::InvalidDimension {
                dim: params.dim as usize,
                max: MAX_DIM,
            });
        }
        Self::check_scheme(params)?;
        if let Encoding::Exact { weight_scale, .. } = params.encoding
            && weight_scale > MAX_SCALE
        {
            return Err(Error::InvalidParameters {
                reason: format!("weight scale {weight_scale} exceeds {MAX_SCALE}"),
            });
        }
        if params.submission_deadline < params.admission_deadline {
            return Err(Error::InvalidParameters {
                reason: "the submission deadline precedes the admission deadline".into(),
            });
        }
        Self::check_validation(params)?;
        Ok(match (params.mode, params.validate) {
            (Mode::Verifiable, _) => FieldPolicy::Verifiable,
            (Mode::Fast, true) => FieldPolicy::Validated,
            (Mode::Fast, false) => FieldPolicy::Smallest,
        })
    }

    /// Range validation needs what the proofs are built for: a declared range no wider than
    /// 2^64; in verifiable mode vectors of at most [`MAX_PROVEN_DIM`] elements, in fast mode
    /// bits and proof that fit in a share ([`MAX_DIM`] elements each).
    fn check_validation(params: &TaskParams) -> Result<(), Error> {
        if !params.validate {
            return Ok(());
        }
        let refuse = |reason: String| {
            Err(Error::InvalidParameters {
                reason: format!("{reason}; give --no-validate to run it without range proofs"),
            })
        };
        let range = match params.encoding {
            Encoding::Exact { range, .. } => range,
            Encoding::Modular { .. } => {
                return refuse("modular tasks declare no input range".into());
            }
        };
        if let Err(e) = RangeBound::new(range.min, range.max) {
            return refuse(e.to_string());
        }
        match params.mode {
            Mode::Verifiable if params.dim as usize > MAX_PROVEN_DIM => refuse(format!(
                "range proofs cover vectors of at most {MAX_PROVEN_DIM} elements"
            )),
            Mode::Verifiable => Ok(()),
            Mode::Fast => {
                let width = range.max.abs_diff(range.min);
                let circuit = RangeCircuit::new::<crate::field::M61>(params.dim as usize, width);
                let fits = circuit.is_some_and(|c| c.input_len().max(c.proof_len()) <= MAX_DIM);
                let verifier = circuit.map_or(u64::MAX, |c| c.verifier_len() as u64);
                if !fits {
                    return refuse(format!(
                        "the bits of {} elements of {} bits each exceed a share's {MAX_DIM} \
                         elements",
                        params.dim,
                        128 - width.leading_zeros()
                    ));
                }
                if verifier.saturating_mul(params.weights.len() as u64) > MAX_REPORT_VERIFIER {
                    return refuse(format!(
                        "a CP's verifier shares for {} DPs ({verifier} elements each) exceed \
                         one report's {MAX_REPORT_VERIFIER} elements",
                        params.weights.len()
                    ));
                }
                Ok(())
            }
        }
    }

    /// Whether a task of this shape proves its inputs in range unless told otherwise: vectors of
    /// at most [`VALIDATED_BY_DEFAULT_DIM`] elements, in either mode. Verifiable mode: a DP proves
    /// 16 elements in about 13 ms and a CP checks them in about 2 ms (0.2 s and 0.08 s at 256);
    /// fast mode: the DP shares every bit of its input (16 times the upload at 16 bits), so
    /// longer vectors validate only when asked to.
    pub fn validates_by_default(dim: u32) -> bool {
        dim as usize <= VALIDATED_BY_DEFAULT_DIM
    }

    /// The range every input must be proven in, for a verifiable task that validates inputs
    /// (Bulletproofs+, [`crate::crypto::range`]).
    pub fn range_bound(&self) -> Option<RangeBound> {
        match (self.params.validate, self.params.mode, self.params.encoding) {
            (true, Mode::Verifiable, Encoding::Exact { range, .. }) => {
                RangeBound::new(range.min, range.max).ok()
            }
            _ => None,
        }
    }

    /// The statement a DP proves in a fast task that validates inputs (a fully linear proof
    /// over the shares, [`crate::crypto::flp`]), for the task's field `F`.
    pub fn validity_circuit<F: Field>(&self) -> Option<RangeCircuit> {
        match (self.params.validate, self.params.mode, self.params.encoding) {
            (true, Mode::Fast, Encoding::Exact { range, .. }) => {
                RangeCircuit::new::<F>(self.dim(), range.max.abs_diff(range.min))
            }
            _ => None,
        }
    }

    /// Elements of the input part of a DP's share: the vector's length, or in a fast task that
    /// validates inputs the number of bits shared.
    pub fn share_len<F: Field>(&self) -> usize {
        self.validity_circuit::<F>()
            .map_or(self.dim(), |c| c.input_len())
    }

    /// The smallest input mantissa of an exact task's declared range.
    pub fn range_min(&self) -> Option<i128> {
        match self.params.encoding {
            Encoding::Exact { range, .. } => Some(range.min),
            Encoding::Modular { .. } => None,
        }
    }

    fn check_scheme(params: &TaskParams) -> Result<(), Error> {
        Scheme::shamir(params.n, params.t)?;
        let problem = if params.additive && params.t != params.n {
            "additive sharing needs t = n"
        } else if params.additive && params.mode == Mode::Verifiable {
            "verifiable mode uses Shamir sharing; choose t = n without additive sharing"
        } else {
            return Ok(());
        };
        Err(Error::InvalidParameters {
            reason: problem.into(),
        })
    }

    fn check_weights(params: &TaskParams) -> Result<(), Error> {
        let reason = |r: String| Err(Error::InvalidParameters { reason: r });
        if params.weights.is_empty() {
            return reason("a task needs at least one data provider".into());
        }
        if params.weights.windows(2).any(|w| w[0].0 >= w[1].0) {
            return reason("data providers must be listed once each, in id order".into());
        }
        let Some(unit) = params.encoding.unit_weight() else {
            return reason(format!("the weight scale exceeds {MAX_SCALE}"));
        };
        if !params.function.is_weighted() && params.weights.iter().any(|(_, w)| *w != unit) {
            return reason(format!(
                "{} gives every data provider weight 1",
                params.function
            ));
        }
        Ok(())
    }

    /// The sharing scheme.
    pub fn scheme(&self) -> Scheme {
        if self.params.additive {
            Scheme::Additive { n: self.params.n }
        } else {
            Scheme::Shamir {
                n: self.params.n,
                t: self.params.t,
            }
        }
    }

    /// The field the task computes in.
    pub fn field(&self) -> FieldId {
        self.plan.field
    }

    /// The vector length.
    pub fn dim(&self) -> usize {
        self.params.dim as usize
    }

    /// The weight mantissa of data provider `dp`, if it may contribute.
    pub fn weight_of(&self, dp: &PartyId) -> Option<i128> {
        self.position_of(dp).map(|i| self.params.weights[i].1)
    }

    /// The id at position `i` of the attached list.
    pub fn listed_id(&self, i: u64) -> Option<&PartyId> {
        let i = usize::try_from(i).ok()?;
        self.params.weights.get(i).map(|(id, _)| id)
    }

    /// The ids of the attached list that `set` holds, in list order.
    pub fn ids_in(&self, set: &DpSet) -> Vec<PartyId> {
        set.iter()
            .filter_map(|i| self.listed_id(i))
            .cloned()
            .collect()
    }

    /// The ids of the attached list that `set` does not hold, in list order.
    pub fn ids_missing(&self, set: &DpSet) -> Vec<PartyId> {
        set.iter_missing()
            .filter_map(|i| self.listed_id(i))
            .cloned()
            .collect()
    }

    /// `dp`'s position in the attached list (ids ascending), if it is listed.
    pub fn position_of(&self, dp: &PartyId) -> Option<usize> {
        self.params
            .weights
            .binary_search_by(|(id, _)| id.cmp(dp))
            .ok()
    }
}

impl crate::signed::Signed<Task> {
    /// The signed task without its DP list ([`Task::header`]): what to send, or keep where
    /// the list is not needed. Its signature covers exactly this.
    pub fn header(&self) -> crate::signed::Signed<Task> {
        crate::signed::Signed {
            signer: self.signer.clone(),
            body: self.body.header(),
            signature: self.signature,
        }
    }
}

impl Signers for Task {
    /// The key the attached DP list gives `id`: only data providers sign as such for a task.
    fn verifying_key(&self, id: &PartyId, role: Role) -> Result<VerifyingKey, Error> {
        let position = self.position_of(id);
        let key = position
            .and_then(|i| self.dp_keys.get(i))
            .ok_or_else(|| Error::UnknownParty { id: id.clone() })?;
        if role != Role::Dp {
            return Err(Error::WrongRole {
                id: id.clone(),
                expected: role,
                actual: Role::Dp,
            });
        }
        let bad = || Error::BadSignature { signer: id.clone() };
        if self.dp_keys.len() <= DECOMPRESSED_KEYS_UP_TO {
            // Shared only for a whole list, which the root then commits to.
            let all = self.decompressed.get_or_init(|| match self.has_dp_list() {
                true => shared_keys(&self.dp_root, &self.dp_keys),
                false => Arc::new(decompress(&self.dp_keys)),
            });
            if let Some(Some(key)) = position.and_then(|i| all.get(i)) {
                return Ok(*key);
            }
            return Err(bad());
        }
        VerifyingKey::from_bytes(key).map_err(|_| bad())
    }
}

impl Encode for Encoding {
    fn encode(&self, w: &mut Writer) {
        match *self {
            Encoding::Exact {
                input_scale,
                weight_scale,
                range,
            } => {
                w.u8(1);
                w.u32(input_scale);
                w.u32(weight_scale);
                w.i128(range.min);
                w.i128(range.max);
            }
            Encoding::Modular { field } => {
                w.u8(2);
                w.u8(field.code());
            }
        }
    }
}

impl Decode for Encoding {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        match r.u8("encoding")? {
            1 => {
                let input_scale = r.u32("input scale")?;
                let weight_scale = r.u32("weight scale")?;
                let (min, max) = (r.i128("minimum")?, r.i128("maximum")?);
                let range = InputRange::new(min, max).map_err(|_| CodecError::InvalidValue {
                    what: "input range",
                })?;
                Ok(Encoding::Exact {
                    input_scale,
                    weight_scale,
                    range,
                })
            }
            2 => {
                let field = FieldId::from_code(r.u8("field")?)
                    .ok_or(CodecError::InvalidValue { what: "field" })?;
                Ok(Encoding::Modular { field })
            }
            _ => Err(CodecError::InvalidValue { what: "encoding" }),
        }
    }
}

impl Encode for TaskParams {
    fn encode(&self, w: &mut Writer) {
        self.function.encode(w);
        w.u32(self.dim);
        self.encoding.encode(w);
        encode_dp_list(w, &self.weights);
        w.u32(self.n);
        w.u32(self.t);
        w.u8(u8::from(self.additive));
        self.mode.encode(w);
        w.u64(self.admission_deadline);
        w.u64(self.submission_deadline);
        w.u8(u8::from(self.validate));
    }
}

impl Decode for TaskParams {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(TaskParams {
            function: Function::decode(r)?,
            dim: r.u32("dim")?,
            encoding: Encoding::decode(r)?,
            weights: decode_dp_list(r)?,
            n: r.u32("n")?,
            t: r.u32("t")?,
            additive: decode_flag(r)?,
            mode: Mode::decode(r)?,
            admission_deadline: r.u64("admission deadline")?,
            submission_deadline: r.u64("submission deadline")?,
            validate: decode_flag(r)?,
        })
    }
}

impl Encode for Task {
    /// The header: the parameters without the list, its count, weight sum and Merkle root.
    fn encode(&self, w: &mut Writer) {
        let p = &self.params;
        self.id.encode(w);
        p.function.encode(w);
        w.u32(p.dim);
        p.encoding.encode(w);
        w.u64(self.dps);
        w.fixed(&self.weight_sum.to_le_bytes());
        w.fixed(&self.dp_root);
        w.u32(p.n);
        w.u32(p.t);
        w.u8(u8::from(p.additive));
        p.mode.encode(w);
        w.u64(p.admission_deadline);
        w.u64(p.submission_deadline);
        w.u8(u8::from(p.validate));
        w.u8(self.plan.field.code());
    }
}

impl Decode for Task {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        let id = TaskId::decode(r)?;
        let function = Function::decode(r)?;
        let dim = r.u32("dim")?;
        let encoding = Encoding::decode(r)?;
        let dps = r.u64("data providers")?;
        let weight_sum = u128::from_le_bytes(r.array("weight sum")?);
        let dp_root = r.array("DP list root")?;
        let params = TaskParams {
            function,
            dim,
            encoding,
            weights: Vec::new(),
            n: r.u32("n")?,
            t: r.u32("t")?,
            additive: decode_flag(r)?,
            mode: Mode::decode(r)?,
            admission_deadline: r.u64("admission deadline")?,
            submission_deadline: r.u64("submission deadline")?,
            validate: decode_flag(r)?,
        };
        let field = r.u8("field")?;
        let task = Task::from_header(id, params, dps, weight_sum, dp_root)
            .map_err(|_| CodecError::InvalidValue { what: "task" })?;
        // Every party derives the field itself; a task naming another field is refused.
        if task.plan.field.code() != field {
            return Err(CodecError::InvalidValue { what: "task field" });
        }
        Ok(task)
    }
}

/// A list of (DP, weight) entries: `list<PartyId ‖ weight i128>` — in a `CreateTask`, a
/// `GetDpList` answer and the cloud's stored copy beside a task.
pub fn encode_dp_list(w: &mut Writer, list: &[(PartyId, i128)]) {
    w.list(list, |w, (id, weight)| {
        id.encode(w);
        w.i128(*weight);
    });
}

/// Reads what [`encode_dp_list`] wrote (each entry at least 18 bytes: a 1-character id).
pub fn decode_dp_list(r: &mut Reader<'_>) -> Result<Vec<(PartyId, i128)>, CodecError> {
    r.list("DP list", 18, |r| {
        Ok((PartyId::decode(r)?, r.i128("weight")?))
    })
}

/// A list of listed DPs: `list<PartyId ‖ weight i128 ‖ key [32]>` — a `GetDpList` answer and
/// the cloud's stored copy beside a task.
pub fn encode_listed_dps(w: &mut Writer, list: &[ListedDp]) {
    w.list(list, |w, dp| {
        dp.id.encode(w);
        w.i128(dp.weight);
        w.fixed(&dp.key);
    });
}

/// Reads what [`encode_listed_dps`] wrote (each entry at least 50 bytes).
pub fn decode_listed_dps(r: &mut Reader<'_>) -> Result<Vec<ListedDp>, CodecError> {
    r.list("DP list", 50, |r| {
        Ok(ListedDp {
            id: PartyId::decode(r)?,
            weight: r.i128("weight")?,
            key: r.array("DP key")?,
        })
    })
}

fn decode_flag(r: &mut Reader<'_>) -> Result<bool, CodecError> {
    match r.u8("additive")? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(CodecError::InvalidValue {
            what: "additive flag",
        }),
    }
}

impl Encode for DpEntry {
    fn encode(&self, w: &mut Writer) {
        w.i128(self.weight);
        w.fixed(&self.key);
        w.u64(self.index);
        w.list(&self.proof, |w, h| w.fixed(h));
    }
}

impl Decode for DpEntry {
    fn decode(r: &mut Reader<'_>) -> Result<Self, CodecError> {
        Ok(DpEntry {
            weight: r.i128("weight")?,
            key: r.array("DP key")?,
            index: r.u64("index")?,
            proof: r.list("proof", 32, |r| r.array("proof hash"))?,
        })
    }
}

impl Signable for Task {
    const LABEL: &'static str = "task";
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(weight_scale: u32) -> TaskParams {
        TaskParams {
            function: Function::Sum,
            dim: 1,
            encoding: Encoding::Exact {
                input_scale: 0,
                weight_scale,
                range: InputRange::new(0, 1).unwrap(),
            },
            weights: vec![(PartyId::new("dp1").unwrap(), 1)],
            n: 1,
            t: 1,
            additive: false,
            mode: Mode::Fast,
            admission_deadline: 0,
            submission_deadline: 0,
            validate: false,
        }
    }

    /// Found by the decoder property test: 10^40 overflowed before the scale was checked.
    #[test]
    fn a_huge_weight_scale_is_an_error_not_a_panic() {
        let err = Task::new(TaskId([0; 16]), params(40), vec![[0; 32]]).unwrap_err();
        assert!(
            err.to_string().contains("weight scale 40 exceeds 18"),
            "{err}"
        );
    }

    #[test]
    fn a_task_needs_one_key_per_listed_dp() {
        let err = Task::new(TaskId([0; 16]), params(0), Vec::new()).unwrap_err();
        assert!(
            err.to_string()
                .contains("0 verifying keys for 1 data providers"),
            "{err}"
        );
    }

    /// The task gives a DP's signatures the key it lists for that DP, and no key to anyone else.
    #[test]
    fn the_listed_key_checks_a_dps_signatures() {
        use crate::identity::SecretIdentity;
        use crate::rng::os_rng;
        let dp = SecretIdentity::generate(PartyId::new("dp1").unwrap(), Role::Dp, &mut os_rng());
        let key = dp.card().verifying_key.to_bytes();
        let task = Task::new(TaskId([1; 16]), params(0), vec![key]).unwrap();
        assert_eq!(
            task.verifying_key(dp.id(), Role::Dp).unwrap().to_bytes(),
            key
        );
        let stranger = PartyId::new("dp2").unwrap();
        assert!(matches!(
            task.verifying_key(&stranger, Role::Dp),
            Err(Error::UnknownParty { .. })
        ));
        assert!(matches!(
            task.verifying_key(dp.id(), Role::Cp),
            Err(Error::WrongRole { .. })
        ));
    }

    /// Two parties holding the same list share one decompressed copy; another list has its own.
    #[test]
    fn parties_with_the_same_list_share_its_decompressed_keys() {
        use crate::identity::SecretIdentity;
        use crate::rng::os_rng;
        let key = |name: &str| {
            SecretIdentity::generate(PartyId::new(name).unwrap(), Role::Dp, &mut os_rng())
                .card()
                .verifying_key
                .to_bytes()
        };
        let dp1 = PartyId::new("dp1").unwrap();
        let (k1, k2) = (key("dp1"), key("dp1"));
        let a = Task::new(TaskId([3; 16]), params(0), vec![k1]).unwrap();
        let b = Task::new(TaskId([3; 16]), params(0), vec![k1]).unwrap();
        let c = Task::new(TaskId([3; 16]), params(0), vec![k2]).unwrap();
        for t in [&a, &b, &c] {
            t.verifying_key(&dp1, Role::Dp).unwrap();
        }
        let copy = |t: &Task| t.decompressed.get().unwrap().clone();
        assert!(Arc::ptr_eq(&copy(&a), &copy(&b)));
        assert!(!Arc::ptr_eq(&copy(&a), &copy(&c)));
        assert_eq!(c.verifying_key(&dp1, Role::Dp).unwrap().to_bytes(), k2);
    }

    #[test]
    fn task_ids_parse_from_hex() {
        let id: TaskId = "000102030405060708090a0b0c0d0e0f".parse().unwrap();
        assert_eq!(id.0[15], 15);
        assert_eq!(id.to_string(), "000102030405060708090a0b0c0d0e0f");
        assert!("xyz".parse::<TaskId>().is_err());
        assert!(
            "000102030405060708090a0b0c0d0e0g"
                .parse::<TaskId>()
                .is_err()
        );
    }
}
