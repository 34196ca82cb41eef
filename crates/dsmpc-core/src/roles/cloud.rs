//! The cloud: publishes tasks, admits CPs (Algorithm 1), stores bundles, relays shares,
//! arbitrates complaints and fixes the input set.
//!
//! The cloud is trusted for availability and ordering only. It never holds a key that opens a
//! share: shares are sealed to CPs end to end. Everything it decides — the committee, the input
//! set — it signs, so every party can check that it saw the same decision.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand_core::CryptoRng;

use super::arbiter::{self, Verdict, commitments_of};
use super::validity;
use crate::codec::Encode;
use crate::crypto::kem;
use crate::crypto::pedersen::Generators;
use crate::dpset::DpSet;
use crate::error::AdmissionRefusal;
use crate::field::Field;
use crate::identity::{PartyId, Role, Roster, SecretIdentity};
use crate::prg::Seed;
use crate::round1::{
    AdmissionGrant, AdmissionRequest, Committee, CommitteeMember, INDEX_PURPOSE, TOKEN_PURPOSE,
};
use crate::round2::{Bundle, BundleCore, ShareDelivery};
use crate::round3::{Culprit, CulpritReason, InputSet, VerificationReport};
use crate::signed::Signed;
use crate::task::{DpKey, Mode, Task, TaskId, TaskParams};
use crate::wire::seal_context;
use crate::{Error, with_field};

/// Default half-width of the admission timestamp window, in seconds.
pub const DEFAULT_ADMISSION_WINDOW: u64 = 60;

/// What an accepted admission request yields.
#[derive(Debug)]
pub struct Admission {
    /// The grant for the requesting CP.
    pub grant: Signed<AdmissionGrant>,
    /// The signed committee, once this admission completed it.
    pub committee: Option<Signed<Committee>>,
}

/// What the cloud remembers of an accepted bundle, whether or not it keeps the bundle itself:
/// when it arrived, and a digest of its signed core that tells an identical resend from a
/// different second bundle (the core signs a digest of every share, so equal cores mean equal
/// bundles). About a hundred bytes a DP, whatever the vector length.
#[derive(Debug, Clone, Copy)]
struct Received {
    arrival: u64,
    digest: [u8; 32],
    /// The seed of the DP's joint randomness (fast tasks that validate inputs): public, derived
    /// from the parts in its core.
    joint: Option<[u8; 32]>,
}

/// The bundles themselves, for a cloud that keeps them in memory (the one-process harness and
/// tests); a server keeps them in its store instead (see [`Cloud::streaming`]).
#[derive(Debug, Default)]
struct Shelf {
    bundles: BTreeMap<PartyId, Bundle>,
    /// DPs in the order their bundles arrived: deliveries are paged in this order, so a CP that
    /// resumes after the last DP it saw misses none that arrived later.
    arrivals: Vec<PartyId>,
}

/// The cloud's state for one task.
#[derive(Debug)]
struct CloudTask {
    /// Shared with whoever serves the task beside this state (its DP list is the largest part).
    task: Arc<Signed<Task>>,
    admitted: Vec<PartyId>,
    nonces: BTreeSet<[u8; 16]>,
    committee: Option<Signed<Committee>>,
    received: BTreeMap<PartyId, Received>,
    /// `None` when the bundles live in the caller's store.
    shelf: Option<Shelf>,
    reports: BTreeMap<u32, Signed<VerificationReport>>,
    upheld: BTreeSet<PartyId>,
    culprits: BTreeSet<Culprit>,
    input_set: Option<Signed<InputSet>>,
}

/// What [`Cloud::accept_checked_bundle`] did with a bundle.
#[derive(Debug)]
pub enum Accepted {
    /// A new bundle, the `arrival`-th (from 0) of its task. `bundle` is handed back when the
    /// cloud does not keep bundles itself ([`Cloud::streaming`]): the caller must store it.
    New {
        /// Its position in the order of arrival.
        arrival: u64,
        /// The bundle, for the caller's store; `None` when the cloud kept it.
        bundle: Option<Bundle>,
    },
    /// An identical resend of a bundle already accepted.
    Resend,
}

