//! The role servers and workers: the cloud server, the edge server, the CP worker and the DP
//! client, each driving its `dsmpc-core` state machine over Noise channels.

pub mod cloud;
pub mod cp;
pub mod dp;
pub mod edge;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dsmpc_core::crypto::pedersen::Generators;
use dsmpc_core::identity::{IdentityCard, PartyId};
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{DpEntry, Mode, Task, TaskId};

use crate::client::{Link, NetError};
use crate::rpc::{REGISTER_PAGE, Request, Response, Until};
use crate::store::Registration;

/// The signed task `id` from the cloud (its signature is the caller's to check).
pub async fn fetch_task(cloud: &Link, id: TaskId) -> Result<Signed<Task>, NetError> {
    match cloud.call(&Request::GetTask(id)).await? {
        Response::Task(task) if task.body.id == id => Ok(task),
        other => Err(NetError::Unexpected {
            peer: cloud.peer().clone(),
            request: "get-task",
            got: other.kind(),
        }),
    }
}

/// The signed task `id` with its DP list fetched page by page and checked against the header's
/// count, weight sum and Merkle root (what a CP and the edge need; a DP fetches only its own
/// entry, [`fetch_dp_entry`]).
pub async fn fetch_task_with_list(cloud: &Link, id: TaskId) -> Result<Signed<Task>, NetError> {
    let mut task = fetch_task(cloud, id).await?;
    // Sized for the list up front (a vector grown by doubling would hold up to twice it), but
    // no more than a few million entries on the header's word alone.
    let expected = usize::try_from(task.body.dps.min(1 << 22)).unwrap_or(0);
    let mut weights = Vec::with_capacity(expected);
    let mut keys = Vec::with_capacity(expected);
    while (weights.len() as u64) < task.body.dps {
        let from = weights.len() as u64;
        match cloud.call(&Request::GetDpList { task: id, from }).await? {
            Response::DpList(page) if !page.is_empty() => {
                for dp in page {
                    weights.push((dp.id, dp.weight));
                    keys.push(dp.key);
                }
            }
            other => {
                return Err(NetError::Unexpected {
                    peer: cloud.peer().clone(),
                    request: "get-dp-list",
                    got: other.kind(),
                });
            }
        }
    }
    task.body.attach_dp_parts(weights, keys)?;
    Ok(task)
}

/// Registers `cards` with the cloud `operator` is linked to (as the cloud's operator: only the
/// cloud's own key may), [`REGISTER_PAGE`] cards a request; returns how many were new and how
/// many were registered already, identically.
pub async fn register_dps(
    operator: &Link,
    cards: Vec<IdentityCard>,
) -> Result<Registration, NetError> {
    let mut done = Registration::default();
    for page in cards.chunks(REGISTER_PAGE) {
        match operator.call(&Request::RegisterDps(page.to_vec())).await? {
            Response::Registered { added, already } => {
                done.added += added;
                done.already += already;
            }
            other => {
                return Err(NetError::Unexpected {
                    peer: operator.peer().clone(),
                    request: "register-dps",
                    got: other.kind(),
                });
            }
        }
    }
    Ok(done)
}

/// `dp`'s entry in task `id`'s DP list with its Merkle proof (the caller checks it against the
/// signed header).
pub async fn fetch_dp_entry(cloud: &Link, id: TaskId, dp: &PartyId) -> Result<DpEntry, NetError> {
    let request = Request::GetDpEntry {
        task: id,
        dp: dp.clone(),
    };
    match cloud.call(&request).await? {
        Response::DpEntry(Some(entry)) => Ok(entry),
        Response::DpEntry(None) => Err(NetError::Core(dsmpc_core::Error::ProtocolViolation {
            task: id,
            reason: format!("{dp} is not a data provider of this task"),
        })),
        other => Err(NetError::Unexpected {
            peer: cloud.peer().clone(),
            request: "get-dp-entry",
            got: other.kind(),
        }),
    }
}

/// The ids of the tasks the cloud holds, once there are more than `known`, or after `longest`
/// whatever they are.
pub async fn await_tasks(
    cloud: &Link,
    known: usize,
    longest: Duration,
) -> Result<Vec<TaskId>, NetError> {
    let known = u32::try_from(known).unwrap_or(u32::MAX);
    match cloud.wait_once(Until::Tasks { known }, longest).await? {
        Response::TaskIds(ids) => Ok(ids),
        other => Err(NetError::Unexpected {
            peer: cloud.peer().clone(),
            request: "await-tasks",
            got: other.kind(),
        }),
    }
}

/// The clock, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Pedersen generators by dimension, derived once (about 10 µs per generator).
#[derive(Debug, Default, Clone)]
pub struct GeneratorCache {
    by_dim: Arc<Mutex<BTreeMap<usize, Arc<Generators>>>>,
}

impl GeneratorCache {
    /// The generators a task needs: `None` in fast mode.
    pub fn for_task(&self, task: &Task) -> Result<Option<Arc<Generators>>, dsmpc_core::Error> {
        if task.params.mode != Mode::Verifiable {
            return Ok(None);
        }
        let dim = task.dim();
        if let Some(g) = self.by_dim.lock().ok().and_then(|m| m.get(&dim).cloned()) {
            return Ok(Some(g));
        }
        let gens = Arc::new(Generators::derive(dim).map_err(|e| {
            dsmpc_core::Error::InvalidParameters {
                reason: e.to_string(),
            }
        })?);
        if let Ok(mut m) = self.by_dim.lock() {
            m.insert(dim, gens.clone());
        }
        Ok(Some(gens))
    }
}
