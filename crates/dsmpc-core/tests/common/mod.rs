//! What several test files share: a deterministic run in which every message kind appears.

use dsmpc_core::harness::{Outcome, Scenario, run_task};
use dsmpc_core::task::{Function, Mode};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

/// Every message kind, by its name on the wire.
pub const KINDS: [&str; 11] = [
    "task",
    "admission-request",
    "admission-grant",
    "committee",
    "bundle",
    "share-delivery",
    "bundle-summary",
    "verification-report",
    "input-set",
    "result-share",
    "task-result",
];

/// A small deterministic verifiable run with a complaint, so every message kind appears.
pub fn sample_run() -> Outcome {
    let mut s = Scenario::new(Function::WeightedSum, Mode::Verifiable, 3, 2)
        .with_inputs(vec![vec![3, -4], vec![5, 6], vec![-7, 8]], vec![2, 1, 3]);
    s.faults.cheat_dps = vec![(2, 1)];
    run_task(&s, &mut ChaCha20Rng::seed_from_u64(2024)).unwrap()
}
