//! Single checks of the roles, driven by hand from an admitted [`World`]: what a CP refuses from a
//! tampering relay, and how a complaint with a forged shared secret is judged.

use dsmpc_core::Error;
use dsmpc_core::crypto::kem;
use dsmpc_core::dpset::DpSet;
use dsmpc_core::field::Ristretto;
use dsmpc_core::harness::{Scenario, World};
use dsmpc_core::identity::PartyId;
use dsmpc_core::roles::cp::CpTask;
use dsmpc_core::roles::dp::Dp;
use dsmpc_core::roles::edge::EdgeTask;
use dsmpc_core::round2::ShareDelivery;
use dsmpc_core::round3::{Culprit, CulpritReason, InputSet};
use dsmpc_core::signed::Signed;
use dsmpc_core::task::{Function, Mode};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

fn world_with_bundles() -> (World, ChaCha20Rng) {
    let scenario = Scenario::new(Function::Sum, Mode::Verifiable, 3, 2)
        .with_inputs(vec![vec![1, 2], vec![3, 4], vec![5, 6]], vec![1, 1, 1]);
    world_holding_bundles(&scenario, 31)
}

/// An admitted world of `scenario` whose cloud holds every DP's bundle.
fn world_holding_bundles(scenario: &Scenario, seed: u64) -> (World, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut world = World::new(scenario, &mut rng).unwrap();
    let id = world.task.body.id;
    for (identity, input) in world.parties.dps.clone().iter().zip(&scenario.inputs) {
        let dp = Dp::new(identity.clone(), world.parties.roster.clone());
        let bundle = dp
            .submit::<Ristretto, _>(
                &world.task.body,
                &world.committee.body,
                input,
                world.gens.as_ref(),
                &mut rng,
            )
            .unwrap();
        world.cloud.accept_bundle(&id, bundle).unwrap();
    }
    (world, rng)
}

fn cp(world: &World, i: usize) -> CpTask<Ristretto> {
    CpTask::new(
        world.parties.cps[i].clone(),
        world.parties.roster.clone(),
        world.task.clone(),
        &world.committee,
    )
    .unwrap()
}

/// The edge's state for the world's task.
fn edge_of(world: &World) -> EdgeTask<Ristretto> {
    EdgeTask::new(
        world.parties.edge.clone(),
        world.parties.roster.clone(),
        world.task.clone(),
        &world.committee,
    )
    .unwrap()
}

fn deliveries(world: &World, index: u32) -> Vec<ShareDelivery> {
    world.cloud.deliveries(&world.task.body.id, index).unwrap()
}

#[test]
fn honest_deliveries_are_all_accepted() {
    let (world, mut rng) = world_with_bundles();
    let mut cp1 = cp(&world, 0);
    assert!(
        cp1.receive(&deliveries(&world, 1), world.gens.as_ref(), &mut rng)
            .is_empty()
    );
    assert_eq!(cp1.accepted().count(), 3);
    assert!(cp1.report().body.complaints.is_empty());
}

#[test]
fn a_tampered_ciphertext_from_the_relay_is_refused_without_complaint() {
    let (world, mut rng) = world_with_bundles();
    let mut d = deliveries(&world, 1);
    let last = d[0].share.ciphertext.len() - 1;
    d[0].share.ciphertext[last] ^= 1;
    let mut cp1 = cp(&world, 0);
    let rejected = cp1.receive(&d, world.gens.as_ref(), &mut rng);
    assert_eq!(rejected.len(), 1);
    assert!(
        rejected[0].error.to_string().contains("signed digest"),
        "{}",
        rejected[0].error
    );
    assert!(
        cp1.report().body.complaints.is_empty(),
        "the DP is not blamed for the relay"
    );
    assert_eq!(cp1.accepted().count(), 2);
}

#[test]
fn a_delivery_for_another_cp_or_with_a_forged_signature_is_refused() {
    let (world, mut rng) = world_with_bundles();
    let mut cp1 = cp(&world, 0);
    let for_cp2 = deliveries(&world, 2);
    assert_eq!(
        cp1.receive(&for_cp2, world.gens.as_ref(), &mut rng).len(),
        3
    );

    let mut forged = deliveries(&world, 1);
    forged[1].core.signer = PartyId::new("dp1").unwrap(); // dp2's core, claimed by dp1
    let rejected = cp1.receive(&forged[1..2], world.gens.as_ref(), &mut rng);
    assert!(
        matches!(rejected[0].error, Error::BadSignature { .. }),
        "{}",
        rejected[0].error
    );
}

