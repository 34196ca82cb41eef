//! The whole protocol in one thread: every role, every message round-tripped through the wire
//! codec, and faults injected on request. Tests and benchmarks use it; the networked roles run the
//! same state machines over sockets.
//!
//! ```
//! use dsmpc_core::harness::{Scenario, run_task};
//! use dsmpc_core::task::{Function, Mode};
//!
//! let scenario = Scenario::new(Function::WeightedSum, Mode::Verifiable, 3, 2)
//!     .with_inputs(vec![vec![5], vec![-7], vec![11]], vec![1, 2, 3]);
//! let outcome = run_task(&scenario, &mut dsmpc_core::rng::os_rng()).unwrap();
//! assert_eq!(outcome.result.sums, vec![5 - 14 + 33]);
//! assert_eq!(outcome.result.sums, scenario.expected(&outcome.included));
//! assert_eq!(outcome.result.included.count(), 3);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use rand_core::CryptoRng;

use crate::codec::Encode;
use crate::crypto::pedersen::Generators;
use crate::encoding::{Encoding, InputRange};
use crate::field::Field;
use crate::identity::{PartyId, Role, Roster, SecretIdentity};
use crate::roles::cloud::{Cloud, DEFAULT_ADMISSION_WINDOW};
use crate::roles::cp::{CpTask, admission_request, read_grant};
use crate::roles::dp::Dp;
use crate::roles::edge::EdgeTask;
use crate::round1::Committee;
use crate::round2::{Bundle, share_digest};
use crate::round4::TaskResult;
use crate::sharing::ShareValue;
use crate::signed::Signed;
use crate::task::{DpKey, Function, Mode, Task, TaskId, TaskParams};
use crate::wire::{Envelope, Message};
use crate::{Error, with_field};

/// Faults to inject. CP numbers are committee indices (1..=n); DP numbers are positions in
/// [`Scenario::inputs`] (1-based, so DP 1 is `dp1`).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// CPs that die right after admission: no report, no result share.
    pub drop_cps: Vec<u32>,
    /// DPs whose bundle upload is cut off halfway (the cloud receives a truncated frame).
    pub drop_dps: Vec<usize>,
    /// CPs that return a wrong result share.
    pub cheat_cps: Vec<u32>,
    /// (DP, CP): the DP sends that CP a share inconsistent with its commitments.
    pub cheat_dps: Vec<(usize, u32)>,
    /// (CP, DP): the CP complains about the DP's valid share.
    pub false_complaints: Vec<(u32, usize)>,
    /// (DP, CP): the DP seals garbage that does not decrypt to that CP (and signs it).
    pub garbage_dps: Vec<(usize, u32)>,
    /// (DP, forgery): the DP shares its input although it is outside the range, with this
    /// forgery instead of a range proof (a validating task).
    pub out_of_range_dps: Vec<(usize, crate::roles::dp::Forgery)>,
    /// (CP, DP): the CP claims the DP's valid range proof is invalid.
    pub false_range_complaints: Vec<(u32, usize)>,
    /// (CP, DP): the CP alters its verifier share of the DP's fully linear proof (fast mode,
    /// validated inputs), trying to get an honest DP excluded.
    pub false_verifier_cps: Vec<(u32, usize)>,
}

/// One task to run: parameters, inputs and faults.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The function.
    pub function: Function,
    /// Verifiable or fast.
    pub mode: Mode,
    /// Committee size.
    pub n: u32,
    /// Threshold.
    pub t: u32,
    /// Additive n-of-n sharing (fast mode, t = n).
    pub additive: bool,
    /// Decimal places of inputs.
    pub input_scale: u32,
    /// Decimal places of weights.
    pub weight_scale: u32,
    /// Declared input range (mantissas).
    pub range: (i128, i128),
    /// One input vector (mantissas) per DP; all of one length.
    pub inputs: Vec<Vec<i128>>,
    /// One weight mantissa per DP.
    pub weights: Vec<i128>,
    /// Whether DPs prove their inputs inside `range` (range proofs; scalar, verifiable).
    pub validate: bool,
    /// Faults to inject.
    pub faults: Faults,
}

impl Scenario {
    /// A scenario with three DPs of scalar input 1 and weight 1, range ±1000.
    pub fn new(function: Function, mode: Mode, n: u32, t: u32) -> Scenario {
        Scenario {
            function,
            mode,
            n,
            t,
            additive: false,
            input_scale: 0,
            weight_scale: 0,
            range: (-1000, 1000),
            inputs: vec![vec![1]; 3],
            weights: vec![1; 3],
            validate: false,
            faults: Faults::default(),
        }
    }