/// The cloud.
#[derive(Debug)]
pub struct Cloud {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    window: u64,
    tasks: BTreeMap<TaskId, CloudTask>,
    /// Whether bundles are kept in memory (`false`: the caller stores them).
    keeps_bundles: bool,
}

impl Cloud {
    /// A cloud with these keys and roster; admission timestamps may differ from the cloud's clock
    /// by at most `window` seconds.
    ///
    /// This cloud keeps every bundle in memory, which suits one process running a whole task
    /// (the harness, tests); a server uses [`Cloud::streaming`].
    pub fn new(identity: Arc<SecretIdentity>, roster: Arc<Roster>, window: u64) -> Cloud {
        Cloud {
            identity,
            roster,
            window,
            tasks: BTreeMap::new(),
            keeps_bundles: true,
        }
    }

    /// A cloud that keeps only a small record per accepted bundle (its arrival and digest): it
    /// hands every new bundle back to the caller to store ([`Accepted::New`]), and the methods
    /// that serve bundles (deliveries, summaries, [`Cloud::accept_report`]) are the caller's to
    /// answer from that store. Its memory grows with the number of DPs, never with the length
    /// of their vectors.
    pub fn streaming(identity: Arc<SecretIdentity>, roster: Arc<Roster>, window: u64) -> Cloud {
        Cloud {
            keeps_bundles: false,
            ..Cloud::new(identity, roster, window)
        }
    }

    /// Validates `params` and signs a new task that lists `dp_keys` (from the registry, in the
    /// order of `params.weights`) as the data providers' verifying keys.
    pub fn create_task<R: CryptoRng + ?Sized>(
        &mut self,
        params: TaskParams,
        dp_keys: Vec<DpKey>,
        rng: &mut R,
    ) -> Result<Arc<Signed<Task>>, Error> {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let task = Task::new(TaskId(id), params, dp_keys)?;
        let cps = self.roster.of_role(Role::Cp).count();
        if cps < task.params.n as usize {
            return Err(Error::InvalidParameters {
                reason: format!("the task needs {} CPs, the roster has {cps}", task.params.n),
            });
        }
        let id = task.id;
        let signed = Arc::new(Signed::sign(&id, &self.identity, task));
        self.tasks
            .insert(id, CloudTask::new(signed.clone(), self.keeps_bundles));
        Ok(signed)
    }

    /// Restores a task signed earlier (after a restart), with its DP list attached.
    pub fn restore_task(&mut self, task: Signed<Task>) -> Result<(), Error> {
        task.verify(&task.body.id, &self.roster, Role::Cloud)?;
        if !task.body.has_dp_list() {
            return Err(Error::ProtocolViolation {
                task: task.body.id,
                reason: "a task is restored with its DP list".into(),
            });
        }
        let keeps = self.keeps_bundles;
        self.tasks
            .insert(task.body.id, CloudTask::new(Arc::new(task), keeps));
        Ok(())
    }

    fn state(&self, task: &TaskId) -> Result<&CloudTask, Error> {
        self.tasks
            .get(task)
            .ok_or(Error::UnknownTask { task: *task })
    }

    fn state_mut(&mut self, task: &TaskId) -> Result<&mut CloudTask, Error> {
        self.tasks
            .get_mut(task)
            .ok_or(Error::UnknownTask { task: *task })
    }

    /// The signed task.
    pub fn task(&self, task: &TaskId) -> Result<&Signed<Task>, Error> {
        Ok(&self.state(task)?.task)
    }

    /// The signed committee, once complete.
    pub fn committee(&self, task: &TaskId) -> Result<Option<&Signed<Committee>>, Error> {
        Ok(self.state(task)?.committee.as_ref())
    }

