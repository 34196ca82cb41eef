//! Fast-mode validated inputs, check by check (`roles::validity`): a CP opens only a share that
//! matches the DP's signed part — not another DP's share replayed, not one for another CP, not a
//! truncated proof — the cloud decides from t consistent verifier shares and names a CP off
//! them, and refuses bundles and reports that do not have the shape the task asks for.

use dsmpc_core::codec::Encode;
use dsmpc_core::field::{Field, M61};
use dsmpc_core::harness::{Scenario, World};
use dsmpc_core::roles::cp::CpTask;
use dsmpc_core::roles::dp::{Dp, PreparedShares};
use dsmpc_core::roles::validity::{self, CheckedShare};
use dsmpc_core::round2::BundleCore;
use dsmpc_core::round3::VerificationReport;
use dsmpc_core::sharing::{SecretVec, ShareValue};
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

fn world() -> (World, ChaCha20Rng) {
    let mut scenario = Scenario::new(Function::Sum, Mode::Fast, 5, 3)
        .with_inputs(vec![vec![1, -2], vec![3, 4], vec![5, 6]], vec![1, 1, 1]);
    scenario.range = (-10, 10);
    scenario.validate = true;
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let world = World::new(&scenario, &mut rng).unwrap();
    (world, rng)
}

fn prepare(world: &World, dp: usize, input: &[i128], rng: &mut ChaCha20Rng) -> PreparedShares<M61> {
    Dp::new(world.parties.dps[dp].clone(), world.parties.roster.clone())
        .prepare::<M61, _>(&world.task.body, input, None, rng)
        .unwrap()
}

fn core_of(prepared: &PreparedShares<M61>) -> BundleCore {
    BundleCore {
        commitments: Vec::new(),
        digests: Vec::new(),
        validity: prepared.validity.clone(),
    }
}

/// CP `index`'s view of DP `dp`'s prepared share against `core`.
fn check(
    world: &World,
    dp: usize,
    core: &BundleCore,
    index: u32,
    prepared: &PreparedShares<M61>,
) -> Option<CheckedShare<M61>> {
    let task = &world.task.body;
    let circuit = task.validity_circuit::<M61>().unwrap();
    let id = world.parties.dps[dp].id();
    validity::check_share(
        task,
        &circuit,
        id,
        core,
        index,
        &prepared.payloads[index as usize - 1],
    )
}

#[test]
fn every_cp_opens_an_honest_share_and_t_verifier_shares_accept() {
    let (world, mut rng) = world();
    let prepared = prepare(&world, 0, &[1, -2], &mut rng);
    let core = core_of(&prepared);
    let task = &world.task.body;
    let circuit = task.validity_circuit::<M61>().unwrap();
    let opened: Vec<(u32, CheckedShare<M61>)> = (1..=5)
        .map(|i| (i, check(&world, 0, &core, i, &prepared).expect("opens")))
        .collect();
    let joint = validity::joint_seed(&task.id, world.parties.dps[0].id(), &core.validity);
    let weights: Vec<M61> = (0..circuit.verifier_len())
        .map(|_| M61::random(&mut rng))
        .collect();
    let shares: Vec<(u32, &[M61])> = opened
        .iter()
        .map(|(i, c)| (*i, c.verifier.as_slice()))
        .collect();
    let decision = validity::decide(task, &circuit, &joint, &shares, &weights);
    assert_eq!(decision.valid, Some(true));
    assert!(decision.inconsistent.is_empty());
    // Exactly t decide too; fewer cannot.
    assert_eq!(
        validity::decide(task, &circuit, &joint, &shares[..3], &weights).valid,
        Some(true)
    );
    assert_eq!(
        validity::decide(task, &circuit, &joint, &shares[..2], &weights).valid,
        None
    );
    // One altered share among five is named, and the verdict stands.
    let mut altered = opened[3].1.verifier.clone();
    altered[1] += M61::ONE;
    let mut with_liar = shares.clone();
    with_liar[3] = (4, altered.as_slice());
    let decision = validity::decide(task, &circuit, &joint, &with_liar, &weights);
    assert_eq!(decision.valid, Some(true));
    assert_eq!(decision.inconsistent, vec![4]);
    // The input shares reconstruct the inputs.
    let ids = [1u64, 2, 3];
    let vectors: Vec<&[M61]> = opened[..3]
        .iter()
        .map(|(_, c)| c.input.as_slice())
        .collect();
    let x = dsmpc_core::sharing::interpolate_at_zero(&ids, &vectors).unwrap();
    assert_eq!(x.as_slice(), &[M61::from_i128(1), M61::from_i128(-2)]);
}

#[test]
fn a_share_replayed_under_another_dp_or_cp_fails_its_part() {
    let (world, mut rng) = world();
    let first = prepare(&world, 0, &[1, 2], &mut rng);
    let second = prepare(&world, 1, &[1, 2], &mut rng);
    // DP 1's share checked as DP 2's, against DP 2's core or DP 1's.
    assert!(check(&world, 1, &core_of(&second), 5, &first).is_none());
    assert!(check(&world, 1, &core_of(&first), 5, &first).is_none());
    // CP 4's share presented to CP 5.
    let mut swapped = first.payloads.clone();
    swapped.swap(3, 4);
    let moved = PreparedShares {
        commitments: Vec::new(),
        validity: first.validity.clone(),
        payloads: swapped,
    };
    assert!(check(&world, 0, &core_of(&first), 5, &moved).is_none());
    // And the original opens.
    assert!(check(&world, 0, &core_of(&first), 5, &first).is_some());
}