    /// Replaces inputs and weights.
    pub fn with_inputs(mut self, inputs: Vec<Vec<i128>>, weights: Vec<i128>) -> Scenario {
        self.inputs = inputs;
        self.weights = weights;
        self
    }

    /// The DP id for position `k` (1-based).
    pub fn dp_id(k: usize) -> PartyId {
        PartyId::new(&format!("dp{k}")).expect("valid id")
    }

    /// The plaintext `Σ w_u·x_u` over `included`, computed directly from the inputs.
    pub fn expected(&self, included: &[PartyId]) -> Vec<i128> {
        let dim = self.inputs.first().map_or(0, Vec::len);
        let mut sums = vec![0i128; dim];
        for (k, (x, w)) in self.inputs.iter().zip(&self.weights).enumerate() {
            if included.contains(&Scenario::dp_id(k + 1)) {
                for (s, v) in sums.iter_mut().zip(x) {
                    *s += w * v;
                }
            }
        }
        sums
    }

    fn params(&self) -> TaskParams {
        let mut weights: Vec<(PartyId, i128)> = self
            .weights
            .iter()
            .enumerate()
            .map(|(k, &w)| (Scenario::dp_id(k + 1), w))
            .collect();
        weights.sort();
        TaskParams {
            function: self.function,
            dim: self.inputs.first().map_or(0, Vec::len) as u32,
            encoding: Encoding::Exact {
                input_scale: self.input_scale,
                weight_scale: self.weight_scale,
                range: InputRange {
                    min: self.range.0,
                    max: self.range.1,
                },
            },
            weights,
            n: self.n,
            t: self.t,
            additive: self.additive,
            mode: self.mode,
            admission_deadline: 0,
            submission_deadline: 0,
            validate: self.validate,
        }
    }
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The edge's signed result, as every party received it.
    pub result: TaskResult,
    /// The DPs the result includes, by id (the result names them by list position).
    pub included: Vec<PartyId>,
    /// The DPs of the task it leaves out, by id.
    pub excluded: Vec<PartyId>,
    /// Bytes on the wire per message kind.
    pub bytes: BTreeMap<&'static str, usize>,
    /// The first envelope of each kind, as encoded: test vectors.
    pub samples: BTreeMap<&'static str, Vec<u8>>,
}

/// The in-memory network: encodes and decodes every message and counts bytes.
#[derive(Default)]
struct Wire {
    bytes: BTreeMap<&'static str, usize>,
    samples: BTreeMap<&'static str, Vec<u8>>,
}

impl Wire {
    fn send(&mut self, task: TaskId, sender: &PartyId, message: Message) -> Result<Message, Error> {
        let bytes = self.encode(task, sender, message);
        Ok(Envelope::from_bytes(&bytes)?.message)
    }

    fn encode(&mut self, task: TaskId, sender: &PartyId, message: Message) -> Vec<u8> {
        let kind = message.kind();
        let bytes = Envelope {
            task,
            sender: sender.clone(),
            message,
        }
        .to_bytes();
        *self.bytes.entry(kind).or_default() += bytes.len();
        self.samples.entry(kind).or_insert_with(|| bytes.clone());
        bytes
    }
}

/// Everyone's keys and the roster: `cloud`, `edge`, `cp1..cpn`, `dp1..dpN`.
pub struct Parties {
    /// The roster of every card below.
    pub roster: Arc<Roster>,
    /// The cloud's keys.
    pub cloud: Arc<SecretIdentity>,
    /// The edge's keys.
    pub edge: Arc<SecretIdentity>,
    /// The CPs' keys, cp1 first.
    pub cps: Vec<Arc<SecretIdentity>>,
    /// The DPs' keys, dp1 first.
    pub dps: Vec<Arc<SecretIdentity>>,
}

/// The state a run starts sharing from: keys, the cloud, the signed task, the admitted committee
/// and (verifiable mode) the Pedersen generators. Benchmarks drive the roles from here.
pub struct World {
    /// Everyone's keys.
    pub parties: Parties,
    /// The cloud, holding the task.
    pub cloud: Cloud,
    /// The signed task.
    pub task: Signed<Task>,
    /// The signed committee.
    pub committee: Signed<Committee>,
    /// Generators for the task's dimension (verifiable mode).
    pub gens: Option<Generators>,
}

