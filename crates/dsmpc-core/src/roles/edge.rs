//! The edge: checks result shares, names culprits, reconstructs and signs the result.
//!
//! In verifiable mode the edge combines the included DPs' commitments homomorphically,
//! `C*_k = Σ_u w_u·C_uk`, and checks each CP's `(S_i, R_i)` against `Σ_k i^k·C*_k`; a share that
//! fails names its CP. In fast mode there are no commitments: when more than t result shares
//! arrive, the edge finds the degree-(t-1) polynomial most of them agree on and names the CPs off
//! it, as long as the agreeing shares are a unique-decoding majority.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use curve25519_dalek::RistrettoPoint;
use curve25519_dalek::traits::Identity;
use rand_core::CryptoRng;
use rayon::prelude::*;

use super::arbiter::commitments_of;
use crate::Error;
use crate::crypto::kem;
use crate::crypto::pedersen::{self, Generators};
use crate::encoding::Encoding;
use crate::field::{Field, Ristretto};
use crate::identity::{PartyId, Role, Roster, SecretIdentity};
use crate::polynomial::best_agreement;
use crate::rng::fast_rng;
use crate::round1::Committee;
use crate::round2::BundleCore;
use crate::round3::{Culprit, CulpritReason, InputSet};
use crate::round4::{RESULT_PURPOSE, ResultPayload, ResultShare, TaskFailure, TaskResult};
use crate::sharing::interpolate_at_zero;
use crate::signed::Signed;
use crate::task::{Mode, Task, TaskId};
use crate::wire::seal_context;

/// The edge's state for one task.
pub struct EdgeTask<F: Field> {
    identity: Arc<SecretIdentity>,
    roster: Arc<Roster>,
    task: Task,
    committee: Committee,
    input_set: Option<InputSet>,
    combined: Vec<RistrettoPoint>,
    /// How many included DPs' commitments are in `combined` (verifiable mode).
    folded: usize,
    results: BTreeMap<u32, ResultPayload<F>>,
    culprits: BTreeSet<Culprit>,
}

impl<F: Field> EdgeTask<F> {
    /// Starts collecting results for a task.
    pub fn new(
        identity: Arc<SecretIdentity>,
        roster: Arc<Roster>,
        task: Signed<Task>,
        committee: &Signed<Committee>,
    ) -> Result<Self, Error> {
        super::verify_setup_in::<F>(&roster, &task, committee)?;
        Ok(EdgeTask {
            identity,
            roster,
            task: task.body,
            committee: committee.body.clone(),
            input_set: None,
            combined: Vec::new(),
            folded: 0,
            results: BTreeMap::new(),
            culprits: BTreeSet::new(),
        })
    }

    /// The task's id.
    pub fn task_id(&self) -> TaskId {
        self.task.id
    }

    fn violation(&self, reason: String) -> Error {
        Error::ProtocolViolation {
            task: self.task.id,
            reason,
        }
    }

    /// Takes the signed input set and, in verifiable mode, the signed commitments of every
    /// included DP, and combines them with the DPs' weights ([`EdgeTask::begin_input_set`], one
    /// [`EdgeTask::fold_summaries`] of them all, [`EdgeTask::end_input_set`]).
    pub fn set_input_set(
        &mut self,
        input_set: &Signed<InputSet>,
        summaries: &[Signed<BundleCore>],
    ) -> Result<(), Error> {
        self.begin_input_set(input_set)?;
        if self.task.params.mode == Mode::Verifiable {
            let by_dp: BTreeMap<&PartyId, &Signed<BundleCore>> =
                summaries.iter().map(|s| (&s.signer, s)).collect();
            let ordered: Vec<Signed<BundleCore>> = input_set
                .body
                .included
                .iter()
                .map_while(|i| self.task.listed_id(i))
                .map_while(|dp| by_dp.get(dp).map(|s| (*s).clone()))
                .collect();
            self.fold_summaries(&ordered)?;
        }
        self.end_input_set()
    }

