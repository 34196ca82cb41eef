//! `bench p3-validated`'s client comparison: one data provider's upload and CPU for a validated
//! vector in dsmpc's fast mode against Prio3SumVec (the `prio` crate, the VDAF Janus runs) at the
//! same length, bits and number of aggregators, measured in alternating rounds in this process.
//!
//! dsmpc's DP is timed twice: sharing and proving alone (what Prio3's `shard` does), and the
//! whole submission (plus sealing each share to its CP and signing, which Prio3 leaves to its
//! transport: HPKE in DAP). Upload is the encoded bundle against Prio3's public share, input
//! shares and nonce.

use std::time::Instant;

use anyhow::{Context, Result};
use dsmpc_core::codec::Encode;
use dsmpc_core::field::M61;
use dsmpc_core::harness::{Scenario, World};
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::task::{Function, Mode};
use dsmpc_net::bench::ProtocolShape;
use prio::codec::Encode as PrioEncode;
use prio::vdaf::Client;
use prio::vdaf::prio3::{Prio3, optimal_chunk_length};
use rand::RngExt;
use serde_json::{Value, json};

use super::median;

/// Measures `rounds` alternating rounds of one dsmpc DP and one Prio3SumVec client for `shape`
/// (fast mode, validated, inputs in `0..=max`).
pub fn compare(shape: ProtocolShape, max: u64, rounds: usize) -> Result<Value> {
    let dim = shape.dim as usize;
    let mut scenario = Scenario::new(Function::Sum, Mode::Fast, shape.cps, shape.threshold)
        .with_inputs(vec![vec![0; dim]], vec![1]);
    scenario.range = (0, i128::from(max));
    scenario.validate = true;
    let mut rng = dsmpc_core::rng::fast_rng();
    let world = World::new(&scenario, &mut rng).context("setting up the dsmpc task")?;
    let task = &world.task.body;
    let dp = Dp::new(world.parties.dps[0].clone(), world.parties.roster.clone());
    let aggregators = u8::try_from(shape.cps).context("too many aggregators for Prio3")?;
    let vdaf = Prio3::new_sum_vec(
        aggregators,
        u128::from(max),
        dim,
        optimal_chunk_length(dim * (64 - max.leading_zeros()) as usize),
    )
    .context("Prio3SumVec")?;
    let (mut prove_ms, mut submit_ms, mut shard_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut dsmpc_bytes, mut prio_bytes) = (0, 0);
    for _ in 0..rounds {
        let input: Vec<i128> = (0..dim)
            .map(|_| i128::from(rng.random_range(0..=max)))
            .collect();
        let started = Instant::now();
        let prepared = dp.prepare::<M61, _>(task, &input, None, &mut rng)?;
        let proved = started.elapsed().as_secs_f64() * 1e3;
        let bundle = dp.seal(task, &world.committee.body, &prepared, &mut rng);
        prove_ms.push(proved);
        submit_ms.push(started.elapsed().as_secs_f64() * 1e3);
        dsmpc_bytes = bundle.to_bytes().len();

        let measurement: Vec<u128> = input.iter().map(|&x| x as u128).collect();
        let nonce: [u8; 16] = rng.random();
        let started = Instant::now();
        let (public, shares) = vdaf
            .shard(b"dsmpc bench", &measurement, &nonce)
            .context("Prio3 shard")?;
        shard_ms.push(started.elapsed().as_secs_f64() * 1e3);
        prio_bytes = nonce.len()
            + public.get_encoded().map(|e| e.len()).unwrap_or(0)
            + shares
                .iter()
                .map(|s| s.get_encoded().map(|e| e.len()).unwrap_or(0))
                .sum::<usize>();
    }
    let (prove, submit, shard) = (median(&prove_ms), median(&submit_ms), median(&shard_ms));
    Ok(json!({
        "rounds": rounds,
        "bits": 64 - max.leading_zeros(),
        "aggregators": shape.cps,
        "dsmpc_upload_bytes": dsmpc_bytes,
        "prio3_upload_bytes": prio_bytes,
        "upload_ratio": dsmpc_bytes as f64 / prio_bytes as f64,
        "dsmpc_share_and_prove_ms": prove,
        "dsmpc_submit_ms": submit,
        "prio3_shard_ms": shard,
        "cpu_ratio_share_and_prove": prove / shard,
        "cpu_ratio_submit": submit / shard,
        "dsmpc_share_and_prove_runs_ms": prove_ms,
        "prio3_shard_runs_ms": shard_ms,
    }))
}