#[test]
fn a_forged_signature_in_a_page_is_named_and_the_rest_of_the_page_accepted() {
    let (world, mut rng) = world_with_bundles();
    let mut cp1 = cp(&world, 0);
    let mut page = deliveries(&world, 1);
    // The page's batch check fails, so each signature is checked alone to name the signer.
    page[1].core.signature = page[0].core.signature;
    let rejected = cp1.receive(&page, world.gens.as_ref(), &mut rng);
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].dp, page[1].core.signer);
    assert!(
        matches!(rejected[0].error, Error::BadSignature { ref signer } if *signer == page[1].core.signer),
        "{}",
        rejected[0].error
    );
    assert_eq!(cp1.accepted().count(), 2);
    assert!(
        cp1.report().body.complaints.is_empty(),
        "the DP is not blamed for the relay"
    );
}

/// The edge folds commitments page by page in input-set order: two pages are taken like one, a
/// page out of order is refused naming whose commitments were due, a missing DP is named at the
/// end, and more commitments than included DPs are refused.
#[test]
fn the_edge_folds_commitments_page_by_page_in_input_set_order() {
    let (mut world, _) = world_with_bundles();
    let id = world.task.body.id;
    let input_set = world.cloud.close_input_set(&id).unwrap();
    let summaries = world.cloud.summaries(&id).unwrap();
    assert!(summaries.len() >= 3);
    let edge = || edge_of(&world);
    let mut paged = edge();
    paged.begin_input_set(&input_set).unwrap();
    paged.fold_summaries(&summaries[..1]).unwrap();
    paged.fold_summaries(&summaries[1..]).unwrap();
    paged.end_input_set().unwrap();

    let mut swapped = edge();
    swapped.begin_input_set(&input_set).unwrap();
    let err = swapped.fold_summaries(&summaries[1..2]).unwrap_err();
    let due = summaries[0].signer.as_str();
    assert!(
        err.to_string().contains(&format!("where {due}'s were due")),
        "{err}"
    );

    let mut short = edge();
    short.begin_input_set(&input_set).unwrap();
    short.fold_summaries(&summaries[..1]).unwrap();
    let err = short.end_input_set().unwrap_err();
    let missing = summaries[1].signer.as_str();
    assert!(
        err.to_string()
            .contains(&format!("no commitments from {missing}")),
        "{err}"
    );
    let err = short.fold_summaries(&summaries).unwrap_err();
    assert!(
        err.to_string()
            .contains("more commitments than included DPs"),
        "{err}"
    );
}

#[test]
fn the_edge_refuses_an_input_set_whose_summary_signature_is_forged() {
    let (mut world, _) = world_with_bundles();
    let id = world.task.body.id;
    let input_set = world.cloud.close_input_set(&id).unwrap();
    let summaries = world.cloud.summaries(&id).unwrap();
    let edge = || edge_of(&world);
    edge().set_input_set(&input_set, &summaries).unwrap();

    let mut forged = summaries.clone();
    forged[2].signature = forged[0].signature;
    let err = edge().set_input_set(&input_set, &forged).unwrap_err();
    assert!(
        matches!(err, Error::BadSignature { ref signer } if *signer == forged[2].signer),
        "{err}"
    );
}

#[test]
fn a_second_delivery_from_the_same_dp_is_refused() {
    let (world, mut rng) = world_with_bundles();
    let mut cp1 = cp(&world, 0);
    let d = deliveries(&world, 1);
    cp1.receive(&d, world.gens.as_ref(), &mut rng);
    let again = cp1.receive(&d[..1], world.gens.as_ref(), &mut rng);
    assert!(again[0].error.to_string().contains("second delivery"));
}