    /// Takes the signed input set. In verifiable mode the included DPs' commitments follow, page
    /// by page in input-set order ([`EdgeTask::fold_summaries`]), until
    /// [`EdgeTask::end_input_set`]: the edge holds their weighted sum, never all of them.
    pub fn begin_input_set(&mut self, input_set: &Signed<InputSet>) -> Result<(), Error> {
        input_set.verify(&self.task.id, &self.roster, Role::Cloud)?;
        super::check_set_len(&self.task, &input_set.body.included, "input set")?;
        let reported = &input_set.body.reported;
        let n = self.task.params.n;
        if reported.windows(2).any(|w| w[0] >= w[1]) || reported.iter().any(|&i| i == 0 || i > n) {
            return Err(self.violation(format!(
                "the input set names CPs {reported:?} as having reported; indices run 1..={n}, once each"
            )));
        }
        if self.input_set.is_some() {
            return Err(self.violation("a second input set".into()));
        }
        let t = self.task.params.t as usize;
        self.combined = vec![RistrettoPoint::identity(); t];
        self.folded = 0;
        self.culprits
            .extend(input_set.body.culprits.iter().cloned());
        self.input_set = Some(input_set.body.clone());
        Ok(())
    }

    /// Folds the next included DPs' signed commitments into the weighted sum: `page` must hold
    /// the DPs of the input set that follow those folded so far, in order.
    pub fn fold_summaries(&mut self, page: &[Signed<BundleCore>]) -> Result<(), Error> {
        let input_set = self
            .input_set
            .as_ref()
            .ok_or_else(|| self.violation("commitments before the input set".into()))?;
        if page.len() as u64 > input_set.included.count() - self.folded as u64 {
            return Err(self.violation("more commitments than included DPs".into()));
        }
        let expected = input_set.included.iter_skipping(self.folded as u64);
        let ids = expected.map(|i| self.task.listed_id(i));
        if let Some((dp, s)) = ids.zip(page).find(|(dp, s)| *dp != Some(&s.signer)) {
            let due = dp.map_or_else(|| "another DP".to_string(), ToString::to_string);
            return Err(self.violation(format!(
                "commitments of {} where {due}'s were due",
                s.signer
            )));
        }
        let part = self.combine_commitments(page)?;
        for (c, p) in self.combined.iter_mut().zip(part) {
            *c += p;
        }
        self.folded += page.len();
        Ok(())
    }

    /// Ends the input set: in verifiable mode, every included DP's commitments must be folded.
    pub fn end_input_set(&self) -> Result<(), Error> {
        let input_set = self
            .input_set
            .as_ref()
            .ok_or_else(|| self.violation("no input set".into()))?;
        let next = input_set.included.iter_skipping(self.folded as u64).next();
        match next {
            Some(i) if self.task.params.mode == Mode::Verifiable => {
                let dp = self.task.listed_id(i).map(ToString::to_string);
                let dp = dp.unwrap_or_else(|| format!("DP #{i}"));
                Err(self.violation(format!("no commitments from {dp}")))
            }
            _ => Ok(()),
        }
    }

    /// Checks a page of included DPs' signed commitments (in parallel on rayon's threads; the
    /// first failure in order is reported) and combines them with the DPs' weights.
    fn combine_commitments(
        &self,
        page: &[Signed<BundleCore>],
    ) -> Result<Vec<RistrettoPoint>, Error> {
        let t = self.task.params.t as usize;
        if page.is_empty() {
            return Ok(vec![RistrettoPoint::identity(); t]);
        }
        let included: Vec<&Signed<BundleCore>> = page.iter().collect();
        // One batch check of the page's signatures; only if it fails is each checked alone, to
        // report the first failure.
        let signatures_valid = Signed::verify_all(
            &included,
            &self.task.id,
            &self.task,
            Role::Dp,
            &mut fast_rng(),
        );
        let checked: Vec<Result<(Ristretto, Vec<RistrettoPoint>), Error>> = page
            .par_iter()
            .map(|s| self.checked_commitments(&s.signer, Some(s), signatures_valid))
            .collect();
        let (weights, points): (Vec<Ristretto>, Vec<Vec<RistrettoPoint>>) = checked
            .into_iter()
            .collect::<Result<Vec<_>, Error>>()?
            .into_iter()
            .unzip();
        let points: Vec<&[RistrettoPoint]> = points.iter().map(Vec::as_slice).collect();
        pedersen::combine_commitments(&weights, &points)
            .map_err(|e| self.violation(format!("cannot combine commitments: {e}")))
    }

