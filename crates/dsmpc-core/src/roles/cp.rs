//! The computing party: decrypt, batch-verify and aggregate shares; complain about bad ones;
//! produce the result share over the input set.
//!
//! Memory stays O(d) plus per-DP metadata: every accepted share is folded into the running
//! aggregate `S = Σ w_u·s_u` at once. Should the input set leave out a DP this CP accepted (another
//! CP's complaint was upheld), or include one it never saw, [`CpTask::finish`] takes those DPs'
//! deliveries again and corrects the aggregate.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use curve25519_dalek::RistrettoPoint;
use rand_core::CryptoRng;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::arbiter::{commitments_of, share_is_valid};
use super::validity;
use crate::Error;
use crate::codec::{Decode, Encode, Reader, Writer, decode_exact};
use crate::crypto::dleq;
use crate::crypto::flp::RangeCircuit;
use crate::crypto::pedersen::{self, BatchItem, Generators};
use crate::crypto::{CryptoError, kem};
use crate::dpset::DpSet;
use crate::field::{Accumulator, Field};
use crate::identity::{PartyId, Role, Roster, SecretIdentity};
use crate::round1::{AdmissionGrant, AdmissionRequest, Committee, INDEX_PURPOSE, TOKEN_PURPOSE};
use crate::round2::{SHARE_PURPOSE, ShareDelivery, SharePayload};
use crate::round3::{Complaint, InputSet, VerificationReport};
use crate::round4::{RESULT_PURPOSE, ResultPayload, ResultShare};
use crate::sharing::SecretVec;
use crate::signed::Signed;
use crate::task::{Mode, Task, TaskId};
use crate::wire::seal_context;

/// The purpose a CP seals its own saved state under ([`CpTask::seal_state`]).
pub const STATE_PURPOSE: &str = "cp-state";

/// The purpose of a worker's part of a CP's state, sealed to the CP itself for the group's lead
/// ([`CpTask::seal_part`]).
pub const PART_PURPOSE: &str = "cp-part";

/// Pages of deliveries from this size on are opened on rayon's threads ([`CpTask::receive`]);
/// smaller ones on the caller's, where handing them to rayon would cost more than it saves.
const PARALLEL_OPENS: usize = 4;

/// Boxes per [`kem::open_batch`] call when a long page is opened across rayon's threads.
const OPEN_CHUNK: usize = 64;

/// Algorithm 1, CP side: `token = Enc(cloud, VID)`, a fresh nonce and the CP's clock `now`,
/// signed. The request binds the task id, the VID, the nonce and the timestamp.
pub fn admission_request<R: CryptoRng + ?Sized>(
    identity: &SecretIdentity,
    roster: &Roster,
    task: &TaskId,
    now: u64,
    rng: &mut R,
) -> Signed<AdmissionRequest> {
    let cloud = roster.cloud();
    let context = seal_context(
        TOKEN_PURPOSE,
        task,
        (identity.id(), Role::Cp),
        (&cloud.id, Role::Cloud),
        0,
    );
    let token = kem::seal(
        &cloud.kem_key,
        &context,
        identity.id().as_str().as_bytes(),
        rng,
    );
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let body = AdmissionRequest {
        token,
        nonce,
        timestamp: now,
    };
    Signed::sign(task, identity, body)
}

/// Algorithm 1, CP side: checks the cloud's grant and decrypts the index it assigns.
pub fn read_grant(
    identity: &SecretIdentity,
    roster: &Roster,
    task: &TaskId,
    grant: &Signed<AdmissionGrant>,
) -> Result<u32, Error> {
    grant.verify(task, roster, Role::Cloud)?;
    let cloud = roster.cloud();
    let context = seal_context(
        INDEX_PURPOSE,
        task,
        (&cloud.id, Role::Cloud),
        (identity.id(), Role::Cp),
        0,
    );
    let crypto = |source| Error::Crypto {
        what: "admission grant",
        sender: cloud.id.clone(),
        source,
    };
    let plaintext =
        kem::open(identity.kem_secret(), &context, &grant.body.sealed_index).map_err(crypto)?;
    let bytes: [u8; 4] = plaintext.as_slice().try_into().map_err(|_| {
        crypto(crate::crypto::CryptoError::LengthMismatch {
            expected: 4,
            got: plaintext.len(),
        })
    })?;
    Ok(u32::from_le_bytes(bytes))
}

/// A delivery this CP refused without complaining: the relay (the cloud) is at fault, not the DP.
#[derive(Debug)]
pub struct Rejection {
    /// The DP the delivery claims to come from.
    pub dp: PartyId,
    /// Why it was refused.
    pub error: Error,
}

