//! Parallel code paths give the verdicts of sequential ones: a CP's `receive` on rayon pools of
//! one, two and four threads accepts, refuses and complains about exactly the same deliveries
//! (tampered shares are still caught), and aggregates the same sums; the edge reaches the same
//! result.

use dsmpc_core::field::{Field, M31, Ristretto};
use dsmpc_core::harness::{Scenario, World};
use dsmpc_core::roles::cp::CpTask;
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::round2::ShareDelivery;
use dsmpc_core::round3::{InputSet, VerificationReport};
use dsmpc_core::sharing::ShareValue;
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

const DPS: usize = 40;
/// DPs (1-based) whose share to CP 1 is inconsistent with their commitments.
const CHEATERS: [usize; 3] = [3, 17, 38];

/// A world where every DP submitted, the cheaters with a wrong share for CP 1.
fn world<F: Field>(mode: Mode) -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let inputs = (0..DPS)
        .map(|k| (0..5).map(|j| (k * 7 + j) as i128 - 50).collect())
        .collect();
    let weights = (0..DPS).map(|k| (k % 9 + 1) as i128).collect();
    let scenario = Scenario::new(Function::WeightedSum, mode, 3, 2).with_inputs(inputs, weights);
    let mut world = World::new(&scenario, &mut rng).unwrap();
    let id = world.task.body.id;
    for (k, (identity, input)) in world
        .parties
        .dps
        .clone()
        .iter()
        .zip(&scenario.inputs)
        .enumerate()
    {
        let dp = Dp::new(identity.clone(), world.parties.roster.clone());
        let mut prepared = dp
            .prepare::<F, _>(&world.task.body, input, world.gens.as_ref(), &mut rng)
            .unwrap();
        if CHEATERS.contains(&(k + 1))
            && let ShareValue::Explicit(v) = &mut prepared.payloads[0].share
        {
            v.as_mut_slice()[0] += F::ONE;
        }
        let bundle = dp.seal(&world.task.body, &world.committee.body, &prepared, &mut rng);
        world.cloud.accept_bundle(&id, bundle).unwrap();
    }
    world
}

/// CP 1's deliveries with relay faults mixed in: a flipped ciphertext bit (dp5), a second copy of
/// dp9's delivery in the same batch, and a delivery meant for CP 2 (dp12's).
fn tampered_deliveries(world: &World) -> Vec<ShareDelivery> {
    let id = world.task.body.id;
    let mut d = world.cloud.deliveries(&id, 1).unwrap();
    let at = |d: &[ShareDelivery], dp: &str| {
        d.iter().position(|x| x.core.signer.as_str() == dp).unwrap()
    };
    let dp5 = at(&d, "dp5");
    let last = d[dp5].share.ciphertext.len() - 1;
    d[dp5].share.ciphertext[last] ^= 1;
    let dp9 = d[at(&d, "dp9")].clone();
    d.push(dp9);
    let for_cp2 = world.cloud.deliveries(&id, 2).unwrap();
    let dp12 = at(&d, "dp12");
    d[dp12] = for_cp2[at(&for_cp2, "dp12")].clone();
    d
}

/// What CP 1 concludes, run on a rayon pool of `threads` threads with a fixed generator.
fn outcome<F: Field>(
    world: &World,
    deliveries: &[ShareDelivery],
    threads: usize,
) -> (Vec<String>, VerificationReport, Vec<F>) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(99);
        let mut cp = CpTask::<F>::new(
            world.parties.cps[0].clone(),
            world.parties.roster.clone(),
            world.task.clone(),
            &world.committee,
        )
        .unwrap();
        let rejected = cp
            .receive(deliveries, world.gens.as_ref(), &mut rng)
            .into_iter()
            .map(|r| format!("{}: {}", r.dp, r.error))
            .collect();
        let report = cp.report().body;
        let sums = world_sums(world, &mut cp);
        (rejected, report, sums)
    })
}

/// The result share over exactly what the CP accepted (an input set the cloud signs for it).
fn world_sums<F: Field>(world: &World, cp: &mut CpTask<F>) -> Vec<F> {
    let input_set = InputSet {
        included: cp.accepted().clone(),
        reported: vec![cp.index()],
        culprits: Vec::new(),
    };
    let signed = Signed::sign(&world.task.body.id, &world.parties.cloud, input_set);
    let payload = cp.finish(&signed, &[], world.gens.as_ref()).unwrap();
    let mut sums = payload.sum.to_vec();
    sums.extend(payload.blind);
    sums
}

fn same_verdicts<F: Field>(mode: Mode) {
    let world = world::<F>(mode);
    let deliveries = tampered_deliveries(&world);
    let one = outcome::<F>(&world, &deliveries, 1);
    for threads in [2, 4] {
        let many = outcome::<F>(&world, &deliveries, threads);
        assert_eq!(one.0, many.0, "rejections with {threads} threads");
        assert_eq!(one.1, many.1, "report with {threads} threads");
        assert_eq!(one.2, many.2, "aggregate with {threads} threads");
    }
    let (rejected, report, _) = one;
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    let has = |prefix: &str, reason: &str| {
        rejected
            .iter()
            .any(|r| r.starts_with(prefix) && r.contains(reason))
    };
    assert!(has("dp5:", "signed digest"), "{rejected:?}");
    assert!(has("dp12:", "index 2"), "{rejected:?}");
    assert!(has("dp9:", "second delivery"), "{rejected:?}");
    let complained: Vec<String> = report.complaints.iter().map(|c| c.dp.to_string()).collect();
    let accepted = report.accepted.count() as usize;
    match mode {
        Mode::Verifiable => {
            assert_eq!(complained, ["dp17", "dp3", "dp38"]);
            assert_eq!(accepted, DPS - 2 - 3);
        }
        // Nothing to check shares against in fast mode.
        Mode::Fast => {
            assert!(complained.is_empty());
            assert_eq!(accepted, DPS - 2);
        }
    }
}

#[test]
fn verifiable_cp_gives_the_same_verdicts_on_any_number_of_threads() {
    same_verdicts::<Ristretto>(Mode::Verifiable);
}

#[test]
fn fast_cp_gives_the_same_verdicts_on_any_number_of_threads() {
    same_verdicts::<M31>(Mode::Fast);
}