    /// One included DP's weight and its signed, decoded commitments (the signature is checked
    /// unless `signature_valid` says a batch check already has).
    fn checked_commitments(
        &self,
        dp: &PartyId,
        summary: Option<&Signed<BundleCore>>,
        signature_valid: bool,
    ) -> Result<(Ristretto, Vec<RistrettoPoint>), Error> {
        let summary = summary.ok_or_else(|| self.violation(format!("no commitments from {dp}")))?;
        if !signature_valid {
            summary.verify(&self.task.id, &self.task, Role::Dp)?;
        }
        let points = commitments_of(&summary.body, self.task.params.t)
            .ok_or_else(|| self.violation(format!("malformed commitments from {dp}")))?;
        let w = self
            .task
            .weight_of(dp)
            .ok_or_else(|| self.violation(format!("{dp} is not in the task")))?;
        Ok((self.task.plan.encode_weight::<Ristretto>(w)?, points))
    }

    /// Takes one CP's signed result share; a share that fails its check makes the CP a culprit.
    pub fn receive(
        &mut self,
        share: &Signed<ResultShare>,
        gens: Option<&Generators>,
    ) -> Result<(), Error> {
        share.verify(&self.task.id, &self.roster, Role::Cp)?;
        let index = share.body.index;
        if self.committee.index_of(&share.signer) != Some(index) {
            return Err(self.violation(format!(
                "{} sent a result share for index {index}",
                share.signer
            )));
        }
        if self.input_set.is_none() || self.end_input_set().is_err() {
            return Err(self.violation("result share before the input set".into()));
        }
        if self.results.contains_key(&index) {
            return Err(self.violation(format!("second result share from {}", share.signer)));
        }
        let context = seal_context(
            RESULT_PURPOSE,
            &self.task.id,
            (&share.signer, Role::Cp),
            (self.identity.id(), Role::Edge),
            index,
        );
        let opened = kem::open(self.identity.kem_secret(), &context, &share.body.sealed)
            .ok()
            .and_then(|pt| ResultPayload::<F>::from_bytes(&pt, self.task.dim()).ok());
        match opened.filter(|p| self.result_is_valid(index, p, gens)) {
            Some(payload) => {
                self.results.insert(index, payload);
            }
            None => {
                self.culprits.insert(Culprit {
                    party: share.signer.clone(),
                    reason: CulpritReason::InvalidResultShare,
                });
            }
        }
        Ok(())
    }

    fn result_is_valid(
        &self,
        index: u32,
        payload: &ResultPayload<F>,
        gens: Option<&Generators>,
    ) -> bool {
        match (self.task.params.mode, gens) {
            (Mode::Fast, _) => payload.blind.is_none(),
            (Mode::Verifiable, Some(gens)) => {
                let (Some(sum), Some(blind)) = (
                    F::as_ristretto(&payload.sum),
                    payload
                        .blind
                        .as_ref()
                        .and_then(|b| F::as_ristretto(std::slice::from_ref(b))),
                ) else {
                    return false;
                };
                pedersen::verify_share(gens, &self.combined, u64::from(index), sum, &blind[0])
                    .unwrap_or(false)
            }
            (Mode::Verifiable, None) => false,
        }
    }

    /// The failure to publish if the input set shows fewer than t CPs reported and the late
    /// ones do not make up the difference, naming those that did not report; `None` when enough
    /// did.
    pub fn too_few_reported(&self) -> Option<TaskFailure> {
        let reported = &self.input_set.as_ref()?.reported;
        let (n, t) = (self.task.params.n, self.task.params.t);
        if reported.len() >= t as usize {
            return None;
        }
        Some(TaskFailure {
            reason: format!("only {} of {n} CPs reported; threshold {t}", reported.len()),
            missing: self.members_except(reported),
        })
    }

    /// The failure to publish when fewer than t valid result shares arrived, naming the CPs
    /// without one.
    pub fn too_few_shares(&self) -> TaskFailure {
        let valid = self.valid_indices();
        let (n, t) = (self.task.params.n, self.task.params.t);
        TaskFailure {
            reason: format!(
                "only {} of {n} CPs sent a valid result share; threshold {t}",
                valid.len()
            ),
            missing: self.members_except(&valid),
        }
    }

