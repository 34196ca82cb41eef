//! The four roles as state machines: each takes messages and returns messages, with no I/O.
//!
//! * [`cloud::Cloud`] publishes tasks, admits CPs (Algorithm 1), stores bundles, arbitrates
//!   complaints and fixes the input set;
//! * [`dp::Dp`] shares, commits, encrypts and signs an input (Algorithm 2);
//! * [`cp::CpTask`] decrypts, batch-verifies and aggregates shares, complains about bad ones and
//!   produces its result share;
//! * [`edge::EdgeTask`] checks result shares, names culprits and reconstructs the result.
//!
//! Roles that handle field elements are generic over the task's [`Field`]; [`with_field!`]
//! dispatches from a task's [`FieldId`] to the matching type.

pub mod arbiter;
pub mod cloud;
pub mod cp;
pub mod dp;
pub mod edge;
pub mod validity;

use crate::Error;
use crate::crypto::pedersen::Generators;
use crate::crypto::range::{self, RangeBound, RangeClaim};
use crate::dpset::DpSet;
use crate::field::Field;
use crate::identity::{PartyId, Role, Roster};
use crate::round1::Committee;
use crate::round2::BundleCore;
use crate::signed::Signed;
use crate::task::{Mode, Task, TaskId};

/// What a DP's range proof is bound to: the task and the DP ([`crate::crypto::range`]).
pub fn range_binding(task: &TaskId, dp: &PartyId) -> Vec<u8> {
    let mut binding = task.0.to_vec();
    binding.extend_from_slice(dp.as_str().as_bytes());
    binding
}

/// Checks the range proofs of DPs' bundle cores in one batch: `cores` are (DP, core) pairs whose
/// commitments decode; returns whether each proof shows the DP's input inside `bound`. A core
/// whose commitments do not decode fails.
pub fn range_proofs_valid(
    task: &Task,
    bound: &RangeBound,
    gens: &Generators,
    cores: &[(&PartyId, &BundleCore)],
) -> Vec<bool> {
    let t = task.params.t;
    let (positions, claims): (Vec<usize>, Vec<RangeClaim<'_>>) = cores
        .iter()
        .enumerate()
        .filter_map(|(i, (dp, core))| {
            let c0 = *arbiter::commitments_of(core, t)?.first()?;
            let claim = RangeClaim {
                commitment: c0,
                proof: &core.validity,
                binding: range_binding(&task.id, dp),
            };
            Some((i, claim))
        })
        .unzip();
    let mut verdicts = vec![false; cores.len()];
    for (i, valid) in
        positions
            .into_iter()
            .zip(range::verify_batch(gens, bound, task.dim(), &claims))
    {
        verdicts[i] = valid;
    }
    verdicts
}

/// Runs `$body` with `$f` bound to the field type named by `$field` (a [`crate::field::FieldId`]).
#[macro_export]
macro_rules! with_field {
    ($field:expr, $f:ident => $body:expr) => {
        match $field {
            $crate::field::FieldId::M31 => {
                type $f = $crate::field::M31;
                $body
            }
            $crate::field::FieldId::M61 => {
                type $f = $crate::field::M61;
                $body
            }
            $crate::field::FieldId::Ristretto255 => {
                type $f = $crate::field::Ristretto;
                $body
            }
        }
    };
}

/// Checks a signed task and committee against the roster: both signed by the cloud, the committee
/// of the task's size, and every member a CP whose keys match its roster card.
pub fn verify_setup(
    roster: &Roster,
    task: &Signed<Task>,
    committee: &Signed<Committee>,
) -> Result<(), Error> {
    let id = task.body.id;
    task.verify(&id, roster, Role::Cloud)?;
    committee.verify(&id, roster, Role::Cloud)?;
    let members = &committee.body.members;
    if members.len() != task.body.params.n as usize {
        return Err(Error::ProtocolViolation {
            task: id,
            reason: format!(
                "committee has {} members, the task needs {}",
                members.len(),
                task.body.params.n
            ),
        });
    }
    for m in members {
        if roster.expect(&m.card.id, Role::Cp)? != &m.card {
            return Err(Error::ProtocolViolation {
                task: id,
                reason: format!("committee keys of {} differ from the roster", m.card.id),
            });
        }
    }
    Ok(())
}

/// [`verify_setup`], and that `F` is the task's field.
pub fn verify_setup_in<F: Field>(
    roster: &Roster,
    task: &Signed<Task>,
    committee: &Signed<Committee>,
) -> Result<(), Error> {
    verify_setup(roster, task, committee)?;
    if !task.body.has_dp_list() {
        return Err(Error::ProtocolViolation {
            task: task.body.id,
            reason: "the task's DP list is not attached (fetch it and check it first)".into(),
        });
    }
    if F::ID != task.body.field() {
        return Err(Error::ProtocolViolation {
            task: task.body.id,
            reason: format!("task computes in {}, not {}", task.body.field(), F::ID),
        });
    }
    Ok(())
}

/// Checks that `F` is the task's field and, in verifiable mode, that generators cover the dimension.
pub fn check_field<F: Field>(task: &Task, gens: Option<&Generators>) -> Result<(), Error> {
    let violation = |reason: String| Error::ProtocolViolation {
        task: task.id,
        reason,
    };
    if F::ID != task.field() {
        return Err(violation(format!(
            "task computes in {}, not {}",
            task.field(),
            F::ID
        )));
    }
    if task.params.mode == Mode::Verifiable && gens.is_none_or(|g| g.len() < task.dim()) {
        return Err(violation(format!(
            "verifiable mode needs {} Pedersen generators",
            task.dim()
        )));
    }
    Ok(())
}

/// Checks that `set` (of the message `what`) is a subset of `task`'s DP list: a set over a list
/// of another length names other DPs.
pub fn check_set_len(task: &Task, set: &DpSet, what: &str) -> Result<(), Error> {
    if set.list_len() == task.dps {
        return Ok(());
    }
    Err(Error::ProtocolViolation {
        task: task.id,
        reason: format!(
            "the {what} is a set over {} DPs, the task lists {}",
            set.list_len(),
            task.dps
        ),
    })
}
