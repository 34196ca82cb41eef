//! Foundation benchmarks: share, reconstruct and weighted dot product per field at d = 10^3, 10^5
//! and 10^6. Throughput is in secret elements (share, reconstruct) or multiply-adds (dot).
//!
//! `cargo bench -p dsmpc-core --bench foundation`

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use dsmpc_core::field::{Field, M31, M61, Ristretto};
use dsmpc_core::rng::fast_rng;
use dsmpc_core::sharing::{Scheme, reconstruct, share};

const DIMS: [usize; 3] = [1_000, 100_000, 1_000_000];
const N: u32 = 5;
const T: u32 = 3;

fn random_vec<F: Field>(dim: usize) -> Vec<F> {
    let mut rng = fast_rng();
    (0..dim).map(|_| F::random(&mut rng)).collect()
}

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, dim: usize) {
    group.throughput(Throughput::Elements(dim as u64));
    if dim >= 100_000 {
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
    }
}

fn bench_field<F: Field>(c: &mut Criterion) {
    let name = F::ID.name();
    let scheme = Scheme::shamir(N, T).unwrap();
    for dim in DIMS {
        let secret = random_vec::<F>(dim);
        let mut group = c.benchmark_group(format!("{name}/d={dim}"));
        configure(&mut group, dim);
        let mut rng = fast_rng();
        group.bench_function(BenchmarkId::from_parameter("share shamir 3-of-5"), |b| {
            b.iter(|| share(black_box(&secret), scheme, false, &mut rng).unwrap())
        });
        group.bench_function(
            BenchmarkId::from_parameter("share shamir 3-of-5 seeded"),
            |b| b.iter(|| share(black_box(&secret), scheme, true, &mut rng).unwrap()),
        );
        let shares = share(&secret, scheme, false, &mut rng).unwrap();
        let subset = [shares[4].clone(), shares[1].clone(), shares[2].clone()];
        group.bench_function(BenchmarkId::from_parameter("reconstruct 3-of-5"), |b| {
            b.iter(|| reconstruct(black_box(&subset), scheme, dim).unwrap())
        });
        let weights = random_vec::<F>(dim);
        group.bench_function(BenchmarkId::from_parameter("dot"), |b| {
            b.iter(|| F::dot(black_box(&secret), black_box(&weights)))
        });
        group.finish();
    }
}

fn benches(c: &mut Criterion) {
    bench_field::<M31>(c);
    bench_field::<M61>(c);
    bench_field::<Ristretto>(c);
}

criterion_group!(foundation, benches);
criterion_main!(foundation);
