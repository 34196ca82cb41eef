//! The role servers and workers: the cloud server, the edge server, the CP worker and the DP
//! client, each driving its `dsmpc-core` state machine over Noise channels.

pub mod cloud;
pub mod cp;
pub mod dp;
pub mod edge;

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

/// How many dimensions' generators a [`GeneratorCache`] keeps: the most recently used.
const KEPT_DIMS: usize = 4;

/// Pedersen generators by dimension, derived once (about 10 µs per generator) and kept for the
/// [`KEPT_DIMS`] most recently used dimensions, so a long-running server that sees tasks of
/// many dimensions does not keep every set.
#[derive(Debug, Default, Clone)]
pub struct GeneratorCache {
    /// Most recently used last.
    by_dim: Arc<Mutex<Vec<KeptGenerators>>>,
}

/// A dimension and its generators, as a [`GeneratorCache`] keeps them.
type KeptGenerators = (usize, Arc<Generators>);

impl GeneratorCache {
    /// The cache shared by every DP submission in this process: the Python package's
    /// `Deployment.submit` and a Flower client submit round after round from one process, and
    /// deriving a model's generators (tens of thousands of points) each time would cost more
    /// than the sharing itself.
    pub fn shared() -> GeneratorCache {
        static SHARED: std::sync::OnceLock<GeneratorCache> = std::sync::OnceLock::new();
        SHARED.get_or_init(GeneratorCache::default).clone()
    }

    /// The generators a task needs: `None` in fast mode.
    pub fn for_task(&self, task: &Task) -> Result<Option<Arc<Generators>>, dsmpc_core::Error> {
        if task.params.mode != Mode::Verifiable {
            return Ok(None);
        }
        self.for_dim(task.dim())
            .map(Some)
            .map_err(|e| dsmpc_core::Error::InvalidParameters {
                reason: e.to_string(),
            })
    }

    /// The generators of vectors of length `dim`, from the cache or derived (outside the
    /// lock: two callers that miss at once both derive, and both get equal generators).
    pub fn for_dim(&self, dim: usize) -> Result<Arc<Generators>, dsmpc_core::crypto::CryptoError> {
        if let Ok(mut kept) = self.by_dim.lock()
            && let Some(at) = kept.iter().position(|(d, _)| *d == dim)
        {
            let entry = kept.remove(at);
            let gens = entry.1.clone();
            kept.push(entry);
            return Ok(gens);
        }
        let gens = Arc::new(Generators::derive(dim)?);
        if let Ok(mut kept) = self.by_dim.lock() {
            if !kept.iter().any(|(d, _)| *d == dim) {
                kept.push((dim, gens.clone()));
            }
            if kept.len() > KEPT_DIMS {
                kept.remove(0);
            }
        }
        Ok(gens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cached dimension is served without deriving again; beyond [`KEPT_DIMS`] dimensions
    /// the least recently used one is dropped, and a dimension used again stays.
    #[test]
    fn the_generator_cache_keeps_the_most_recently_used_dimensions() {
        let cache = GeneratorCache::default();
        let first = cache.for_dim(3).unwrap();
        assert!(Arc::ptr_eq(&first, &cache.for_dim(3).unwrap()));
        for dim in 4..4 + KEPT_DIMS - 1 {
            cache.for_dim(dim).unwrap();
        }
        // Dimension 3 is used again, so 4 is now the least recently used.
        assert!(Arc::ptr_eq(&first, &cache.for_dim(3).unwrap()));
        let four = cache.for_dim(4).unwrap();
        cache.for_dim(100).unwrap();
        cache.for_dim(101).unwrap();
        let kept: Vec<usize> = cache
            .by_dim
            .lock()
            .unwrap()
            .iter()
            .map(|(d, _)| *d)
            .collect();
        assert_eq!(kept.len(), KEPT_DIMS);
        assert!(kept.contains(&4) && kept.contains(&101), "{kept:?}");
        assert!(!kept.contains(&5), "{kept:?}");
        assert!(Arc::ptr_eq(&four, &cache.for_dim(4).unwrap()));
        assert_eq!(*cache.for_dim(5).unwrap(), Generators::derive(5).unwrap());
    }

    /// Every caller of the shared cache gets the same one.
    #[test]
    fn the_shared_generator_cache_is_one_per_process() {
        let gens = GeneratorCache::shared().for_dim(7).unwrap();
        assert!(Arc::ptr_eq(
            &gens,
            &GeneratorCache::shared().for_dim(7).unwrap()
        ));
    }
}