    /// Algorithm 1: checks a CP's request and admits it with the next index. `now` is the cloud's
    /// clock in Unix seconds.
    pub fn admit<R: CryptoRng + ?Sized>(
        &mut self,
        task: &TaskId,
        request: &Signed<AdmissionRequest>,
        now: u64,
        rng: &mut R,
    ) -> Result<Admission, Error> {
        let cp = request.signer.clone();
        let refuse = |reason| Error::AdmissionRefused {
            cp: cp.clone(),
            reason,
        };
        let card = match self.roster.expect(&cp, Role::Cp) {
            Ok(card) => card.clone(),
            Err(_) => return Err(refuse(AdmissionRefusal::UnknownVid)),
        };
        request
            .verify(task, &self.roster, Role::Cp)
            .map_err(|_| refuse(AdmissionRefusal::BadSignature))?;
        self.check_token(task, request)
            .map_err(|_| refuse(AdmissionRefusal::TokenMismatch))?;
        if request.body.timestamp.abs_diff(now) > self.window {
            return Err(refuse(AdmissionRefusal::StaleTimestamp));
        }
        let identity = self.identity.clone();
        let state = self.state_mut(task)?;
        if state.nonces.contains(&request.body.nonce) {
            return Err(refuse(AdmissionRefusal::ReplayedNonce));
        }
        if state.admitted.contains(&cp) {
            return Err(refuse(AdmissionRefusal::AlreadyAdmitted));
        }
        if state.admitted.len() >= state.task.body.params.n as usize {
            return Err(refuse(AdmissionRefusal::CommitteeFull));
        }
        state.nonces.insert(request.body.nonce);
        state.admitted.push(cp.clone());
        let index = state.admitted.len() as u32;
        let context = seal_context(
            INDEX_PURPOSE,
            task,
            (identity.id(), Role::Cloud),
            (&cp, Role::Cp),
            0,
        );
        let sealed_index = kem::seal(&card.kem_key, &context, &index.to_le_bytes(), rng);
        let grant = Signed::sign(task, &identity, AdmissionGrant { cp, sealed_index });
        let committee = self.complete_committee(task)?;
        Ok(Admission { grant, committee })
    }

    fn check_token(&self, task: &TaskId, request: &Signed<AdmissionRequest>) -> Result<(), ()> {
        let context = seal_context(
            TOKEN_PURPOSE,
            task,
            (&request.signer, Role::Cp),
            (self.identity.id(), Role::Cloud),
            0,
        );
        let vid =
            kem::open(self.identity.kem_secret(), &context, &request.body.token).map_err(|_| ())?;
        (vid.as_slice() == request.signer.as_str().as_bytes())
            .then_some(())
            .ok_or(())
    }