#[test]
fn a_complaint_with_a_forged_shared_secret_names_the_cp() {
    let (mut world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let mut cp2 = cp(&world, 1);
    let d = deliveries(&world, 2);
    cp2.receive(&d, world.gens.as_ref(), &mut rng);
    cp2.complain(&d[0], &mut rng);
    // Swap in another sealed share's shared secret: a real point, but not this share's.
    let mut report = cp2.report().body;
    let other =
        kem::shared_secret(world.parties.cps[1].kem_secret(), &d[1].share.ephemeral).unwrap();
    report.complaints[0].shared_secret = other.to_bytes();
    let report = Signed::sign(&id, &world.parties.cps[1], report);
    world
        .cloud
        .accept_report(&id, report, world.gens.as_ref())
        .unwrap();
    let input_set = world.cloud.close_input_set(&id).unwrap().body;
    assert_eq!(input_set.included.count(), 3, "dp1 stays in");
    assert_eq!(
        input_set.culprits,
        vec![Culprit {
            party: PartyId::new("cp2").unwrap(),
            reason: CulpritReason::FalseComplaint
        }]
    );
}

#[test]
fn a_report_for_another_index_is_refused() {
    let (mut world, _) = world_with_bundles();
    let id = world.task.body.id;
    let mut report = cp(&world, 0).report().body;
    report.index = 2;
    let report = Signed::sign(&id, &world.parties.cps[0], report);
    let err = world
        .cloud
        .accept_report(&id, report, world.gens.as_ref())
        .unwrap_err();
    assert!(err.to_string().contains("another index"), "{err}");
}

/// Sets name DPs by position in the task's list: a set over a list of another length names
/// other DPs, and the cloud (a report), the CPs and the edge (an input set) refuse it.
#[test]
fn a_set_over_another_list_is_refused_by_everyone() {
    let (mut world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let mut report = cp(&world, 0).report().body;
    report.accepted = DpSet::full(4);
    let report = Signed::sign(&id, &world.parties.cps[0], report);
    let err = world
        .cloud
        .accept_report(&id, report, world.gens.as_ref())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the report is a set over 4 DPs, the task lists 3"),
        "{err}"
    );

    let long = InputSet {
        included: DpSet::full(4),
        reported: vec![1, 2, 3],
        culprits: Vec::new(),
    };
    let long = Signed::sign(&id, &world.parties.cloud, long);
    let err = edge_of(&world).begin_input_set(&long).unwrap_err();
    assert!(
        err.to_string().contains("input set is a set over 4"),
        "{err}"
    );
    let mut cp1 = cp(&world, 0);
    cp1.receive(&deliveries(&world, 1), world.gens.as_ref(), &mut rng);
    let err = cp1
        .finish(&long, &[], world.gens.as_ref())
        .map(|_| ())
        .unwrap_err();
    assert!(
        err.to_string().contains("input set is a set over 4"),
        "{err}"
    );
}

/// The input set names the CPs whose reports the cloud took; with fewer than t of them the edge
/// knows at once that no result can come, and names the others. A list out of order or out of
/// range is refused.
#[test]
fn too_few_reporters_end_the_task_at_once_naming_the_others() {
    let (mut world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let mut cp1 = cp(&world, 0);
    cp1.receive(&deliveries(&world, 1), world.gens.as_ref(), &mut rng);
    world
        .cloud
        .accept_report(&id, cp1.report(), world.gens.as_ref())
        .unwrap();
    let input_set = world.cloud.close_input_set(&id).unwrap();
    assert_eq!(input_set.body.reported, vec![1]);
    let edge = || edge_of(&world);
    let mut short = edge();
    short.begin_input_set(&input_set).unwrap();
    let failure = short.too_few_reported().expect("1 of 3 reported, t = 2");
    assert_eq!(failure.reason, "only 1 of 3 CPs reported; threshold 2");
    assert_eq!(
        failure.to_string(),
        "only 1 of 3 CPs reported; threshold 2 (missing: cp2, cp3)"
    );
    for bad in [vec![2, 1], vec![0], vec![4], vec![1, 1]] {
        let mut body = input_set.body.clone();
        body.reported = bad.clone();
        let forged = Signed::sign(&id, &world.parties.cloud, body);
        let err = edge().begin_input_set(&forged).unwrap_err();
        assert!(
            err.to_string().contains("indices run 1..=3"),
            "{bad:?}: {err}"
        );
    }
    let mut body = input_set.body.clone();
    body.reported = vec![1, 3];
    let enough = Signed::sign(&id, &world.parties.cloud, body);
    let mut fine = edge();
    fine.begin_input_set(&enough).unwrap();
    assert!(fine.too_few_reported().is_none());
    assert_eq!(
        fine.too_few_shares().to_string(),
        "only 0 of 3 CPs sent a valid result share; threshold 2 (missing: cp1, cp2, cp3)"
    );
}

fn fresh_bundle(world: &World, rng: &mut ChaCha20Rng) -> dsmpc_core::round2::Bundle {
    let dp = Dp::new(world.parties.dps[0].clone(), world.parties.roster.clone());
    dp.submit::<Ristretto, _>(
        &world.task.body,
        &world.committee.body,
        &[7, 7],
        world.gens.as_ref(),
        rng,
    )
    .unwrap()
}

#[test]
fn the_cloud_refuses_bundles_that_are_not_what_the_dp_signed() {
    let (mut world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let original = world
        .cloud
        .delivery(&id, &PartyId::new("dp1").unwrap(), 1)
        .unwrap()
        .unwrap();
    let mut bundle = fresh_bundle(&world, &mut rng);

    let mut tampered = bundle.clone();
    tampered.shares[1].ciphertext[0] ^= 1;
    let err = world.cloud.accept_bundle(&id, tampered).unwrap_err();
    assert!(
        err.to_string().contains("does not match its signed digest"),
        "{err}"
    );

    let mut short = bundle.clone();
    short.shares.pop();
    let err = world.cloud.accept_bundle(&id, short).unwrap_err();
    assert!(err.to_string().contains("2 shares and 3 digests"), "{err}");

    bundle.core.body.commitments.pop();
    let err = world.cloud.accept_bundle(&id, bundle).unwrap_err();
    assert!(matches!(err, Error::BadSignature { .. }), "{err}");

    // dp1 already submitted; a different second bundle is refused, the first stays.
    let err = world
        .cloud
        .accept_bundle(&id, fresh_bundle(&world, &mut rng))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("already submitted a different bundle"),
        "{err}"
    );
    let kept = world
        .cloud
        .delivery(&id, &PartyId::new("dp1").unwrap(), 1)
        .unwrap()
        .unwrap();
    assert_eq!(kept, original);
}

#[test]
fn an_identical_resend_is_accepted_again() {
    let mut rng = ChaCha20Rng::seed_from_u64(32);
    let scenario =
        Scenario::new(Function::Sum, Mode::Verifiable, 3, 2).with_inputs(vec![vec![1, 2]], vec![1]);
    let mut world = World::new(&scenario, &mut rng).unwrap();
    let id = world.task.body.id;
    let bundle = fresh_bundle(&world, &mut rng);
    world.cloud.accept_bundle(&id, bundle.clone()).unwrap();
    world.cloud.accept_bundle(&id, bundle).unwrap();
    assert_eq!(world.cloud.submitted(&id).unwrap().len(), 1);
}

/// Found by `simulate`: paging in DP id order let a CP that had seen dp5 skip dp3, which arrived
/// later. Pages follow arrival order.
#[test]
fn deliveries_are_paged_in_arrival_order() {
    let mut rng = ChaCha20Rng::seed_from_u64(33);
    let scenario = Scenario::new(Function::Sum, Mode::Fast, 3, 2)
        .with_inputs(vec![vec![1], vec![2], vec![3]], vec![1, 1, 1]);
    let mut world = World::new(&scenario, &mut rng).unwrap();
    let id = world.task.body.id;
    let submit = |world: &mut World, k: usize, rng: &mut ChaCha20Rng| {
        let dp = Dp::new(
            world.parties.dps[k - 1].clone(),
            world.parties.roster.clone(),
        );
        let bundle = dp
            .submit::<dsmpc_core::field::M31, _>(
                &world.task.body,
                &world.committee.body,
                &[k as i128],
                None,
                rng,
            )
            .unwrap();
        world.cloud.accept_bundle(&id, bundle).unwrap();
    };
    let order = |d: Vec<ShareDelivery>| {
        d.into_iter()
            .map(|d| d.core.signer.to_string())
            .collect::<Vec<_>>()
    };
    submit(&mut world, 3, &mut rng);
    let first = world.cloud.deliveries_after(&id, 1, None, 10).unwrap();
    assert_eq!(order(first), vec!["dp3"]);
    submit(&mut world, 1, &mut rng);
    submit(&mut world, 2, &mut rng);
    let dp3 = PartyId::new("dp3").unwrap();
    let rest = world
        .cloud
        .deliveries_after(&id, 1, Some(&dp3), 10)
        .unwrap();
    assert_eq!(order(rest), vec!["dp1", "dp2"]);
    let page = world.cloud.deliveries_after(&id, 1, None, 2).unwrap();
    assert_eq!(order(page), vec!["dp3", "dp1"]);
}

#[test]
fn summaries_are_paged_in_input_set_order() {
    let (mut world, _) = world_with_bundles();
    let id = world.task.body.id;
    assert!(
        world.cloud.summaries_page(&id, 0, 2).is_err(),
        "no summaries before the input set is closed"
    );
    let input_set = world.cloud.close_input_set(&id).unwrap().body;
    let all = world.cloud.summaries(&id).unwrap();
    let signers: Vec<_> = all.iter().map(|s| s.signer.clone()).collect();
    assert_eq!(signers, world.task.body.ids_in(&input_set.included));
    let mut paged = world.cloud.summaries_page(&id, 0, 2).unwrap();
    assert_eq!(paged.len(), 2);
    paged.extend(world.cloud.summaries_page(&id, 2, 2).unwrap());
    assert_eq!(paged, all);
    assert!(world.cloud.summaries_page(&id, 3, 2).unwrap().is_empty());
    assert!(
        world
            .cloud
            .summaries_page(&id, usize::MAX, 2)
            .unwrap()
            .is_empty()
    );
}

/// A server checks the bundles a client sent back to back with one signature batch; the verdicts
/// must be those of checking each bundle alone, in the same order.
#[test]
fn bundles_checked_together_get_the_verdicts_of_bundles_checked_alone() {
    use dsmpc_core::roles::cloud::{check_bundle, check_bundles};
    let (world, mut rng) = world_with_bundles();
    let honest = fresh_bundle(&world, &mut rng);
    let mut tampered = honest.clone();
    tampered.shares[1].ciphertext[0] ^= 1;
    let mut forged = honest.clone();
    forged.core.body.commitments.pop();
    let mut stranger = honest.clone();
    stranger.core.signer = PartyId::new("cp1").unwrap();
    let verdicts = |bundles: &[dsmpc_core::round2::Bundle], rng: &mut ChaCha20Rng| {
        let items = bundles.iter().map(|b| (&world.task, b.clone())).collect();
        check_bundles(items, rng)
            .into_iter()
            .map(|v| v.map(|c| c.bundle().clone()).map_err(|e| e.to_string()))
            .collect::<Vec<_>>()
    };
    let alone = |bundles: &[dsmpc_core::round2::Bundle]| {
        bundles
            .iter()
            .map(|b| {
                check_bundle(&world.task, b.clone())
                    .map(|c| c.bundle().clone())
                    .map_err(|e| e.to_string())
            })
            .collect::<Vec<_>>()
    };

    let all_good = vec![honest.clone(); 3];
    assert!(verdicts(&all_good, &mut rng).iter().all(Result::is_ok));
    let mixed = [
        honest.clone(),
        tampered,
        forged,
        honest.clone(),
        stranger,
        honest,
    ];
    let together = verdicts(&mixed, &mut rng);
    assert_eq!(together, alone(&mixed));
    let failed: Vec<usize> = (0..mixed.len()).filter(|&i| together[i].is_err()).collect();
    assert_eq!(failed, [1, 2, 4]);
    assert!(together[1].as_ref().unwrap_err().contains("signed digest"));
    assert!(together[2].as_ref().unwrap_err().contains("signature"));
    assert!(
        together[4]
            .as_ref()
            .unwrap_err()
            .contains("not a data provider")
    );
    assert!(verdicts(&[], &mut rng).is_empty());
}

/// Signatures checked together may belong to different tasks; each is checked for its own.
#[test]
fn signatures_checked_together_are_each_bound_to_their_own_task() {
    let (world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let other = dsmpc_core::task::TaskId([0xab; 16]);
    let bundle = fresh_bundle(&world, &mut rng);
    let signers = &world.task.body;
    let role = dsmpc_core::identity::Role::Dp;
    let core = &bundle.core;
    let verdicts = Signed::verify_each(
        &[
            (&id, core, signers),
            (&other, core, signers),
            (&id, core, signers),
        ],
        role,
        &mut rng,
    );
    assert!(verdicts[0].is_ok() && verdicts[2].is_ok());
    assert!(
        matches!(verdicts[1], Err(Error::BadSignature { .. })),
        "{:?}",
        verdicts[1]
    );
    let both = Signed::verify_each(
        &[(&id, core, signers), (&id, core, signers)],
        role,
        &mut rng,
    );
    assert!(both.iter().all(Result::is_ok));
}

/// A world of `n` DPs whose bundles the cloud holds.
fn world_of(n: i128) -> (World, ChaCha20Rng) {
    let inputs: Vec<Vec<i128>> = (0..n).map(|i| vec![i, -i]).collect();
    let scenario = Scenario::new(Function::Sum, Mode::Verifiable, 3, 2)
        .with_inputs(inputs, vec![1; n as usize]);
    world_holding_bundles(&scenario, 40)
}

/// A page long enough to be opened in parallel, its KEM openings batched, holding a share that
/// does not decrypt (signed so by its DP), a delivery the relay altered and a forged signature:
/// the verdicts are those of the same deliveries received one page each.
#[test]
fn a_long_page_gets_the_verdicts_of_its_deliveries_received_one_by_one() {
    let (world, mut rng) = world_of(9);
    let id = world.task.body.id;
    let mut page = deliveries(&world, 1);
    // The first DP's share for CP 1 is garbage, and the DP signed that garbage's digest.
    let cheat = &mut page[0];
    cheat.share.ciphertext = vec![0x5a; cheat.share.ciphertext.len()];
    let mut core = cheat.core.body.clone();
    core.digests[0] = dsmpc_core::round2::share_digest(&cheat.share);
    let signer = world
        .parties
        .dps
        .iter()
        .find(|d| *d.id() == cheat.core.signer)
        .unwrap();
    cheat.core = Signed::sign(&id, signer, core);
    page[3].share.ciphertext[0] ^= 1;
    page[5].core.signature = page[6].core.signature;

    let mut together = cp(&world, 0);
    let rejected = together.receive(&page, world.gens.as_ref(), &mut rng);
    let mut alone = cp(&world, 0);
    let mut rejected_alone = Vec::new();
    for delivery in &page {
        rejected_alone.extend(alone.receive(
            std::slice::from_ref(delivery),
            world.gens.as_ref(),
            &mut rng,
        ));
    }
    let names = |r: &[dsmpc_core::roles::cp::Rejection]| {
        r.iter()
            .map(|r| (r.dp.clone(), r.error.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&rejected), names(&rejected_alone));
    let rejected_dps: Vec<&PartyId> = rejected.iter().map(|r| &r.dp).collect();
    assert_eq!(rejected_dps, [&page[3].core.signer, &page[5].core.signer]);
    assert_eq!(together.accepted(), alone.accepted());
    assert_eq!(together.accepted().count(), 6);
    let complained = |cp: &CpTask<Ristretto>| {
        cp.report()
            .body
            .complaints
            .iter()
            .map(|c| c.dp.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(complained(&together), vec![page[0].core.signer.clone()]);
    assert_eq!(complained(&together), complained(&alone));
}

/// The signed task is a header: decoded, it holds no DP list. A DP's own entry proves it is
/// listed; a forged weight, another DP's proof or a proof for another position is refused. A CP
/// cannot join without the list, and a list that is not the one the header commits to (a forged
/// weight, an entry left out, another order) is refused whole.
#[test]
fn the_task_header_commits_to_the_dp_list_by_its_merkle_root() {
    use dsmpc_core::codec::{Encode, decode_exact};
    use dsmpc_core::task::Task;
    let scenario = Scenario::new(Function::WeightedSum, Mode::Verifiable, 3, 2).with_inputs(
        vec![vec![1], vec![2], vec![3], vec![4], vec![5]],
        vec![2, 3, 5, 7, 11],
    );
    let (world, _) = world_holding_bundles(&scenario, 7);
    let header: Signed<Task> = decode_exact(&world.task.to_bytes()).unwrap();
    assert!(!header.body.has_dp_list());
    assert_eq!(header.body.dps, 5);
    assert_eq!(header, world.task, "the header is the signed task");
    let list = world.task.body.listed_dps(0, usize::MAX);

    // A DP's entry.
    let tree = world.task.body.dp_tree();
    let dps = &world.parties.dps;
    let entry = world.task.body.entry_in(&tree, dps[2].id()).unwrap();
    let dp = Dp::new(dps[2].clone(), world.parties.roster.clone());
    dp.check_setup(&header, &world.committee, &entry).unwrap();
    let mut forged = entry.clone();
    forged.weight += 1;
    let err = dp
        .check_setup(&header, &world.committee, &forged)
        .unwrap_err();
    assert!(err.to_string().contains("is not a data provider"), "{err}");
    let theirs = world.task.body.entry_in(&tree, dps[3].id()).unwrap();
    assert!(dp.check_setup(&header, &world.committee, &theirs).is_err());
    let moved = dsmpc_core::task::DpEntry {
        index: entry.index + 1,
        ..entry.clone()
    };
    assert!(dp.check_setup(&header, &world.committee, &moved).is_err());
    // The entry of a DP whose registered key is not its own: the proof fails for a swapped key,
    // and a DP refuses a proven entry that names another key (a task signed by a cloud whose
    // registry holds the wrong key for it).
    let swapped = dsmpc_core::task::DpEntry {
        key: dps[3].card().verifying_key.to_bytes(),
        ..entry.clone()
    };
    assert!(dp.check_setup(&header, &world.committee, &swapped).is_err());
    let impostor = Dp::new(
        std::sync::Arc::new(dsmpc_core::identity::SecretIdentity::generate(
            dps[2].id().clone(),
            dsmpc_core::identity::Role::Dp,
            &mut dsmpc_core::rng::os_rng(),
        )),
        world.parties.roster.clone(),
    );
    let err = impostor
        .check_setup(&header, &world.committee, &entry)
        .unwrap_err();
    assert!(err.to_string().contains("another verifying key"), "{err}");

    // A CP needs the list.
    let cp = world.parties.cps[0].clone();
    let roster = world.parties.roster.clone();
    let err =
        CpTask::<Ristretto>::new(cp.clone(), roster.clone(), header.clone(), &world.committee)
            .err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.to_string().contains("DP list is not attached")),
        "{err:?}"
    );
    let mut bad = list.clone();
    bad[1].weight += 1;
    let mut rekeyed = list.clone();
    rekeyed[2].key = [9; 32];
    let mut short = list.clone();
    short.pop();
    let mut swapped = list.clone();
    swapped.swap(0, 1);
    for wrong in [bad, rekeyed, short, swapped] {
        let mut task = header.clone();
        let err = task.body.attach_dp_list(wrong).unwrap_err();
        assert!(
            err.to_string().contains("does not match the signed task"),
            "{err}"
        );
        assert!(!task.body.has_dp_list());
    }
    let mut task = header.clone();
    task.body.attach_dp_list(list).unwrap();
    CpTask::<Ristretto>::new(cp, roster, task, &world.committee).unwrap();
}

/// cp1 back from its saved state.
fn resume(world: &World, sealed: &[u8]) -> CpTask<Ristretto> {
    CpTask::resume(
        world.parties.cps[0].clone(),
        world.parties.roster.clone(),
        world.task.clone(),
        &world.committee,
        sealed,
    )
    .unwrap()
}

/// A CP that saves its state after part of the deliveries, crashes and resumes from the saved
/// state ends with exactly the result share of a CP that never stopped: the same aggregate, the
/// same accepted DPs, the same complaints; a DP it took before the crash cannot deliver again.
#[test]
fn a_cp_resumed_from_its_sealed_state_ends_as_if_it_never_stopped() {
    let (mut world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let d = deliveries(&world, 1);
    let mut steady = cp(&world, 0);
    steady.receive(&d, world.gens.as_ref(), &mut rng);
    steady.complain(&d[2], &mut rng);

    let mut before = cp(&world, 0);
    before.receive(&d[..2], world.gens.as_ref(), &mut rng);
    let sealed = before.seal_state(&mut rng);
    drop(before);
    let mut resumed = resume(&world, &sealed);
    assert_eq!(resumed.accepted().count(), 2);
    let again = resumed.receive(&d[..1], world.gens.as_ref(), &mut rng);
    assert!(again[0].error.to_string().contains("second delivery"));
    resumed.receive(&d[2..], world.gens.as_ref(), &mut rng);
    resumed.complain(&d[2], &mut rng);
    // A second crash after the complaint: the complaint is in the saved state too.
    let sealed = resumed.seal_state(&mut rng);
    let mut resumed = resume(&world, &sealed);
    // The same verdicts (a complaint's DLEQ proof is randomised, so it is compared by what it
    // reveals).
    let (a, b) = (resumed.report().body, steady.report().body);
    assert_eq!(a.accepted, b.accepted);
    let revealed = |r: &dsmpc_core::round3::VerificationReport| -> Vec<_> {
        r.complaints
            .iter()
            .map(|c| (c.dp.clone(), c.index, c.shared_secret))
            .collect()
    };
    assert_eq!(revealed(&a), revealed(&b));
    assert_eq!(revealed(&a).len(), 1);

    let input_set = world.cloud.close_input_set(&id).unwrap();
    let gens = world.gens.as_ref();
    let a = steady.finish(&input_set, &d, gens).unwrap();
    let b = resumed.finish(&input_set, &d, gens).unwrap();
    assert_eq!(*a.to_secret_bytes(), *b.to_secret_bytes());
}

/// Saved state is bound to its CP, task and index, and to every byte: another CP's state, a
/// flipped bit or a truncated record is refused with an error, never resumed.
#[test]
fn saved_state_that_is_altered_or_not_this_cps_is_refused() {
    let (world, mut rng) = world_with_bundles();
    let mut cp1 = cp(&world, 0);
    cp1.receive(&deliveries(&world, 1), world.gens.as_ref(), &mut rng);
    let sealed = cp1.seal_state(&mut rng);
    let resume = |i: usize, bytes: &[u8]| {
        CpTask::<Ristretto>::resume(
            world.parties.cps[i].clone(),
            world.parties.roster.clone(),
            world.task.clone(),
            &world.committee,
            bytes,
        )
        .map(|_| ())
        .unwrap_err()
        .to_string()
    };
    let by_cp2 = resume(1, &sealed);
    assert!(by_cp2.contains("does not open"), "{by_cp2}");
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let err = resume(0, &flipped);
    assert!(err.contains("does not open"), "{err}");
    let err = resume(0, &sealed[..sealed.len() - 5]);
    assert!(err.contains("does not decode"), "{err}");

    let (other, _) = world_holding_bundles(
        &Scenario::new(Function::Sum, Mode::Verifiable, 3, 2)
            .with_inputs(vec![vec![1, 2], vec![3, 4], vec![5, 6]], vec![1, 1, 1]),
        32,
    );
    let err = CpTask::<Ristretto>::resume(
        other.parties.cps[0].clone(),
        other.parties.roster.clone(),
        other.task.clone(),
        &other.committee,
        &sealed,
    )
    .map(|_| ())
    .unwrap_err()
    .to_string();
    assert!(err.contains("does not open"), "{err}");
}

/// A CP that runs as two workers, each folding its part of the deliveries, ends with exactly
/// the result share of a CP that folded them all: the lead absorbs the other worker's sealed
/// part. A part absorbed twice, under another part's name, altered, or by another CP is refused.
#[test]
fn a_cp_group_of_two_workers_ends_as_one_cp() {
    use dsmpc_core::roles::cp::WorkerPart;
    let (mut world, mut rng) = world_with_bundles();
    let id = world.task.body.id;
    let d = deliveries(&world, 1);
    let mut whole = cp(&world, 0);
    whole.receive(&d, world.gens.as_ref(), &mut rng);
    whole.complain(&d[2], &mut rng);

    let (one, two) = (
        WorkerPart::new(1, 2).unwrap(),
        WorkerPart::new(2, 2).unwrap(),
    );
    let part_of = |part: WorkerPart| -> Vec<_> {
        d.iter()
            .enumerate()
            .filter(|(pos, _)| part.holds(*pos as u64))
            .map(|(_, d)| d.clone())
            .collect()
    };
    let mut lead = cp(&world, 0);
    lead.receive(&part_of(one), world.gens.as_ref(), &mut rng);
    let mut worker = cp(&world, 0);
    worker.receive(&part_of(two), world.gens.as_ref(), &mut rng);
    worker.complain(&d[2], &mut rng);
    assert!(two.holds(2) || one.holds(2));
    let sealed = worker.seal_part(two, &mut rng);

    // Refusals first: none of them changes the lead's state.
    let err = |e: dsmpc_core::Error| e.to_string();
    let as_one = err(lead.absorb_part(one, &sealed).unwrap_err());
    assert!(as_one.contains("does not open"), "{as_one}");
    let mut flipped = sealed.clone();
    flipped[10] ^= 1;
    assert!(err(lead.absorb_part(two, &flipped).unwrap_err()).contains("does not open"));
    let mut other_cp = cp(&world, 1);
    let by_cp2 = err(other_cp.absorb_part(two, &sealed).unwrap_err());
    assert!(by_cp2.contains("does not open"), "{by_cp2}");
    let state = lead.seal_state(&mut rng);
    assert!(err(lead.absorb_part(two, &state).unwrap_err()).contains("does not open"));

    lead.absorb_part(two, &sealed).unwrap();
    let twice = err(lead.absorb_part(two, &sealed).unwrap_err());
    assert!(twice.contains("overlaps"), "{twice}");

    let (a, b) = (lead.report().body, whole.report().body);
    assert_eq!(a.accepted, b.accepted);
    assert_eq!(a.complaints.len(), b.complaints.len());
    let input_set = world.cloud.close_input_set(&id).unwrap();
    let gens = world.gens.as_ref();
    let a = whole.finish(&input_set, &d, gens).unwrap();
    let b = lead.finish(&input_set, &d, gens).unwrap();
    assert_eq!(*a.to_secret_bytes(), *b.to_secret_bytes());
    assert_eq!(WorkerPart::new(0, 2), None);
    assert_eq!(WorkerPart::new(3, 2), None);
    assert!(WorkerPart::WHOLE.holds(7) && WorkerPart::WHOLE.leads());
}