    /// The ids of the committee members whose index `present` does not hold, ascending.
    fn members_except(&self, present: &[u32]) -> Vec<PartyId> {
        let mut ids: Vec<PartyId> = self
            .committee
            .members
            .iter()
            .filter(|m| !present.contains(&m.index))
            .map(|m| m.card.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Indices of the valid result shares received so far.
    pub fn valid_indices(&self) -> Vec<u32> {
        self.results.keys().copied().collect()
    }

    /// Reconstructs from t valid result shares, decodes, and signs the result.
    pub fn finish<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<Signed<TaskResult>, Error> {
        let input_set = self
            .input_set
            .clone()
            .ok_or_else(|| self.violation("no input set".into()))?;
        if self.task.params.mode == Mode::Fast {
            self.drop_inconsistent(rng)?;
        }
        let scheme = self.task.scheme();
        let needed = scheme.threshold();
        let valid = self.results.len() as u32;
        if valid < needed || (self.task.params.additive && valid != self.task.params.n) {
            return Err(Error::NotEnoughResultShares {
                valid,
                needed,
                culprits: self.culprits.iter().map(|c| c.party.clone()).collect(),
            });
        }
        let used: Vec<(&u32, &ResultPayload<F>)> =
            self.results.iter().take(needed as usize).collect();
        let vectors: Vec<&[F]> = used.iter().map(|(_, p)| p.sum.as_slice()).collect();
        let secret = if self.task.params.additive {
            crate::sharing::sum_vectors(&vectors, self.task.dim())
        } else {
            let ids: Vec<u64> = used.iter().map(|(i, _)| u64::from(**i)).collect();
            interpolate_at_zero(&ids, &vectors)?
        };
        let sums = secret
            .iter()
            .map(|&v| self.task.plan.decode_result(v))
            .collect::<Result<Vec<i128>, Error>>()?;
        let result = self.build_result(sums, input_set)?;
        Ok(Signed::sign(&self.task.id, &self.identity, result))
    }

    fn build_result(&self, sums: Vec<i128>, input_set: InputSet) -> Result<TaskResult, Error> {
        let weight_total = input_set
            .included
            .iter()
            .filter_map(|i| self.task.params.weights.get(i as usize).map(|(_, w)| *w))
            .try_fold(0i128, |acc, w| acc.checked_add(w))
            .ok_or_else(|| self.violation("total weight overflows".into()))?;
        let weight_scale = match self.task.params.encoding {
            Encoding::Exact { weight_scale, .. } => weight_scale,
            Encoding::Modular { .. } => 0,
        };
        Ok(TaskResult {
            function: self.task.params.function,
            sums,
            scale: self.task.plan.result_scale(),
            weight_total,
            weight_scale,
            included: input_set.included,
            culprits: self.culprits.iter().cloned().collect(),
        })
    }

    /// Fast mode: with more than t Shamir result shares, keeps those on the polynomial most agree
    /// on and names the others; refuses when no unique-decoding majority exists.
    fn drop_inconsistent<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<(), Error> {
        let t = self.task.params.t as usize;
        let count = self.results.len();
        if self.task.params.additive || count <= t {
            return Ok(());
        }
        // Compress each vector to one element with shared random weights: shares on one
        // polynomial stay on one polynomial, and a vector off it stays off with probability 1-1/p.
        let rho: Vec<F> = (0..self.task.dim()).map(|_| F::random(rng)).collect();
        let points: Vec<(u32, F)> = self
            .results
            .iter()
            .map(|(&i, p)| (i, F::dot(&p.sum, &rho)))
            .collect();
        let best = best_agreement(&points, t)?;
        let max_errors = (count - t) / 2;
        if best.len() < count - max_errors {
            return Err(self.violation(format!(
                "result shares disagree and only {} of {count} agree: cannot tell which CPs cheated",
                best.len()
            )));
        }
        let off: Vec<u32> = points
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| !best.contains(i))
            .collect();
        for index in off {
            self.results.remove(&index);
            if let Some(m) = self.committee.member(index) {
                self.culprits.insert(Culprit {
                    party: m.card.id.clone(),
                    reason: CulpritReason::InconsistentResultShare,
                });
            }
        }
        Ok(())
    }
}