impl World {
    /// Generates keys, creates the task and admits the committee.
    pub fn new<R: CryptoRng + ?Sized>(scenario: &Scenario, rng: &mut R) -> Result<World, Error> {
        World::build(scenario, &mut Wire::default(), rng)
    }

    fn build<R: CryptoRng + ?Sized>(
        scenario: &Scenario,
        wire: &mut Wire,
        rng: &mut R,
    ) -> Result<World, Error> {
        let parties = Parties::generate(scenario.n, scenario.inputs.len(), rng);
        let mut cloud = Cloud::new(
            parties.cloud.clone(),
            parties.roster.clone(),
            DEFAULT_ADMISSION_WINDOW,
        );
        let params = scenario.params();
        let keys = parties.dp_keys(&params.weights);
        let task = cloud.create_task(params, keys, rng)?;
        let id = task.body.id;
        let listed = task.body.listed_dps(0, usize::MAX);
        let mut task = match wire.send(id, parties.cloud.id(), Message::Task(task.header()))? {
            Message::Task(t) => t,
            _ => unreachable!("the codec preserves the kind"),
        };
        // The signed task is a header; the parties that need the list fetch it and check it
        // against the header's Merkle root (DPs check their own entries, below).
        task.body.attach_dp_list(listed)?;
        let gens =
            match scenario.mode {
                Mode::Verifiable => Some(Generators::derive(task.body.dim()).map_err(|e| {
                    Error::InvalidParameters {
                        reason: e.to_string(),
                    }
                })?),
                Mode::Fast => None,
            };
        let committee = admit_all(&mut cloud, &parties, &task, wire, rng)?;
        Ok(World {
            parties,
            cloud,
            task,
            committee,
            gens,
        })
    }
}

impl Parties {
    fn generate<R: CryptoRng + ?Sized>(cps: u32, dps: usize, rng: &mut R) -> Parties {
        let mut make = |name: String, role| {
            Arc::new(SecretIdentity::generate(
                PartyId::new(&name).expect("valid id"),
                role,
                rng,
            ))
        };
        let cloud = make("cloud".into(), Role::Cloud);
        let edge = make("edge".into(), Role::Edge);
        let cps: Vec<_> = (1..=cps)
            .map(|i| make(format!("cp{i}"), Role::Cp))
            .collect();
        let dps: Vec<_> = (1..=dps)
            .map(|k| make(format!("dp{k}"), Role::Dp))
            .collect();
        let cards = [&cloud, &edge]
            .into_iter()
            .chain(&cps)
            .map(|p| p.card().clone());
        let roster = Arc::new(Roster::new(cards).expect("distinct ids"));
        Parties {
            roster,
            cloud,
            edge,
            cps,
            dps,
        }
    }
}

impl Parties {
    /// The verifying keys of the DPs listed in `weights`, in that order (what the cloud's
    /// registry would give).
    fn dp_keys(&self, weights: &[(PartyId, i128)]) -> Vec<DpKey> {
        let keys: BTreeMap<&PartyId, DpKey> = self
            .dps
            .iter()
            .map(|dp| (dp.id(), dp.card().verifying_key.to_bytes()))
            .collect();
        weights
            .iter()
            .map(|(id, _)| keys.get(id).copied().unwrap_or([0; 32]))
            .collect()
    }
}

/// Runs `scenario` end to end.
pub fn run_task<R: CryptoRng + ?Sized>(scenario: &Scenario, rng: &mut R) -> Result<Outcome, Error> {
    let (plan, _) = Task::validate(&scenario.params())?;
    with_field!(plan.field, F => run_in::<F, R>(scenario, rng))
}

