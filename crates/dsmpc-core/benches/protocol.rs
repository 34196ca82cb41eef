//! Role benchmarks at the sizes of the protocol-core milestone:
//! (N = 1000 DPs, n = 5, t = 3, d = 1) and (N = 1000, n = 3, t = 2, d = 1000), verifiable mode,
//! plus the second shape in fast mode.
//!
//! * `dp share+commit+encrypt`: one DP's whole bundle (multiply by N for all DPs);
//! * `cp decrypt+verify+aggregate`: one CP taking all N deliveries (one batched check);
//! * `edge verify+reconstruct`: combining N DPs' commitments, checking n result shares and
//!   reconstructing.
//!
//! `cargo bench -p dsmpc-core --bench protocol`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dsmpc_core::field::{Field, M31, Ristretto};
use dsmpc_core::harness::{Scenario, World};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::roles::cp::CpTask;
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::roles::edge::EdgeTask;
use dsmpc_core::round2::ShareDelivery;
use dsmpc_core::task::{Function, Mode};
use rand::RngExt;

const N: usize = 1000;

fn scenario(mode: Mode, n: u32, t: u32, dim: usize) -> Scenario {
    let mut rng = fast_rng();
    let inputs = (0..N)
        .map(|_| (0..dim).map(|_| rng.random_range(-1000..=1000)).collect())
        .collect();
    let weights = (0..N).map(|_| rng.random_range(1..=10)).collect();
    Scenario::new(Function::WeightedSum, mode, n, t).with_inputs(inputs, weights)
}

fn bench_shape<F: Field>(c: &mut Criterion, name: &str, scenario: &Scenario) {
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
    let mut group = c.benchmark_group(name);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(4));

    group.bench_function("dp share+commit+encrypt (one DP)", |b| {
        b.iter(|| {
            dps[0]
                .submit::<F, _>(
                    &world.task.body,
                    &world.committee.body,
                    &scenario.inputs[0],
                    gens.as_ref(),
                    &mut rng,
                )
                .unwrap()
        })
    });

    for (dp, input) in dps.iter().zip(&scenario.inputs) {
        let bundle = dp
            .submit::<F, _>(
                &world.task.body,
                &world.committee.body,
                input,
                gens.as_ref(),
                &mut rng,
            )
            .unwrap();
        world.cloud.accept_bundle(&id, bundle).unwrap();
    }
    let deliveries: Vec<Vec<ShareDelivery>> = (1..=scenario.n)
        .map(|i| world.cloud.deliveries(&id, i).unwrap())
        .collect();
    let new_cp = |i: usize| {
        CpTask::<F>::new(
            world.parties.cps[i].clone(),
            world.parties.roster.clone(),
            world.task.clone(),
            &world.committee,
        )
        .unwrap()
    };
    group.bench_function(format!("cp decrypt+verify+aggregate ({N} DPs)"), |b| {
        b.iter_batched(
            || new_cp(0),
            |mut cp| {
                let rejected =
                    cp.receive(black_box(&deliveries[0]), gens.as_ref(), &mut fast_rng());
                assert!(rejected.is_empty());
                cp
            },
            BatchSize::LargeInput,
        )
    });

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
    group.bench_function(format!("edge verify+reconstruct ({N} DPs)"), |b| {
        b.iter(|| {
            let mut edge = EdgeTask::<F>::new(
                world.parties.edge.clone(),
                world.parties.roster.clone(),
                world.task.clone(),
                &world.committee,
            )
            .unwrap();
            edge.set_input_set(&input_set, &summaries).unwrap();
            for s in &shares {
                edge.receive(s, gens.as_ref()).unwrap();
            }
            edge.finish(&mut fast_rng()).unwrap()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_shape::<Ristretto>(
        c,
        "verifiable N=1000 n=5 t=3 d=1",
        &scenario(Mode::Verifiable, 5, 3, 1),
    );
    bench_shape::<Ristretto>(
        c,
        "verifiable N=1000 n=3 t=2 d=1000",
        &scenario(Mode::Verifiable, 3, 2, 1000),
    );
    bench_shape::<M31>(
        c,
        "fast N=1000 n=3 t=2 d=1000",
        &scenario(Mode::Fast, 3, 2, 1000),
    );
}

criterion_group!(protocol, benches);
criterion_main!(protocol);
