//! What the protocol itself costs, apart from sockets, Noise and storage: each `dsmpc bench`
//! protocol scenario run through `dsmpc_core::harness::run_task`, which drives the same role
//! state machines as the servers (every key, seal, signature, commitment and check) and passes
//! every message through the wire codec, but in memory, without TCP, channels or SQLite.
//!
//! It prints the CPU time per DP (all threads, user and system; Linux only) of key generation
//! and admission (`setup`) and of everything after (`protocol`). Added to the channel's cost per
//! connection (the `connection_cost` example), that is the floor under a scenario's CPU time in
//! `dsmpc bench`; what `dsmpc bench` measures above it is the servers' work: framing, the
//! runtime's wake-ups, system calls and the durable commits.
//!
//! ```sh
//! cargo run --release -p dsmpc-net --example protocol_cost [-- SCENARIO... [--dps N]]
//! ```
//!
//! Scenarios: `p1`, `p3`, `p3v`, `p5` (all four by default). `--dps N` sets p5's DP count
//! (default 10,000). The harness's DPs each check the whole signed task, whose weights grow with
//! N, so a harness run costs N²: at 100,000 DPs it takes ten minutes, and what is left after
//! subtracting the checks is no longer a steady figure (1.4 core-ms per DP against 0.8–0.9 at
//! 10,000), while `dsmpc bench`'s own cost per DP does not grow with N.

use std::time::Instant;

use dsmpc_core::harness::{Scenario, World, run_task};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::dp::Dp;
use dsmpc_net::bench::{ProtocolShape, process_cpu_seconds, protocol_shape};
use dsmpc_net::simulate;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One scenario's name and shape, as `dsmpc bench` runs it (p5 with `p5_dps` DPs).
struct Shape {
    name: String,
    shape: ProtocolShape,
}

fn shape(name: &str, p5_dps: usize) -> Result<Shape, Error> {
    let mut shape = protocol_shape(name)
        .ok_or_else(|| format!("unknown scenario {name:?} (p1, p3, p3v or p5)"))?;
    if name == "p5" {
        shape.dps = p5_dps;
    }
    Ok(Shape {
        name: name.to_owned(),
        shape,
    })
}

/// The scenario with the inputs `dsmpc bench` draws (`simulate::random_entries` and
/// `random_values`: values in ±1000, weights in 1..=10 for a weighted sum).
fn scenario(shape: &ProtocolShape) -> Scenario {
    let seed = simulate::random_seed();
    let entries = simulate::random_entries(shape.dps, shape.function.is_weighted(), 1);
    let (values, weights) = entries
        .into_iter()
        .enumerate()
        .map(|(k, e)| {
            let values = simulate::random_values(&seed, k, shape.dim as usize, (-1000, 1000));
            (values, e.weight)
        })
        .unzip();
    Scenario::new(shape.function, shape.mode, shape.cps, shape.threshold)
        .with_inputs(values, weights)
}

/// CPU seconds and wall seconds `work` took.
fn measure<T>(work: impl FnOnce() -> Result<T, Error>) -> Result<(T, f64, f64), Error> {
    let (clock, before) = (Instant::now(), process_cpu_seconds());
    let value = work()?;
    let wall = clock.elapsed().as_secs_f64();
    let cpu = before
        .zip(process_cpu_seconds())
        .map(|(b, a)| a - b)
        .ok_or("no /proc/self/stat: CPU time is measured on Linux only")?;
    Ok((value, cpu, wall))
}

/// Seconds one DP's check of the signed task and committee takes (`Dp::check_setup`, the mean
/// of 200 checks on this thread, timed by the clock: the check runs on one thread, and the CPU
/// counter ticks only every 10 ms). In the harness every DP makes it; in a simulation the operator
/// makes it once for all DPs, so it is subtracted from the protocol's cost. The task is a header
/// and the DP checks its own entry's Merkle proof, so it hardly grows with N.
fn setup_check_seconds(world: &World) -> Result<f64, Error> {
    let me = world.parties.dps[0].clone();
    let dp = Dp::new(me.clone(), world.parties.roster.clone());
    let tree = world.task.body.dp_tree();
    let entry = world
        .task
        .body
        .entry_in(&tree, me.id())
        .ok_or("the first DP is not in the task")?;
    let checks = 200;
    let clock = Instant::now();
    for _ in 0..checks {
        dp.check_setup(&world.task, &world.committee, &entry)?;
    }
    Ok(clock.elapsed().as_secs_f64() / f64::from(checks))
}

fn run(Shape { name, shape }: &Shape) -> Result<(), Error> {
    let scenario = scenario(shape);
    let (world, setup_cpu, _) = measure(|| Ok(World::new(&scenario, &mut fast_rng())?))?;
    let check = setup_check_seconds(&world)?;
    drop(world);
    let (outcome, run_cpu, run_wall) = measure(|| Ok(run_task(&scenario, &mut fast_rng())?))?;
    let included = &outcome.included;
    if included.len() != shape.dps || outcome.result.sums != scenario.expected(included) {
        return Err(format!("{name}: the result is not the plaintext sum").into());
    }
    let per_dp_ms = |cpu: f64| 1000.0 * cpu / shape.dps as f64;
    let checks_cpu = check * shape.dps as f64;
    let protocol_cpu = (run_cpu - setup_cpu - checks_cpu).max(0.0);
    println!(
        "{}: {} DPs, setup {:.3} core-ms per DP, protocol {:.3} core-ms per DP \
         (run {:.2} core-s in {:.2} s of wall time, less {:.3} core-ms per DP of DPs checking \
         the task and committee)",
        name,
        shape.dps,
        per_dp_ms(setup_cpu),
        per_dp_ms(protocol_cpu),
        run_cpu,
        run_wall,
        1000.0 * check,
    );
    Ok(())
}

fn main() -> Result<(), Error> {
    // One worker thread for rayon's parallel loops: its idle workers spin for a while before
    // they sleep, and a CPU-time measurement would count the spinning as the protocol's work.
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()?;
    let mut names = Vec::new();
    let mut p5_dps = 10_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--dps" {
            p5_dps = args.next().ok_or("--dps needs a number")?.parse()?;
        } else {
            names.push(arg);
        }
    }
    if names.is_empty() {
        names = ["p1", "p3", "p3v", "p5"].map(String::from).to_vec();
    }
    let shapes = names
        .iter()
        .map(|n| shape(n, p5_dps))
        .collect::<Result<Vec<_>, _>>()?;
    for shape in &shapes {
        run(shape)?;
    }
    Ok(())
}