/// A decrypted, well-formed share, not yet checked against the commitments.
struct Opened<F: Field> {
    dp: PartyId,
    weight: F,
    /// The share of the input (in a fast task that validates inputs, decoded from the bits).
    share: SecretVec<F>,
    blind: Option<F>,
    commitments: Vec<RistrettoPoint>,
    /// The share of the DP's verifier (fast mode, validated inputs).
    verifier: Option<Vec<F>>,
}

/// What a delivery's checks before decryption found: the DP, its weight, its commitments
/// and the context its share was sealed under.
struct Prechecked {
    dp: PartyId,
    weight: i128,
    commitments: Vec<RistrettoPoint>,
    context: Vec<u8>,
    /// The DP's signed core, which a fast task that validates inputs checks the share against.
    core: Option<crate::round2::BundleCore>,
}

/// Why a delivery could not be opened.
enum Fault {
    /// The delivery is not what the DP signed, or not for this CP: refuse it.
    Relay(Error),
    /// The DP's share does not decrypt or parse: complain.
    Dp,
}

/// A CP's state as [`CpTask::seal_state`] and [`CpTask::seal_part`] encode it.
struct SavedState<F: Field> {
    sums: Zeroizing<Vec<F>>,
    blind: F,
    accepted: DpSet,
    complaints: Vec<Complaint>,
    range_complaints: Vec<PartyId>,
    verifiers: Vec<(u64, Vec<F>)>,
}

/// Which part of a task's deliveries one worker of a CP group folds: those whose position in
/// the order of arrival is `worker − 1` modulo `workers` (worker 1 of 1: all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerPart {
    /// This worker, from 1.
    pub worker: u32,
    /// How many workers the CP runs as.
    pub workers: u32,
}

impl WorkerPart {
    /// The whole of the deliveries: a CP that runs as one worker.
    pub const WHOLE: WorkerPart = WorkerPart {
        worker: 1,
        workers: 1,
    };

    /// Part `worker` of `workers`, if `1 ≤ worker ≤ workers`.
    pub fn new(worker: u32, workers: u32) -> Option<WorkerPart> {
        (worker >= 1 && worker <= workers).then_some(WorkerPart { worker, workers })
    }

    /// Whether the bundle at position `pos` belongs to this part.
    pub fn holds(self, pos: u64) -> bool {
        pos % u64::from(self.workers) == u64::from(self.worker - 1)
    }

    /// Whether this worker leads its group (worker 1): it reports and sends the result share.
    pub fn leads(self) -> bool {
        self.worker == 1
    }
}

impl Encode for WorkerPart {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.worker);
        w.u32(self.workers);
    }
}

impl Decode for WorkerPart {
    fn decode(r: &mut Reader<'_>) -> Result<Self, crate::codec::CodecError> {
        let (worker, workers) = (r.u32("worker")?, r.u32("workers")?);
        WorkerPart::new(worker, workers).ok_or(crate::codec::CodecError::InvalidValue {
            what: "worker part",
        })
    }
}

impl std::fmt::Display for WorkerPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.worker, self.workers)
    }
}

/// One CP's state for one task.
pub struct CpTask<F: Field> {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    task: Task,
    committee: Committee,
    index: u32,
    aggregate: Accumulator<F>,
    blind_aggregate: F,
    /// The DPs whose shares are in the aggregate, by their position in the task's list: one bit
    /// a DP (a set of ids cost about 40 bytes a DP in every CP).
    accepted: DpSet,
    complaints: BTreeMap<PartyId, Complaint>,
    /// DPs whose shares verified but whose range proofs did not: left out of the aggregate and
    /// named in the report.
    range_complaints: BTreeSet<PartyId>,
    /// The statement a fast task that validates inputs has its DPs prove.
    circuit: Option<RangeCircuit>,
    /// This CP's verifier shares of the accepted DPs, by position (fast mode, validated inputs).
    verifiers: BTreeMap<u64, Vec<F>>,
}

impl<F: Field> CpTask<F> {
    /// Joins a task as the committee member holding `identity`. Takes the task (with its DP
    /// list, the largest thing a CP holds) rather than a copy of it.
    pub fn new(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        task: Signed<Task>,
        committee: &Signed<Committee>,
    ) -> Result<Self, Error> {
        super::verify_setup_in::<F>(&roster, &task, committee)?;
        let task_body = task.body;
        let dps = task_body.dps;
        let index =
            committee
                .body
                .index_of(identity.id())
                .ok_or_else(|| Error::ProtocolViolation {
                    task: task_body.id,
                    reason: format!("{} is not in the committee", identity.id()),
                })?;
        Ok(CpTask {
            aggregate: Accumulator::new(task_body.dim()),
            identity,
            roster,
            committee: committee.body.clone(),
            index,
            blind_aggregate: F::ZERO,
            accepted: DpSet::empty(dps),
            complaints: BTreeMap::new(),
            range_complaints: BTreeSet::new(),
            circuit: task_body.validity_circuit::<F>(),
            verifiers: BTreeMap::new(),
            task: task_body,
        })
    }