fn run_in<F: Field, R: CryptoRng + ?Sized>(
    scenario: &Scenario,
    rng: &mut R,
) -> Result<Outcome, Error> {
    let mut wire = Wire::default();
    let World {
        parties,
        mut cloud,
        task,
        committee,
        gens,
    } = World::build(scenario, &mut wire, rng)?;
    let id = task.body.id;
    let gens = gens.as_ref();
    submit_all::<F, R>(
        &mut cloud, &parties, scenario, &task, &committee, gens, &mut wire, rng,
    )?;
    let mut cps = verify_all::<F, R>(
        &mut cloud, &parties, scenario, &task, &committee, gens, &mut wire, rng,
    )?;
    let input_set = cloud.close_input_set(&id)?;
    let input_set = match wire.send(id, parties.cloud.id(), Message::InputSet(input_set))? {
        Message::InputSet(s) => s,
        _ => unreachable!("the codec preserves the kind"),
    };
    let mut edge = EdgeTask::<F>::new(
        parties.edge.clone(),
        parties.roster.clone(),
        task.clone(),
        &committee,
    )?;
    let mut summaries = Vec::new();
    for s in cloud.summaries(&id)? {
        if let Message::BundleSummary(s) =
            wire.send(id, parties.cloud.id(), Message::BundleSummary(s))?
        {
            summaries.push(s);
        }
    }
    edge.set_input_set(&input_set, &summaries)?;
    for cp in &mut cps {
        let redeliveries = cp
            .needs_redelivery(&input_set.body)
            .iter()
            .filter_map(|dp| cloud.delivery(&id, dp, cp.index()).ok().flatten())
            .collect::<Vec<_>>();
        let mut payload = cp.finish(&input_set, &redeliveries, gens)?;
        if scenario.faults.cheat_cps.contains(&cp.index()) {
            payload.sum.as_mut_slice()[0] += F::ONE;
        }
        let share = cp.seal_result(&payload, rng);
        if let Message::ResultShare(s) =
            wire.send(id, &share.signer.clone(), Message::ResultShare(share))?
        {
            edge.receive(&s, gens)?;
        }
    }
    let result = edge.finish(rng)?;
    let result = match wire.send(id, parties.edge.id(), Message::TaskResult(result))? {
        Message::TaskResult(r) => r,
        _ => unreachable!("the codec preserves the kind"),
    };
    result.verify(&id, &parties.roster, Role::Edge)?;
    Ok(Outcome {
        included: task.body.ids_in(&result.body.included),
        excluded: task.body.ids_missing(&result.body.included),
        result: result.body,
        bytes: wire.bytes,
        samples: wire.samples,
    })
}

fn admit_all<R: CryptoRng + ?Sized>(
    cloud: &mut Cloud,
    parties: &Parties,
    task: &Signed<Task>,
    wire: &mut Wire,
    rng: &mut R,
) -> Result<Signed<Committee>, Error> {
    let id = task.body.id;
    let mut committee = None;
    for cp in &parties.cps {
        let request = admission_request(cp, &parties.roster, &id, 1_000, rng);
        let Message::AdmissionRequest(request) =
            wire.send(id, cp.id(), Message::AdmissionRequest(request))?
        else {
            unreachable!("the codec preserves the kind")
        };
        let admission = cloud.admit(&id, &request, 1_000, rng)?;
        if let Message::AdmissionGrant(grant) = wire.send(
            id,
            cloud_id(parties),
            Message::AdmissionGrant(admission.grant),
        )? {
            read_grant(cp, &parties.roster, &id, &grant)?;
        }
        committee = admission.committee.or(committee);
    }
    let committee = committee.ok_or_else(|| Error::ProtocolViolation {
        task: id,
        reason: "the committee did not fill".into(),
    })?;
    match wire.send(id, cloud_id(parties), Message::Committee(committee))? {
        Message::Committee(c) => Ok(c),
        _ => unreachable!("the codec preserves the kind"),
    }
}

fn cloud_id(parties: &Parties) -> &PartyId {
    parties.cloud.id()
}