#[test]
fn an_altered_part_a_truncated_proof_or_no_proof_is_refused() {
    let (world, mut rng) = world();
    let prepared = prepare(&world, 0, &[0, 0], &mut rng);
    let mut core = core_of(&prepared);
    core.validity[4 * 32] ^= 1;
    assert!(check(&world, 0, &core, 5, &prepared).is_none());
    let mut short = core_of(&prepared);
    short.validity.pop();
    assert!(check(&world, 0, &short, 5, &prepared).is_none());

    let core = core_of(&prepared);
    let mut truncated = prepared.payloads.clone();
    if let Some(v) = truncated[4].validity.as_mut()
        && let ShareValue::Explicit(proof) = &v.proof
    {
        let mut elements = proof.as_slice().to_vec();
        elements.pop();
        v.proof = ShareValue::Explicit(SecretVec::from_vec(elements));
    } else {
        panic!("CP 5's proof share is explicit");
    }
    let with = |payloads| PreparedShares {
        commitments: Vec::new(),
        validity: prepared.validity.clone(),
        payloads,
    };
    assert!(check(&world, 0, &core, 5, &with(truncated)).is_none());
    let mut missing = prepared.payloads.clone();
    missing[4].validity = None;
    assert!(check(&world, 0, &core, 5, &with(missing)).is_none());
}

#[test]
fn verifier_shares_that_do_not_decode_are_refused() {
    let shares = [vec![M61::ONE; 3], vec![M61::ZERO; 3]];
    let entries: Vec<(u64, &[M61])> = vec![(2, &shares[0]), (7, &shares[1])];
    let bytes = validity::encode_verifiers(&entries);
    let decoded = validity::decode_verifiers::<M61>(&bytes, 3).unwrap();
    assert_eq!(
        decoded,
        vec![(2, shares[0].clone()), (7, shares[1].clone())]
    );
    assert!(validity::decode_verifiers::<M61>(&bytes, 4).is_err());
    assert!(validity::decode_verifiers::<M61>(&bytes[..bytes.len() - 1], 3).is_err());
    let backwards: Vec<(u64, &[M61])> = vec![(7, &shares[0]), (2, &shares[1])];
    assert!(validity::decode_verifiers::<M61>(&validity::encode_verifiers(&backwards), 3).is_err());
    let mut huge = bytes.clone();
    huge[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(validity::decode_verifiers::<M61>(&huge, 3).is_err());
}

#[test]
fn the_cloud_refuses_a_bundle_without_one_part_per_cp() {
    let (mut world, mut rng) = world();
    let dp = Dp::new(world.parties.dps[0].clone(), world.parties.roster.clone());
    let mut prepared = prepare(&world, 0, &[1, 1], &mut rng);
    prepared.validity.truncate(4 * 32);
    let bundle = dp.seal(&world.task.body, &world.committee.body, &prepared, &mut rng);
    let err = world
        .cloud
        .accept_bundle(&world.task.body.id, bundle)
        .unwrap_err();
    assert!(err.to_string().contains("joint-randomness parts"), "{err}");
}

#[test]
fn the_cloud_refuses_a_report_whose_verifier_shares_miss_an_accepted_dp() {
    let (mut world, mut rng) = world();
    let id = world.task.body.id;
    for (k, input) in [[1, 2], [3, 4]].iter().enumerate() {
        let dp = Dp::new(world.parties.dps[k].clone(), world.parties.roster.clone());
        let bundle = dp
            .submit::<M61, _>(
                &world.task.body,
                &world.committee.body,
                input,
                None,
                &mut rng,
            )
            .unwrap();
        world.cloud.accept_bundle(&id, bundle).unwrap();
    }
    let identity = world.parties.cps[0].clone();
    let mut cp = CpTask::<M61>::new(
        identity.clone(),
        world.parties.roster.clone(),
        world.task.clone(),
        &world.committee,
    )
    .unwrap();
    let deliveries = world.cloud.deliveries(&id, cp.index()).unwrap();
    assert!(cp.receive(&deliveries, None, &mut rng).is_empty());
    let honest = cp.report().body;
    assert_eq!(honest.accepted.count(), 2);
    let circuit = world.task.body.validity_circuit::<M61>().unwrap();
    let shares =
        validity::decode_verifiers::<M61>(&honest.verifiers, circuit.verifier_len()).unwrap();
    let one: Vec<(u64, &[M61])> = vec![(shares[0].0, shares[0].1.as_slice())];
    let body = VerificationReport {
        verifiers: validity::encode_verifiers(&one),
        ..honest
    };
    let forged = Signed::sign(&id, &identity, body);
    let err = world.cloud.accept_report(&id, forged, None).unwrap_err();
    assert!(
        err.to_string().contains("do not match the accepted DPs"),
        "{err}"
    );
    // Sanity: the encoding of a report carries the verifier shares.
    assert!(cp.report().body.to_bytes().len() > 2 * circuit.verifier_len() * 7);
}