    /// This CP's index (its Shamir evaluation point).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The DPs whose shares are in the aggregate, by position in the task's list.
    pub fn accepted(&self) -> &DpSet {
        &self.accepted
    }

    fn is_accepted(&self, dp: &PartyId) -> bool {
        self.task
            .position_of(dp)
            .is_some_and(|i| self.accepted.contains(i as u64))
    }

    /// Marks `dp` accepted (`true`) or not; returns whether it was. A DP the task does not list
    /// is never accepted (`open` refuses its share first).
    fn set_accepted(&mut self, dp: &PartyId, accepted: bool) -> bool {
        match self.task.position_of(dp) {
            Some(i) => self.accepted.set(i as u64, accepted),
            None => false,
        }
    }

    /// Decrypts and checks a batch of deliveries, aggregates the valid shares and files complaints
    /// about the invalid ones. Returns the deliveries refused as relay faults.
    ///
    /// Deliveries are opened (signature, digest, decryption, decoding) in parallel on rayon's
    /// threads; the verdicts are those of opening them one after the other. A second delivery
    /// from the same DP, in this batch or an earlier one, is refused.
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        deliveries: &[ShareDelivery],
        gens: Option<&Generators>,
        rng: &mut R,
    ) -> Vec<Rejection> {
        let admitted = self.admit(deliveries);
        let signatures_valid = self.signatures_valid(&admitted, rng);
        let outcomes = self.open_page(admitted, signatures_valid);
        let mut rejections = Vec::new();
        let mut opened = Vec::new();
        let mut opened_from = Vec::new();
        for (delivery, outcome) in deliveries.iter().zip(outcomes) {
            match outcome {
                Ok(o) => {
                    opened.push(o);
                    opened_from.push(delivery);
                }
                Err(Fault::Relay(error)) => rejections.push(Rejection {
                    dp: delivery.core.signer.clone(),
                    error,
                }),
                Err(Fault::Dp) => self.complain(delivery, rng),
            }
        }
        let invalid = self.invalid_shares(&opened, gens, rng);
        let out_of_range = self.invalid_range_proofs(&opened, &opened_from, &invalid, gens);
        let mut valid = Vec::with_capacity(opened.len());
        for (i, (o, delivery)) in opened.into_iter().zip(opened_from).enumerate() {
            if invalid.contains(&i) {
                self.complain(delivery, rng);
            } else if out_of_range.contains(&i) {
                self.range_complaints.insert(o.dp.clone());
            } else {
                valid.push(o);
            }
        }
        self.add_all(valid);
        rejections
    }

    /// Positions in `opened` (among those not in `invalid`) whose range proofs fail, for a task
    /// that validates inputs: one batched check of the page's proofs.
    fn invalid_range_proofs(
        &self,
        opened: &[Opened<F>],
        from: &[&ShareDelivery],
        invalid: &BTreeSet<usize>,
        gens: Option<&Generators>,
    ) -> BTreeSet<usize> {
        let (Some(bound), Some(gens)) = (self.task.range_bound(), gens) else {
            return BTreeSet::new();
        };
        let checked: Vec<usize> = (0..opened.len()).filter(|i| !invalid.contains(i)).collect();
        let cores: Vec<(&PartyId, &crate::round2::BundleCore)> = checked
            .iter()
            .map(|&i| (&opened[i].dp, &from[i].core.body))
            .collect();
        let verdicts = super::range_proofs_valid(&self.task, &bound, gens, &cores);
        checked
            .into_iter()
            .zip(verdicts)
            .filter_map(|(i, valid)| (!valid).then_some(i))
            .collect()
    }

    /// Fault injection: names `dp`'s range proof invalid whatever it is (a false complaint the
    /// cloud will reject, naming this CP).
    pub fn range_complain(&mut self, dp: &PartyId) {
        self.range_complaints.insert(dp.clone());
    }

    /// Fault injection: adds 1 to this CP's verifier share of `dp`'s proof (fast mode, validated
    /// inputs), as a CP would that tries to get an honest DP excluded.
    pub fn alter_verifier(&mut self, dp: &PartyId) {
        let position = self.task.position_of(dp).map(|i| i as u64);
        if let Some(v) = position.and_then(|i| self.verifiers.get_mut(&i))
            && let Some(first) = v.first_mut()
        {
            *first += F::ONE;
        }
    }

    /// The checks of a batch that depend on this CP's state and on the order of the deliveries:
    /// the index, and that no DP delivers twice. Each delivery that passes is returned for
    /// [`CpTask::open`].
    fn admit<'d>(&self, deliveries: &'d [ShareDelivery]) -> Vec<Result<&'d ShareDelivery, Fault>> {
        let mut seen = BTreeSet::new();
        deliveries
            .iter()
            .map(|delivery| {
                let dp = &delivery.core.signer;
                if delivery.index != self.index {
                    return Err(self.relay_fault(format!("delivery for index {}", delivery.index)));
                }
                let known = self.is_accepted(dp)
                    || self.complaints.contains_key(dp)
                    || self.range_complaints.contains(dp);
                if known || !seen.insert(dp) {
                    return Err(self.relay_fault(format!("second delivery from {dp}")));
                }
                Ok(delivery)
            })
            .collect()
    }

    fn relay_fault(&self, reason: String) -> Fault {
        Fault::Relay(self.violation(reason))
    }

    /// Positions in `opened` of shares that fail the commitment check (verifiable mode): one
    /// batched check, bisected only if it fails.
    fn invalid_shares<R: CryptoRng + ?Sized>(
        &self,
        opened: &[Opened<F>],
        gens: Option<&Generators>,
        rng: &mut R,
    ) -> BTreeSet<usize> {
        let (Mode::Verifiable, Some(gens)) = (self.task.params.mode, gens) else {
            return BTreeSet::new();
        };
        let items: Option<Vec<BatchItem<'_>>> = opened
            .iter()
            .map(|o| {
                Some(BatchItem {
                    commitments: &o.commitments,
                    share: F::as_ristretto(&o.share)?,
                    blind: F::as_ristretto(std::slice::from_ref(o.blind.as_ref()?))?[0],
                })
            })
            .collect();
        let Some(items) = items else {
            return (0..opened.len()).collect();
        };
        let x = u64::from(self.index);
        match pedersen::verify_batch(gens, x, &items, rng) {
            Ok(true) => BTreeSet::new(),
            _ => pedersen::find_invalid(gens, x, &items, rng)
                .map(|v| v.into_iter().collect())
                .unwrap_or_else(|_| (0..opened.len()).collect()),
        }
    }

    fn share_context(&self, dp: &PartyId) -> Vec<u8> {
        seal_context(
            SHARE_PURPOSE,
            &self.task.id,
            (dp, Role::Dp),
            (self.identity.id(), Role::Cp),
            self.index,
        )
    }

    /// Whether the DPs' signatures on every admitted delivery are valid, in one batch check. When
    /// it is `false` (some signature is bad), [`CpTask::open`] checks each one alone and names the
    /// failures; the rule is the same either way ([`crate::crypto::signature`]).
    fn signatures_valid<R: CryptoRng + ?Sized>(
        &self,
        admitted: &[Result<&ShareDelivery, Fault>],
        rng: &mut R,
    ) -> bool {
        let cores: Vec<_> = admitted
            .iter()
            .filter_map(|a| a.as_ref().ok().map(|d| &d.core))
            .collect();
        Signed::verify_all(&cores, &self.task.id, &self.task, Role::Dp, rng)
    }

    /// Checks one delivery and decrypts its share. The caller has checked the index and that the
    /// DP has not delivered before ([`CpTask::admit`]), and says whether the DP's signature is
    /// already known to be valid ([`CpTask::signatures_valid`]).
    fn open(&self, delivery: &ShareDelivery, signature_valid: bool) -> Result<Opened<F>, Fault> {
        let checked = self.precheck(delivery, signature_valid)?;
        let plaintext = kem::open(
            self.identity.kem_secret(),
            &checked.context,
            &delivery.share,
        );
        self.parse(checked, plaintext)
    }

    /// Opens a page's deliveries as [`CpTask::open`] would one by one, with the KEM openings of
    /// those that pass the checks done together (see [`kem::open_batch`]), in chunks across
    /// rayon's threads for a long page.
    fn open_page<'d>(
        &self,
        admitted: Vec<Result<&'d ShareDelivery, Fault>>,
        signatures_valid: bool,
    ) -> Vec<Result<Opened<F>, Fault>> {
        let parallel = admitted.len() >= PARALLEL_OPENS;
        let precheck = |a: Result<&'d ShareDelivery, Fault>| {
            a.and_then(|d| Ok((d, self.precheck(d, signatures_valid)?)))
        };
        let checked: Vec<Result<(&'d ShareDelivery, Prechecked), Fault>> = match parallel {
            true => admitted.into_par_iter().map(precheck).collect(),
            false => admitted.into_iter().map(precheck).collect(),
        };
        let boxes: Vec<(&[u8], &kem::SealedBox)> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok())
            .map(|(d, c)| (c.context.as_slice(), &d.share))
            .collect();
        let sk = self.identity.kem_secret();
        let plaintexts: Vec<_> = match parallel {
            true => boxes
                .par_chunks(OPEN_CHUNK)
                .flat_map_iter(|chunk| kem::open_batch(sk, chunk))
                .collect(),
            false => kem::open_batch(sk, &boxes),
        };
        let mut plaintexts = plaintexts.into_iter();
        let pairs: Vec<_> = checked
            .into_iter()
            .map(|c| c.map(|(_, c)| (c, plaintexts.next())))
            .collect();
        let parse = |c: Result<(Prechecked, Option<_>), Fault>| {
            let (checked, plaintext) = c?;
            let plaintext = plaintext.unwrap_or(Err(CryptoError::DecryptionFailed));
            self.parse(checked, plaintext)
        };
        match parallel {
            true => pairs.into_par_iter().map(parse).collect(),
            false => pairs.into_iter().map(parse).collect(),
        }
    }

    /// The checks of a delivery before its share is decrypted: a DP of the task, the signature
    /// (unless the page's batch check passed), the digest, the commitments.
    fn precheck(
        &self,
        delivery: &ShareDelivery,
        signature_valid: bool,
    ) -> Result<Prechecked, Fault> {
        let dp = delivery.core.signer.clone();
        let relay = |reason: String| self.relay_fault(reason);
        let weight = self
            .task
            .weight_of(&dp)
            .ok_or_else(|| relay(format!("{dp} is not a data provider of this task")))?;
        if !signature_valid {
            delivery
                .core
                .verify(&self.task.id, &self.task, Role::Dp)
                .map_err(Fault::Relay)?;
        }
        if !delivery.digest_matches() {
            return Err(relay(format!(
                "share from {dp} does not match its signed digest"
            )));
        }
        let commitments = match self.task.params.mode {
            Mode::Verifiable => commitments_of(&delivery.core.body, self.task.params.t)
                .ok_or_else(|| relay(format!("malformed commitments from {dp}")))?,
            Mode::Fast => Vec::new(),
        };
        let context = self.share_context(&dp);
        Ok(Prechecked {
            dp,
            weight,
            commitments,
            context,
            core: self.circuit.map(|_| delivery.core.body.clone()),
        })
    }

    /// The decrypted share of a delivery that passed [`CpTask::precheck`], parsed and expanded.
    fn parse(
        &self,
        checked: Prechecked,
        plaintext: Result<Zeroizing<Vec<u8>>, CryptoError>,
    ) -> Result<Opened<F>, Fault> {
        let plaintext = plaintext.map_err(|_| Fault::Dp)?;
        let payload = SharePayload::<F>::from_bytes(&plaintext, self.task.share_len::<F>())
            .map_err(|_| Fault::Dp)?;
        if !share_is_valid_shape(&self.task, &payload) {
            return Err(Fault::Dp);
        }
        let weight = self
            .task
            .plan
            .encode_weight::<F>(checked.weight)
            .map_err(Fault::Relay)?;
        if let (Some(circuit), Some(core)) = (&self.circuit, &checked.core) {
            let opened =
                validity::check_share(&self.task, circuit, &checked.dp, core, self.index, &payload)
                    .ok_or(Fault::Dp)?;
            return Ok(Opened {
                dp: checked.dp,
                weight,
                share: SecretVec::from_vec(opened.input),
                blind: None,
                commitments: Vec::new(),
                verifier: Some(opened.verifier),
            });
        }
        let share = crate::sharing::Share {
            id: self.index,
            value: payload.share,
        }
        .expand(self.task.dim())
        .map_err(|_| Fault::Dp)?;
        Ok(Opened {
            dp: checked.dp,
            weight,
            share,
            blind: payload.blind,
            commitments: checked.commitments,
            verifier: None,
        })
    }

    fn add(&mut self, o: Opened<F>) {
        self.add_all(vec![o]);
    }

    /// Folds valid shares into the aggregate, the elements split across rayon's threads.
    fn add_all(&mut self, valid: Vec<Opened<F>>) {
        let terms: Vec<(F, &[F])> = valid.iter().map(|o| (o.weight, &o.share[..])).collect();
        self.aggregate.add_scaled_all(&terms);
        for o in valid {
            if let Some(b) = o.blind {
                self.blind_aggregate += o.weight * b;
            }
            if let (Some(v), Some(i)) = (o.verifier, self.task.position_of(&o.dp)) {
                self.verifiers.insert(i as u64, v);
            }
            self.set_accepted(&o.dp, true);
        }
    }

    fn remove(&mut self, o: Opened<F>) {
        self.aggregate.add_scaled(-o.weight, &o.share);
        if let Some(b) = o.blind {
            self.blind_aggregate -= o.weight * b;
        }
        if let Some(i) = self.task.position_of(&o.dp) {
            self.verifiers.remove(&(i as u64));
        }
        self.set_accepted(&o.dp, false);
    }

    /// Files a complaint about `delivery`'s share: reveals its KEM shared secret with a DLEQ proof.
    pub fn complain<R: CryptoRng + ?Sized>(&mut self, delivery: &ShareDelivery, rng: &mut R) {
        let dp = delivery.core.signer.clone();
        let context = self.share_context(&dp);
        // A malformed ephemeral key cannot be proven about; an all-zero secret and proof make a
        // complaint the arbiter rejects, which names this CP. That cannot happen with a digest
        // that matched, since the cloud checks the bundle's points.
        let (shared, proof) = dleq::prove(
            self.identity.kem_secret(),
            &delivery.share.ephemeral,
            &context,
            rng,
        )
        .map(|(s, p)| (s.to_bytes(), p.to_bytes()))
        .unwrap_or(([0; 32], [0; 64]));
        self.complaints.insert(
            dp.clone(),
            Complaint {
                dp,
                index: self.index,
                shared_secret: shared,
                proof,
            },
        );
    }

    /// The signed report of what this CP accepted and complained about.
    pub fn report(&self) -> Signed<VerificationReport> {
        let body = VerificationReport {
            index: self.index,
            accepted: self.accepted.clone(),
            complaints: self.complaints.values().cloned().collect(),
            range_complaints: self.range_complaints.iter().cloned().collect(),
            verifiers: self.encoded_verifiers(),
        };
        Signed::sign(&self.task.id, &self.identity, body)
    }

    /// The verifier shares of the accepted DPs, for the report (empty unless the task is fast
    /// and validates inputs).
    fn encoded_verifiers(&self) -> Vec<u8> {
        if self.circuit.is_none() {
            return Vec::new();
        }
        let entries: Vec<(u64, &[F])> = self
            .verifiers
            .iter()
            .filter(|(i, _)| self.accepted.contains(**i))
            .map(|(i, v)| (*i, v.as_slice()))
            .collect();
        validity::encode_verifiers(&entries)
    }

    /// The DPs whose deliveries [`CpTask::finish`] needs again: accepted but not in the input set,
    /// or in the input set but not accepted.
    pub fn needs_redelivery(&self, input_set: &InputSet) -> Vec<PartyId> {
        let missing = input_set.included.difference(&self.accepted);
        let extra = self.accepted.difference(&input_set.included);
        let mut both: Vec<PartyId> = missing
            .chain(extra)
            .filter_map(|i| self.task.listed_id(i))
            .cloned()
            .collect();
        both.sort();
        both
    }

    /// Aligns the aggregate with the signed input set (using `redeliveries` for the DPs named by
    /// [`CpTask::needs_redelivery`]) and returns the result share.
    pub fn finish(
        &mut self,
        input_set: &Signed<InputSet>,
        redeliveries: &[ShareDelivery],
        gens: Option<&Generators>,
    ) -> Result<ResultPayload<F>, Error> {
        input_set.verify(&self.task.id, &self.roster, Role::Cloud)?;
        super::check_set_len(&self.task, &input_set.body.included, "input set")?;
        for dp in self.needs_redelivery(&input_set.body) {
            let include = self
                .task
                .position_of(&dp)
                .is_some_and(|i| input_set.body.included.contains(i as u64));
            self.complaints.remove(&dp);
            self.range_complaints.remove(&dp);
            let was_accepted = self.set_accepted(&dp, false);
            let opened = redeliveries
                .iter()
                .find(|d| d.core.signer == dp)
                .ok_or_else(|| {
                    self.violation(format!("no delivery from {dp} to correct the aggregate"))
                })
                .and_then(|d| {
                    self.open(d, false)
                        .map_err(|_| self.violation(format!("the share of {dp} does not open")))
                })?;
            if include {
                self.check_single(&dp, &opened, redeliveries, gens)?;
                self.add(opened);
            } else if was_accepted {
                self.set_accepted(&dp, true);
                self.remove(opened);
            }
        }
        Ok(ResultPayload {
            sum: SecretVec::from_vec(self.aggregate.sums().to_vec()),
            blind: (self.task.params.mode == Mode::Verifiable).then_some(self.blind_aggregate),
        })
    }

    fn check_single(
        &self,
        dp: &PartyId,
        opened: &Opened<F>,
        redeliveries: &[ShareDelivery],
        gens: Option<&Generators>,
    ) -> Result<(), Error> {
        // In fast mode opening the share checked all there is to check.
        if self.task.params.mode == Mode::Fast {
            return Ok(());
        }
        let delivery = redeliveries.iter().find(|d| &d.core.signer == dp);
        let payload = SharePayload {
            share: crate::sharing::ShareValue::Explicit(opened.share.clone()),
            blind: opened.blind,
            validity: None,
        };
        let valid = delivery.is_some_and(|d| {
            share_is_valid(&self.task, dp, &d.core.body, self.index, &payload, gens)
        });
        if !valid {
            return Err(self.violation(format!(
                "the input set includes {dp}, whose share to this CP is invalid"
            )));
        }
        Ok(())
    }

    fn violation(&self, reason: String) -> Error {
        Error::ProtocolViolation {
            task: self.task.id,
            reason,
        }
    }

    /// Seals `payload` to the edge and signs it.
    pub fn seal_result<R: CryptoRng + ?Sized>(
        &self,
        payload: &ResultPayload<F>,
        rng: &mut R,
    ) -> Signed<ResultShare> {
        let edge = self.roster.edge();
        let context = seal_context(
            RESULT_PURPOSE,
            &self.task.id,
            (self.identity.id(), Role::Cp),
            (&edge.id, Role::Edge),
            self.index,
        );
        let sealed = kem::seal(&edge.kem_key, &context, &payload.to_secret_bytes(), rng);
        let body = ResultShare {
            index: self.index,
            sealed,
        };
        Signed::sign(&self.task.id, &self.identity, body)
    }

    /// The committee this CP belongs to.
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// This CP's state of the task — the running aggregate, the accepted DPs and the complaints
    /// — encoded and sealed to the CP's own KEM key under a context naming the task and its
    /// index, so a CP can keep it on disk ([`CpTask::resume`] reads it back after a crash)
    /// without the aggregate share being readable there by anyone without the CP's key.
    pub fn seal_state<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Vec<u8> {
        let plaintext = self.encode_state();
        let own = self.identity.card();
        kem::seal(&own.kem_key, &self.state_context(), &plaintext, rng).to_bytes()
    }

    /// The state of a worker that folded `part` of the deliveries (see [`WorkerPart`]), sealed
    /// to the CP's own key under a context naming the task, the index and the part, for the
    /// group's lead to [`CpTask::absorb_part`]: whoever carries it (the cloud) reads nothing,
    /// and cannot pass it off as another part.
    pub fn seal_part<R: CryptoRng + ?Sized>(&mut self, part: WorkerPart, rng: &mut R) -> Vec<u8> {
        let plaintext = self.encode_state();
        let own = self.identity.card();
        kem::seal(&own.kem_key, &self.part_context(part), &plaintext, rng).to_bytes()
    }

    /// Adds what another worker of this CP folded (its [`CpTask::seal_part`] of `part`) to this
    /// CP's state: the aggregates add up (the aggregate is linear), the accepted DPs, complaints
    /// and verifier shares join. Refuses a part sealed for another task, CP or part, altered,
    /// or overlapping what this state holds (a DP counted twice would be a wrong result).
    pub fn absorb_part(&mut self, part: WorkerPart, sealed: &[u8]) -> Result<(), Error> {
        let context = self.part_context(part);
        let state = self.open_state(sealed, &context, &format!("part {part}"))?;
        if let Some(both) = state.accepted.iter().find(|&i| self.accepted.contains(i)) {
            let dp = self
                .task
                .listed_id(both)
                .map_or_else(|| format!("position {both}"), ToString::to_string);
            return Err(self.violation(format!(
                "part {part} overlaps this CP's state: both accepted {dp}"
            )));
        }
        self.aggregate.add_scaled(F::ONE, &state.sums);
        self.blind_aggregate += state.blind;
        for i in state.accepted.iter() {
            self.accepted.insert(i);
        }
        for c in state.complaints {
            self.complaints.insert(c.dp.clone(), c);
        }
        self.range_complaints.extend(state.range_complaints);
        self.verifiers.extend(state.verifiers);
        Ok(())
    }

    /// This CP's state, encoded (in memory that is wiped on drop).
    fn encode_state(&mut self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.field_elements(self.aggregate.sums());
        w.field_element(&self.blind_aggregate);
        self.accepted.encode(&mut w);
        w.list(
            &self.complaints.values().cloned().collect::<Vec<_>>(),
            |w, c| c.encode(w),
        );
        w.list(
            &self.range_complaints.iter().cloned().collect::<Vec<_>>(),
            |w, dp| dp.encode(w),
        );
        let verifiers: Vec<(u64, &[F])> = self
            .verifiers
            .iter()
            .map(|(i, v)| (*i, v.as_slice()))
            .collect();
        w.bytes(&validity::encode_verifiers(&verifiers));
        Zeroizing::new(w.into_bytes())
    }

    /// Opens and decodes a state sealed under `context`; `what` names it in errors.
    fn open_state(
        &self,
        sealed: &[u8],
        context: &[u8],
        what: &str,
    ) -> Result<SavedState<F>, Error> {
        let bad = |how: &str| self.violation(format!("the {what} of this CP {how}"));
        let sealed: kem::SealedBox =
            decode_exact(sealed).map_err(|e| bad(&format!("does not decode: {e}")))?;
        let plaintext = kem::open(self.identity.kem_secret(), context, &sealed)
            .map_err(|_| bad("does not open (altered, or sealed for another task or CP)"))?;
        let mut r = Reader::new(&plaintext);
        let verifier_len = self.circuit.map_or(0, |c| c.verifier_len());
        let mut read = || -> Result<_, crate::codec::CodecError> {
            let state = SavedState {
                sums: Zeroizing::new(r.field_elements::<F>("aggregate")?),
                blind: r.field_element::<F>("blind aggregate")?,
                accepted: DpSet::decode(&mut r)?,
                complaints: r.list("complaints", 4 + 32 + 64, Complaint::decode)?,
                range_complaints: r.list("range complaints", 2, PartyId::decode)?,
                verifiers: validity::decode_verifiers::<F>(r.bytes("verifiers")?, verifier_len)?,
            };
            r.finish()?;
            Ok(state)
        };
        let state = read().map_err(|e| bad(&format!("is malformed: {e}")))?;
        if state.sums.len() != self.task.dim() || state.accepted.list_len() != self.task.dps {
            return Err(bad("has the wrong length for this task"));
        }
        Ok(state)
    }

    /// The CP of `identity` back in `task` with the state [`CpTask::seal_state`] sealed. Refuses
    /// state sealed for another task, index or CP, or altered, with an error naming the task.
    pub fn resume(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        task: Signed<Task>,
        committee: &Signed<Committee>,
        sealed: &[u8],
    ) -> Result<Self, Error> {
        let mut cp = CpTask::new(identity, roster, task, committee)?;
        let state = cp.open_state(sealed, &cp.state_context(), "saved state")?;
        cp.aggregate.add_scaled(F::ONE, &state.sums);
        cp.blind_aggregate = state.blind;
        cp.accepted = state.accepted;
        cp.complaints = state
            .complaints
            .into_iter()
            .map(|c| (c.dp.clone(), c))
            .collect();
        cp.range_complaints = state.range_complaints.into_iter().collect();
        cp.verifiers = state.verifiers.into_iter().collect();
        Ok(cp)
    }

    fn part_context(&self, part: WorkerPart) -> Vec<u8> {
        let me = (self.identity.id(), Role::Cp);
        let mut context = seal_context(PART_PURPOSE, &self.task.id, me, me, self.index);
        context.extend(part.worker.to_le_bytes());
        context.extend(part.workers.to_le_bytes());
        context
    }

    fn state_context(&self) -> Vec<u8> {
        let me = (self.identity.id(), Role::Cp);
        seal_context(STATE_PURPOSE, &self.task.id, me, me, self.index)
    }
}

/// Verifiable mode needs an explicit share and a blinding share; fast mode no blinding share,
/// and a proof share exactly when the task validates inputs.
fn share_is_valid_shape<F: Field>(task: &Task, payload: &SharePayload<F>) -> bool {
    match task.params.mode {
        Mode::Verifiable => {
            matches!(payload.share, crate::sharing::ShareValue::Explicit(_))
                && payload.blind.is_some()
                && payload.validity.is_none()
        }
        Mode::Fast => payload.blind.is_none() && payload.validity.is_some() == task.params.validate,
    }
}
