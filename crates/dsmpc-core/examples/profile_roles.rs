//! Runs one role of one benchmark shape in a loop, for profiling with `perf record` or callgrind
//! without the setup of the other shapes:
//!
//! `cargo run --release -p dsmpc-core --example profile_roles -- fast-d1000 cp 20`
//!
//! Shapes: `v-t3-d1` (verifiable, n = 5, t = 3, d = 1), `v-d1000` (verifiable, n = 3, t = 2,
//! d = 1000), `fast-d1000` (fast, GF(2^31-1), n = 3, t = 2, d = 1000); 1000 DPs each. Roles:
//! `dp`, `cp`, `edge`.

use std::time::Instant;

use dsmpc_core::field::{Field, M31, Ristretto};
use dsmpc_core::harness::{Scenario, World};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cp::CpTask;
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::roles::edge::EdgeTask;
use dsmpc_core::task::{Function, Mode};
use rand::RngExt;

const N: usize = 1000;

/// This process's CPU time (all threads, user + system) in seconds, from `/proc/self/stat`
/// (Linux; 0 elsewhere), to tell work from waiting on a loaded machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// Wall and CPU time per repetition since `start`.
fn report(what: &str, start: (Instant, f64), reps: usize) {
    let wall = start.0.elapsed().as_secs_f64() / reps as f64;
    let cpu = (cpu_seconds() - start.1) / reps as f64;
    println!("{what}: wall {:.3} ms, cpu {:.3} ms", wall * 1e3, cpu * 1e3);
}

fn now() -> (Instant, f64) {
    (Instant::now(), cpu_seconds())
}

fn scenario(mode: Mode, n: u32, t: u32, dim: usize) -> Scenario {
    let mut rng = fast_rng();
    let inputs = (0..N)
        .map(|_| (0..dim).map(|_| rng.random_range(-1000..=1000)).collect())
        .collect();
    let weights = (0..N).map(|_| rng.random_range(1..=10)).collect();
    Scenario::new(Function::WeightedSum, mode, n, t).with_inputs(inputs, weights)
}

fn run<F: Field>(scenario: &Scenario, role: &str, reps: usize) {
    let mut rng = fast_rng();
    let mut world = World::new(scenario, &mut rng).unwrap();
    let id = world.task.body.id;
    let gens = world.gens.take();
    let dps: Vec<Dp> = world
        .parties
        .dps
        .iter()
        .map(|d| Dp::new(d.clone(), world.parties.roster.clone()))
        .collect();
    let submit = |k: usize, rng: &mut _| {
        dps[k]
            .submit::<F, _>(
                &world.task.body,
                &world.committee.body,
                &scenario.inputs[k],
                gens.as_ref(),
                rng,
            )
            .unwrap()
    };
    if role == "dp" {
        let start = now();
        for _ in 0..reps {
            submit(0, &mut rng);
        }
        report("dp (one bundle)", start, reps);
        return;
    }
    for k in 0..N {
        let bundle = submit(k, &mut rng);
        world.cloud.accept_bundle(&id, bundle).unwrap();
    }
    let deliveries: Vec<_> = (1..=scenario.n)
        .map(|i| world.cloud.deliveries(&id, i).unwrap())
        .collect();
    let new_cp = |i: usize| {
        CpTask::<F>::new(
            world.parties.cps[i].clone(),
            world.parties.roster.clone(),
            &world.task,
            &world.committee,
        )
        .unwrap()
    };
    if role == "cp" {
        let start = now();
        for _ in 0..reps {
            let mut cp = new_cp(0);
            assert!(
                cp.receive(&deliveries[0], gens.as_ref(), &mut rng)
                    .is_empty()
            );
        }
        report("cp (all deliveries)", start, reps);
        return;
    }
    let mut cps: Vec<CpTask<F>> = (0..scenario.n as usize).map(new_cp).collect();
    for (cp, d) in cps.iter_mut().zip(&deliveries) {
        cp.receive(d, gens.as_ref(), &mut rng);
        world
            .cloud
            .accept_report(&id, cp.report(), gens.as_ref())
            .unwrap();
    }
    let input_set = world.cloud.close_input_set(&id).unwrap();
    let summaries = world.cloud.summaries(&id).unwrap();
    let shares: Vec<_> = cps
        .iter_mut()
        .map(|cp| {
            let payload = cp.finish(&input_set, &[], gens.as_ref()).unwrap();
            cp.seal_result(&payload, &mut fast_rng())
        })
        .collect();
    let start = now();
    for _ in 0..reps {
        let mut edge = EdgeTask::<F>::new(
            world.parties.edge.clone(),
            world.parties.roster.clone(),
            &world.task,
            &world.committee,
        )
        .unwrap();
        edge.set_input_set(&input_set, &summaries).unwrap();
        for s in &shares {
            edge.receive(s, gens.as_ref()).unwrap();
        }
        edge.finish(&mut fast_rng()).unwrap();
    }
    report("edge (one result)", start, reps);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let shape = args.get(1).map_or("fast-d1000", String::as_str);
    let role = args.get(2).map_or("cp", String::as_str);
    let reps = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(10);
    match shape {
        "v-t3-d1" => run::<Ristretto>(&scenario(Mode::Verifiable, 5, 3, 1), role, reps),
        "v-d1000" => run::<Ristretto>(&scenario(Mode::Verifiable, 3, 2, 1000), role, reps),
        "fast-d1000" => run::<M31>(&scenario(Mode::Fast, 3, 2, 1000), role, reps),
        other => panic!("unknown shape {other}"),
    }
}