    fn complete_committee(&mut self, task: &TaskId) -> Result<Option<Signed<Committee>>, Error> {
        let identity = self.identity.clone();
        let roster = self.roster.clone();
        let state = self.state_mut(task)?;
        if state.admitted.len() < state.task.body.params.n as usize || state.committee.is_some() {
            return Ok(None);
        }
        let members = state
            .admitted
            .iter()
            .zip(1..)
            .map(|(cp, index)| {
                let card = roster.expect(cp, Role::Cp)?.clone();
                Ok(CommitteeMember { index, card })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let committee = Signed::sign(task, &identity, Committee { members });
        state.committee = Some(committee.clone());
        Ok(Some(committee))
    }

    /// Checks and stores a DP's bundle ([`check_bundle`], then [`Cloud::accept_checked_bundle`]).
    /// Call before acknowledging it; an identical resend is accepted again, a different second
    /// bundle from the same DP is refused.
    pub fn accept_bundle(&mut self, task: &TaskId, bundle: Bundle) -> Result<Accepted, Error> {
        let checked = check_bundle(&self.state(task)?.task, bundle)?;
        self.accept_checked_bundle(checked)
    }

    /// Accepts a bundle that passed [`check_bundle`] for one of this cloud's tasks, after the
    /// checks that need the task's state: the committee is complete, the input set is still
    /// open, and the DP sent no different bundle.
    pub fn accept_checked_bundle(&mut self, checked: CheckedBundle) -> Result<Accepted, Error> {
        let task = checked.task;
        let state = self.state_mut(&task)?;
        if state.task.signature != checked.task_signature {
            return Err(Error::ProtocolViolation {
                task,
                reason: "the bundle was checked against another task".into(),
            });
        }
        let bundle = checked.bundle;
        let digest = core_digest(&bundle.core);
        let joint = joint_of(&state.task.body, &bundle.core);
        let Some(arrival) = state.receive(&bundle.core.signer, digest, joint)? else {
            return Ok(Accepted::Resend);
        };
        match &mut state.shelf {
            Some(shelf) => {
                shelf.arrivals.push(bundle.core.signer.clone());
                shelf.bundles.insert(bundle.core.signer.clone(), bundle);
                Ok(Accepted::New {
                    arrival,
                    bundle: None,
                })
            }
            None => Ok(Accepted::New {
                arrival,
                bundle: Some(bundle),
            }),
        }
    }

    /// Records again a bundle that this cloud accepted before a restart, from its signed core
    /// as the caller's store holds it (the checks ran when it was first accepted). Bundles must
    /// be restored in their order of arrival; returns the arrival position.
    pub fn restore_bundle(
        &mut self,
        task: &TaskId,
        core: &Signed<BundleCore>,
    ) -> Result<u64, Error> {
        let state = self.state_mut(task)?;
        let joint = joint_of(&state.task.body, core);
        state
            .receive(&core.signer, core_digest(core), joint)?
            .ok_or_else(|| Error::ProtocolViolation {
                task: *task,
                reason: format!("{} restored twice", core.signer),
            })
    }

    /// How many DPs have an accepted bundle.
    pub fn bundle_count(&self, task: &TaskId) -> Result<usize, Error> {
        Ok(self.state(task)?.received.len())
    }

    /// The position (from 0) at which `dp`'s bundle arrived, if it did.
    pub fn arrival_of(&self, task: &TaskId, dp: &PartyId) -> Result<Option<u64>, Error> {
        Ok(self.state(task)?.received.get(dp).map(|r| r.arrival))
    }

    fn shelf(&self, task: &TaskId) -> Result<&Shelf, Error> {
        self.state(task)?
            .shelf
            .as_ref()
            .ok_or_else(|| Error::ProtocolViolation {
                task: *task,
                reason: "this cloud keeps its bundles in its store, not in memory".into(),
            })
    }

    /// Every stored bundle's share for CP `index`, in DP id order.
    pub fn deliveries(&self, task: &TaskId, index: u32) -> Result<Vec<ShareDelivery>, Error> {
        Ok(self
            .shelf(task)?
            .bundles
            .values()
            .filter_map(|b| b.delivery(index))
            .collect())
    }

    /// Up to `limit` stored deliveries for CP `index`, in the order the bundles arrived, starting
    /// after DP `after` (from the first when `None` or unknown).
    pub fn deliveries_after(
        &self,
        task: &TaskId,
        index: u32,
        after: Option<&PartyId>,
        limit: usize,
    ) -> Result<Vec<ShareDelivery>, Error> {
        let start = match after {
            Some(dp) => self.arrival_of(task, dp)?.map_or(0, |i| i as usize + 1),
            None => 0,
        };
        let shelf = self.shelf(task)?;
        Ok(shelf
            .arrivals
            .iter()
            .skip(start)
            .filter_map(|dp| shelf.bundles.get(dp)?.delivery(index))
            .take(limit)
            .collect())
    }

    /// Every task this cloud holds, signed.
    pub fn tasks(&self) -> impl Iterator<Item = &Arc<Signed<Task>>> {
        self.tasks.values().map(|t| &t.task)
    }

    /// The signed input set, once closed.
    pub fn input_set(&self, task: &TaskId) -> Result<Option<&Signed<InputSet>>, Error> {
        Ok(self.state(task)?.input_set.as_ref())
    }

    /// The share of DP `dp` for CP `index`, if stored.
    pub fn delivery(
        &self,
        task: &TaskId,
        dp: &PartyId,
        index: u32,
    ) -> Result<Option<ShareDelivery>, Error> {
        Ok(self
            .shelf(task)?
            .bundles
            .get(dp)
            .and_then(|b| b.delivery(index)))
    }

    /// The DPs that have an accepted bundle, in id order.
    pub fn submitted(&self, task: &TaskId) -> Result<Vec<PartyId>, Error> {
        Ok(self.state(task)?.received.keys().cloned().collect())
    }

    /// The DPs whose complaints `report` makes: the deliveries a cloud that keeps its bundles
    /// elsewhere must fetch for [`Cloud::accept_report_judging`].
    pub fn complained_about(report: &VerificationReport) -> Vec<(PartyId, u32)> {
        let range = report
            .range_complaints
            .iter()
            .map(|dp| (dp.clone(), report.index));
        report
            .complaints
            .iter()
            .map(|c| (c.dp.clone(), c.index))
            .chain(range)
            .collect()
    }

    /// Takes a CP's verification report and judges its complaints against the bundles this
    /// cloud keeps in memory.
    pub fn accept_report(
        &mut self,
        task: &TaskId,
        report: Signed<VerificationReport>,
        gens: Option<&Generators>,
    ) -> Result<(), Error> {
        let stored: Vec<ShareDelivery> = Self::complained_about(&report.body)
            .iter()
            .filter_map(|(dp, index)| self.delivery(task, dp, *index).ok().flatten())
            .collect();
        self.accept_report_judging(task, report, gens, &stored)
    }

    /// Takes a CP's verification report and judges its complaints against `stored`: the
    /// deliveries of the DPs it complains about, as the caller's store holds them (see
    /// [`Cloud::complained_about`]). A complaint about a DP with no stored delivery is
    /// rejected.
    pub fn accept_report_judging(
        &mut self,
        task: &TaskId,
        report: Signed<VerificationReport>,
        gens: Option<&Generators>,
        stored: &[ShareDelivery],
    ) -> Result<(), Error> {
        let roster = self.roster.clone();
        let state = self.state_mut(task)?;
        let violation = |reason: String| Error::ProtocolViolation {
            task: *task,
            reason,
        };
        let committee = state
            .committee
            .as_ref()
            .ok_or_else(|| violation("no committee yet".into()))?
            .body
            .clone();
        report.verify(task, &roster, Role::Cp)?;
        super::check_set_len(&state.task.body, &report.body.accepted, "report")?;
        check_verifiers(&state.task.body, &report.body)?;
        if committee.index_of(&report.signer) != Some(report.body.index) {
            return Err(violation(format!(
                "{} reported for another index",
                report.signer
            )));
        }
        let field = state.task.body.field();
        for complaint in &report.body.complaints {
            let delivery = stored
                .iter()
                .find(|d| d.core.signer == complaint.dp && d.index == complaint.index);
            let verdict = match delivery {
                Some(delivery)
                    if complaint.index == report.body.index
                        && state.received.contains_key(&complaint.dp) =>
                {
                    with_field!(field, F => {
                        arbiter::judge::<F>(&state.task.body, &committee, delivery, complaint, gens)
                    })
                }
                _ => Verdict::Rejected,
            };
            let culprit = match verdict {
                Verdict::Upheld => {
                    state.upheld.insert(complaint.dp.clone());
                    Culprit {
                        party: complaint.dp.clone(),
                        reason: CulpritReason::InvalidShare,
                    }
                }
                Verdict::Rejected => Culprit {
                    party: report.signer.clone(),
                    reason: CulpritReason::FalseComplaint,
                },
            };
            state.culprits.insert(culprit);
        }
        for dp in &report.body.range_complaints {
            let core = stored
                .iter()
                .find(|d| &d.core.signer == dp && state.received.contains_key(dp))
                .map(|d| &d.core.body);
            // Upheld only when the proof, public in the DP's signed core, really fails.
            let upheld = match (state.task.body.range_bound(), core, gens) {
                (Some(bound), Some(core), Some(gens)) => {
                    !super::range_proofs_valid(&state.task.body, &bound, gens, &[(dp, core)])[0]
                }
                _ => false,
            };
            let culprit = if upheld {
                state.upheld.insert(dp.clone());
                Culprit {
                    party: dp.clone(),
                    reason: CulpritReason::InvalidRangeProof,
                }
            } else {
                Culprit {
                    party: report.signer.clone(),
                    reason: CulpritReason::FalseComplaint,
                }
            };
            state.culprits.insert(culprit);
        }
        state.reports.insert(report.body.index, report);
        Ok(())
    }

    /// The indices of the CPs that have reported.
    pub fn reported(&self, task: &TaskId) -> Result<Vec<u32>, Error> {
        Ok(self.state(task)?.reports.keys().copied().collect())
    }

    /// Fixes and signs the input set: DPs with a stored bundle and no upheld complaint.
    pub fn close_input_set(&mut self, task: &TaskId) -> Result<Signed<InputSet>, Error> {
        let identity = self.identity.clone();
        let state = self.state_mut(task)?;
        if let Some(existing) = &state.input_set {
            return Ok(existing.clone());
        }
        let field = state.task.body.field();
        with_field!(field, F => state.judge_validity::<F>())?;
        let list = &state.task.body.params.weights;
        let included = DpSet::from_positions(
            state.task.body.dps,
            (0..list.len() as u64).filter(|&i| {
                let dp = &list[i as usize].0;
                state.received.contains_key(dp) && !state.upheld.contains(dp)
            }),
        );
        let body = InputSet {
            included,
            reported: state.reports.keys().copied().collect(),
            culprits: state.culprits.iter().cloned().collect(),
        };
        let signed = Signed::sign(task, &identity, body);
        state.input_set = Some(signed.clone());
        Ok(signed)
    }

    /// The signed commitments of every DP in the input set, for the edge.
    pub fn summaries(&self, task: &TaskId) -> Result<Vec<Signed<BundleCore>>, Error> {
        self.summaries_page(task, 0, usize::MAX)
    }

    /// Up to `limit` of [`Cloud::summaries`], starting at input-set position `from` (empty past
    /// the end), so that a large input set travels in bounded pages.
    pub fn summaries_page(
        &self,
        task: &TaskId,
        from: usize,
        limit: usize,
    ) -> Result<Vec<Signed<BundleCore>>, Error> {
        let state = self.state(task)?;
        let shelf = self.shelf(task)?;
        let input_set = state
            .input_set
            .as_ref()
            .ok_or_else(|| Error::ProtocolViolation {
                task: *task,
                reason: "the input set is not closed".into(),
            })?;
        let list = &state.task.body.params.weights;
        Ok(input_set
            .body
            .included
            .iter()
            .skip(from)
            .take(limit)
            .filter_map(|i| list.get(i as usize))
            .filter_map(|(dp, _)| shelf.bundles.get(dp).map(|b| b.core.clone()))
            .collect())
    }
}

/// A bundle that passed every check [`check_bundle`] makes without the cloud's state, bound to the
/// signed task it was checked against. Only [`check_bundle`] makes one, so
/// [`Cloud::accept_checked_bundle`] cannot be handed an unchecked bundle.
#[derive(Debug, Clone)]
pub struct CheckedBundle {
    task: TaskId,
    task_signature: ed25519_dalek::Signature,
    bundle: Bundle,
}

impl CheckedBundle {
    /// The checked bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The task it was checked for.
    pub fn task(&self) -> &TaskId {
        &self.task
    }
}

/// The checks of a DP's bundle for `task` that need no state, so a server can run them before it
/// takes the lock on its [`Cloud`]: the signer is a data provider of the task, the signature is
/// valid by the key the task lists for it, every share matches its signed digest, there is one share per CP, and
/// the commitments are `t` valid points (verifiable mode) or absent (fast mode).
pub fn check_bundle(task: &Signed<Task>, bundle: Bundle) -> Result<CheckedBundle, Error> {
    check_provider(task, &bundle)?;
    bundle.core.verify(&task.body.id, &task.body, Role::Dp)?;
    check_contents(task, bundle)
}

/// [`check_bundle`] on many bundles, each for its own task: the same verdicts in the same order,
/// with every signature checked in one batch (see [`Signed::verify_each`]) — how a server checks
/// the bundles a client sent back to back.
pub fn check_bundles<R: CryptoRng + ?Sized>(
    items: Vec<(&Signed<Task>, Bundle)>,
    rng: &mut R,
) -> Vec<Result<CheckedBundle, Error>> {
    let providers: Vec<Result<(), Error>> = items
        .iter()
        .map(|(task, bundle)| check_provider(task, bundle))
        .collect();
    let to_verify: Vec<(&TaskId, &Signed<BundleCore>, &Task)> = items
        .iter()
        .zip(&providers)
        .filter(|(_, provider)| provider.is_ok())
        .map(|((task, bundle), _)| (&task.body.id, &bundle.core, &task.body))
        .collect();
    let mut signatures = Signed::verify_each(&to_verify, Role::Dp, rng).into_iter();
    items
        .into_iter()
        .zip(providers)
        .map(|((task, bundle), provider)| {
            provider?;
            // One verdict per bundle that passed `check_provider`, in the same order.
            match signatures.next() {
                Some(verdict) => verdict.and_then(|()| check_contents(task, bundle)),
                None => check_bundle(task, bundle),
            }
        })
        .collect()
}

/// The bundle's signer is a data provider of `task`.
fn check_provider(task: &Signed<Task>, bundle: &Bundle) -> Result<(), Error> {
    let dp = &bundle.core.signer;
    match task.body.weight_of(dp) {
        Some(_) => Ok(()),
        None => Err(Error::ProtocolViolation {
            task: task.body.id,
            reason: format!("{dp} is not a data provider of this task"),
        }),
    }
}

/// The checks after the signature: digests, one share per CP, commitments.
fn check_contents(task: &Signed<Task>, bundle: Bundle) -> Result<CheckedBundle, Error> {
    let id = task.body.id;
    let params = &task.body.params;
    bundle.check_digests(&id, params.n)?;
    let commitments_ok = match params.mode {
        Mode::Verifiable => commitments_of(&bundle.core.body, params.t).is_some(),
        Mode::Fast => bundle.core.body.commitments.is_empty(),
    };
    if !commitments_ok {
        return Err(Error::ProtocolViolation {
            task: id,
            reason: format!(
                "bundle from {} has malformed commitments",
                bundle.core.signer
            ),
        });
    }
    let parts = bundle.core.body.validity.len();
    // Fast mode: one part per CP exactly when the task validates (verifiable mode's range
    // proofs are checked by the CPs).
    let expected = (params.mode == Mode::Fast)
        .then(|| usize::from(params.validate) * params.n as usize * validity::PART_LEN);
    if let Some(expected) = expected
        && parts != expected
    {
        return Err(Error::ProtocolViolation {
            task: id,
            reason: format!(
                "bundle from {} has {parts} bytes of joint-randomness parts, the task takes \
                 {expected}",
                bundle.core.signer
            ),
        });
    }
    Ok(CheckedBundle {
        task: id,
        task_signature: task.signature,
        bundle,
    })
}

/// Refuses a report whose verifier shares (fast tasks that validate inputs) do not decode or do
/// not cover exactly the DPs it accepted.
fn check_verifiers(task: &Task, report: &VerificationReport) -> Result<(), Error> {
    let problem = with_field!(task.field(), F => {
        match task.validity_circuit::<F>() {
            None if report.verifiers.is_empty() => None,
            None => Some("verifier shares for a task that takes none".to_string()),
            Some(circuit) => {
                match validity::decode_verifiers::<F>(&report.verifiers, circuit.verifier_len()) {
                    Err(e) => Some(format!("verifier shares do not decode: {e}")),
                    Ok(v) if !v.iter().map(|(i, _)| *i).eq(report.accepted.iter()) => {
                        Some("verifier shares do not match the accepted DPs".to_string())
                    }
                    Ok(_) => None,
                }
            }
        }
    });
    match problem {
        None => Ok(()),
        Some(reason) => Err(Error::ProtocolViolation {
            task: task.id,
            reason: format!("the report of CP {}: {reason}", report.index),
        }),
    }
}

impl CloudTask {
    /// Fast tasks that validate inputs: decides every DP that submitted from the reported
    /// verifier shares ([`validity::decide`]); an invalid one is upheld and named, a CP whose
    /// share is inconsistent is named. A DP whose verifier cannot be reconstructed (fewer than
    /// t consistent shares) is left out unnamed: its input is unchecked.
    fn judge_validity<F: Field>(&mut self) -> Result<(), Error> {
        let task = &self.task.body;
        let Some(circuit) = task.validity_circuit::<F>() else {
            return Ok(());
        };
        let mut by_dp: BTreeMap<u64, Vec<(u32, Vec<F>)>> = BTreeMap::new();
        for (index, report) in &self.reports {
            let shares =
                validity::decode_verifiers::<F>(&report.body.verifiers, circuit.verifier_len())
                    .map_err(|e| Error::ProtocolViolation {
                        task: task.id,
                        reason: format!("a stored report does not decode: {e}"),
                    })?;
            for (position, share) in shares {
                by_dp.entry(position).or_default().push((*index, share));
            }
        }
        let mut rng = crate::rng::os_rng();
        let weights: Vec<F> = (0..circuit.verifier_len())
            .map(|_| F::random(&mut rng))
            .collect();
        let committee = self.committee.as_ref().map(|c| c.body.clone());
        for (position, (dp, _)) in task.params.weights.iter().enumerate() {
            let Some(joint) = self
                .received
                .get(dp)
                .and_then(|r| r.joint)
                .map(Seed::from_bytes)
            else {
                continue;
            };
            if self.upheld.contains(dp) {
                continue;
            }
            let shares: Vec<(u32, &[F])> = by_dp
                .get(&(position as u64))
                .map(|v| v.iter().map(|(i, s)| (*i, s.as_slice())).collect())
                .unwrap_or_default();
            let decision = validity::decide(task, &circuit, &joint, &shares, &weights);
            for index in decision.inconsistent {
                if let Some(m) = committee.as_ref().and_then(|c| c.member(index)) {
                    self.culprits.insert(Culprit {
                        party: m.card.id.clone(),
                        reason: CulpritReason::InconsistentVerifierShare,
                    });
                }
            }
            match decision.valid {
                Some(true) => {}
                Some(false) => {
                    self.upheld.insert(dp.clone());
                    self.culprits.insert(Culprit {
                        party: dp.clone(),
                        reason: CulpritReason::InvalidValidityProof,
                    });
                }
                None => {
                    self.upheld.insert(dp.clone());
                }
            }
        }
        Ok(())
    }

    fn new(task: Arc<Signed<Task>>, keeps_bundles: bool) -> CloudTask {
        CloudTask {
            task,
            admitted: Vec::new(),
            nonces: BTreeSet::new(),
            committee: None,
            received: BTreeMap::new(),
            shelf: keeps_bundles.then(Shelf::default),
            reports: BTreeMap::new(),
            upheld: BTreeSet::new(),
            culprits: BTreeSet::new(),
            input_set: None,
        }
    }

    /// Records `dp`'s bundle (with core digest `digest`) if the task takes bundles now: the
    /// committee is complete and the input set still open. Returns its arrival position, or
    /// `None` for an identical resend; a different second bundle is refused.
    fn receive(
        &mut self,
        dp: &PartyId,
        digest: [u8; 32],
        joint: Option<[u8; 32]>,
    ) -> Result<Option<u64>, Error> {
        let task = self.task.body.id;
        let violation = |reason: String| Error::ProtocolViolation { task, reason };
        if self.committee.is_none() {
            return Err(violation("the committee is not complete yet".into()));
        }
        if self.input_set.is_some() {
            return Err(violation("the input set is closed".into()));
        }
        match self.received.get(dp) {
            Some(existing) if existing.digest == digest => Ok(None),
            Some(_) => Err(violation(format!(
                "{dp} already submitted a different bundle"
            ))),
            None => {
                let arrival = self.received.len() as u64;
                self.received.insert(
                    dp.clone(),
                    Received {
                        arrival,
                        digest,
                        joint,
                    },
                );
                Ok(Some(arrival))
            }
        }
    }
}

/// The seed of a DP's joint randomness, for a fast task that validates inputs.
fn joint_of(task: &Task, core: &Signed<BundleCore>) -> Option<[u8; 32]> {
    (task.params.mode == Mode::Fast && task.params.validate)
        .then(|| *validity::joint_seed(&task.id, &core.signer, &core.body.validity).as_bytes())
}

/// SHA-256 of a bundle's signed core: equal for equal bundles (the core signs every share's
/// digest), different for any other.
fn core_digest(core: &Signed<BundleCore>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"dsmpc/v1/bundle-core");
    h.update(core.to_bytes());
    h.finalize().into()
}