#[allow(clippy::too_many_arguments)]
fn submit_all<F: Field, R: CryptoRng + ?Sized>(
    cloud: &mut Cloud,
    parties: &Parties,
    scenario: &Scenario,
    task: &Signed<Task>,
    committee: &Signed<Committee>,
    gens: Option<&Generators>,
    wire: &mut Wire,
    rng: &mut R,
) -> Result<(), Error> {
    let id = task.body.id;
    let tree = task.body.dp_tree();
    for (k, (identity, input)) in parties.dps.iter().zip(&scenario.inputs).enumerate() {
        let dp = Dp::new(identity.clone(), parties.roster.clone());
        let entry =
            task.body
                .entry_in(&tree, identity.id())
                .ok_or_else(|| Error::UnknownParty {
                    id: identity.id().clone(),
                })?;
        dp.check_setup(task, committee, &entry)?;
        let forgery = scenario
            .faults
            .out_of_range_dps
            .iter()
            .find(|(cheater, _)| *cheater == k + 1)
            .map(|&(_, forgery)| forgery);
        let mut prepared = match forgery {
            Some(forgery) => {
                dp.prepare_out_of_range::<F, R>(&task.body, input, forgery, gens, rng)?
            }
            None => dp.prepare::<F, R>(&task.body, input, gens, rng)?,
        };
        for &(cheater, target) in &scenario.faults.cheat_dps {
            if cheater == k + 1
                && let Some(ShareValue::Explicit(v)) = prepared
                    .payloads
                    .get_mut(target as usize - 1)
                    .map(|p| &mut p.share)
            {
                v.as_mut_slice()[0] += F::ONE;
            }
        }
        let mut bundle = dp.seal(&task.body, &committee.body, &prepared, rng);
        for &(cheater, target) in &scenario.faults.garbage_dps {
            if cheater == k + 1 {
                seal_garbage(&mut bundle, target, identity, &task.body, rng);
            }
        }
        let bytes = wire.encode(id, identity.id(), Message::Bundle(bundle));
        let received = if scenario.faults.drop_dps.contains(&(k + 1)) {
            &bytes[..bytes.len() / 2]
        } else {
            &bytes[..]
        };
        // A truncated upload never decodes, so the cloud never stores (or acknowledges) it.
        if let Ok(Envelope {
            message: Message::Bundle(bundle),
            ..
        }) = Envelope::from_bytes(received)
        {
            cloud.accept_bundle(&id, bundle)?;
        }
    }
    Ok(())
}

/// Replaces the share for CP `target` by bytes sealed to nobody, and re-signs the bundle as the DP.
fn seal_garbage<R: CryptoRng + ?Sized>(
    bundle: &mut Bundle,
    target: u32,
    dp: &SecretIdentity,
    task: &Task,
    rng: &mut R,
) {
    let stranger = crate::crypto::kem::KemSecretKey::generate(rng).public_key();
    let junk = crate::crypto::kem::seal(&stranger, b"garbage", &[0u8; 40], rng);
    bundle.shares[target as usize - 1] = junk;
    let mut core = bundle.core.body.clone();
    core.digests = bundle.shares.iter().map(share_digest).collect();
    bundle.core = Signed::sign(&task.id, dp, core);
}

#[allow(clippy::too_many_arguments)]
fn verify_all<F: Field, R: CryptoRng + ?Sized>(
    cloud: &mut Cloud,
    parties: &Parties,
    scenario: &Scenario,
    task: &Signed<Task>,
    committee: &Signed<Committee>,
    gens: Option<&Generators>,
    wire: &mut Wire,
    rng: &mut R,
) -> Result<Vec<CpTask<F>>, Error> {
    let id = task.body.id;
    let mut live = Vec::new();
    for identity in &parties.cps {
        let mut cp = CpTask::<F>::new(
            identity.clone(),
            parties.roster.clone(),
            task.clone(),
            committee,
        )?;
        if scenario.faults.drop_cps.contains(&cp.index()) {
            continue;
        }
        let mut deliveries = Vec::new();
        for d in cloud.deliveries(&id, cp.index())? {
            if let Message::ShareDelivery(d) =
                wire.send(id, cloud_id(parties), Message::ShareDelivery(d))?
            {
                deliveries.push(d);
            }
        }
        let rejected = cp.receive(&deliveries, gens, rng);
        if let Some(r) = rejected.into_iter().next() {
            return Err(r.error);
        }
        for &(liar, victim) in &scenario.faults.false_complaints {
            let victim = Scenario::dp_id(victim);
            if liar == cp.index()
                && let Some(d) = deliveries.iter().find(|d| d.core.signer == victim)
            {
                cp.complain(d, rng);
            }
        }
        for &(liar, victim) in &scenario.faults.false_range_complaints {
            if liar == cp.index() {
                cp.range_complain(&Scenario::dp_id(victim));
            }
        }
        for &(liar, victim) in &scenario.faults.false_verifier_cps {
            if liar == cp.index() {
                cp.alter_verifier(&Scenario::dp_id(victim));
            }
        }
        if let Message::VerificationReport(report) =
            wire.send(id, identity.id(), Message::VerificationReport(cp.report()))?
        {
            cloud.accept_report(&id, report, gens)?;
        }
        live.push(cp);
    }
    Ok(live)
}
