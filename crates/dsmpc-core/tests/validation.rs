//! Validated inputs (issue 20), both modes, scalars and vectors: every DP proves its input inside
//! the task's range (verifiable mode: Bulletproofs+ on its commitment; fast mode: a fully linear
//! proof over its shares); a DP that shares a value outside it — with whatever forgery it can
//! make — is excluded and named (`invalid-range-proof`, `invalid-validity-proof`), the result
//! stays exact over the honest DPs, and a CP that tries to get an honest DP excluded is named
//! instead of the DP.

use dsmpc_core::harness::{Scenario, run_task};
use dsmpc_core::identity::PartyId;
use dsmpc_core::roles::dp::Forgery;
use dsmpc_core::round3::{Culprit, CulpritReason};
use dsmpc_core::task::{Function, Mode};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

fn validated(inputs: Vec<i128>, weights: Vec<i128>) -> Scenario {
    validated_in(Mode::Verifiable, inputs, weights)
}

fn validated_in(mode: Mode, inputs: Vec<i128>, weights: Vec<i128>) -> Scenario {
    let mut s = Scenario::new(Function::WeightedSum, mode, 5, 3)
        .with_inputs(inputs.into_iter().map(|x| vec![x]).collect(), weights);
    s.range = (-100, 100);
    s.validate = true;
    s
}

/// The reason an out-of-range DP is named with in `mode`.
fn invalid_in(mode: Mode) -> CulpritReason {
    match mode {
        Mode::Verifiable => CulpritReason::InvalidRangeProof,
        Mode::Fast => CulpritReason::InvalidValidityProof,
    }
}

const MODES: [Mode; 2] = [Mode::Verifiable, Mode::Fast];

fn id(k: usize) -> PartyId {
    Scenario::dp_id(k)
}

fn culprit(party: PartyId, reason: CulpritReason) -> Culprit {
    Culprit { party, reason }
}

#[test]
fn honest_dps_at_the_ends_of_the_range_are_all_included() {
    for mode in MODES {
        let s = validated_in(mode, vec![-100, 100, 0, 37], vec![1, 2, 3, 4]);
        let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        assert_eq!(outcome.included.len(), 4, "{mode:?}");
        assert!(outcome.result.culprits.is_empty(), "{mode:?}");
        assert_eq!(outcome.result.sums, vec![-100 + 200 + 148], "{mode:?}");
        assert!(outcome.bytes["bundle"] > 0);
    }
}

/// Three cheaters, one with each forgery, among honest DPs: each is excluded and named with its
/// reason, and the result is exact over the others.
#[test]
fn each_forgery_is_excluded_and_named_and_the_result_is_exact_over_the_rest() {
    for mode in MODES {
        let mut s = validated_in(mode, vec![10, 5000, -20, -101, 101, 7], vec![1; 6]);
        s.faults.out_of_range_dps = vec![
            (2, Forgery::OtherValue),
            (4, Forgery::Clipped),
            (5, Forgery::NoProof),
        ];
        let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
        assert_eq!(outcome.included, vec![id(1), id(3), id(6)], "{mode:?}");
        assert_eq!(outcome.excluded, vec![id(2), id(4), id(5)], "{mode:?}");
        assert_eq!(outcome.result.sums, s.expected(&outcome.included));
        assert_eq!(outcome.result.sums, vec![10 - 20 + 7]);
        let invalid = invalid_in(mode);
        assert_eq!(
            outcome.result.culprits,
            vec![
                culprit(id(2), invalid),
                culprit(id(4), invalid),
                culprit(id(5), invalid),
            ]
        );
    }
}

/// Fast mode with additive n-of-n sharing: the verifier is the sum of all n shares; a cheater is
/// still excluded and named.
#[test]
fn fast_additive_sharing_excludes_a_cheater() {
    let mut s = validated_in(Mode::Fast, vec![3, -4, 250], vec![2, 1, 1]);
    s.n = 3;
    s.t = 3;
    s.additive = true;
    s.faults.out_of_range_dps = vec![(3, Forgery::Clipped)];
    let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(12)).unwrap();
    assert_eq!(outcome.included, vec![id(1), id(2)]);
    assert_eq!(outcome.result.sums, vec![2]);
    assert_eq!(
        outcome.result.culprits,
        vec![culprit(id(3), CulpritReason::InvalidValidityProof)]
    );
}

/// Fast mode: a CP that alters its verifier share of an honest DP (to get it excluded) is off
/// the polynomial the other four shares agree on; it is named and the DP stays in.
#[test]
fn an_altered_verifier_share_names_the_cp_not_the_dp() {
    let mut s = validated_in(Mode::Fast, vec![1, 2, 3], vec![1; 3]);
    s.faults.false_verifier_cps = vec![(4, 2)];
    let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(13)).unwrap();
    assert_eq!(outcome.included, vec![id(1), id(2), id(3)]);
    assert_eq!(outcome.result.sums, vec![6]);
    assert_eq!(
        outcome.result.culprits,
        vec![culprit(
            PartyId::new("cp4").unwrap(),
            CulpritReason::InconsistentVerifierShare
        )]
    );
}

/// Fast mode: a DP that alters one CP's share of its bits after publishing the parts (a share
/// that does not match its signed part) draws a complaint the cloud upholds.
#[test]
fn a_share_that_does_not_match_its_part_is_an_upheld_complaint() {
    let mut s = validated_in(Mode::Fast, vec![1, 2, 3], vec![1; 3]);
    s.faults.cheat_dps = vec![(1, 5)];
    let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(14)).unwrap();
    assert_eq!(outcome.included, vec![id(2), id(3)]);
    assert_eq!(outcome.result.sums, vec![5]);
    assert_eq!(
        outcome.result.culprits,
        vec![culprit(id(1), CulpritReason::InvalidShare)]
    );
}

/// A CP that calls an honest DP's valid proof invalid cannot get it excluded: the cloud re-checks
/// the public proof and names the CP.
#[test]
fn a_false_range_complaint_names_the_cp_not_the_dp() {
    let mut s = validated(vec![1, 2, 3], vec![1; 3]);
    s.faults.false_range_complaints = vec![(2, 1)];
    let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(3)).unwrap();
    assert_eq!(outcome.included, vec![id(1), id(2), id(3)]);
    assert_eq!(outcome.result.sums, vec![6]);
    assert_eq!(
        outcome.result.culprits,
        vec![culprit(
            PartyId::new("cp2").unwrap(),
            CulpritReason::FalseComplaint
        )]
    );
}

/// An out-of-range value with a proof in a task that does not validate is a different matter:
/// validation is what a task asks for, and without it the forging path refuses to run.
#[test]
fn forgeries_need_a_validating_task() {
    let mut s = validated(vec![1, 500], vec![1; 2]);
    s.validate = false;
    s.faults.out_of_range_dps = vec![(2, Forgery::NoProof)];
    let err = run_task(&s, &mut ChaCha20Rng::seed_from_u64(4)).unwrap_err();
    assert!(err.to_string().contains("validates inputs"), "{err}");
}

#[test]
fn fast_validation_of_too_many_bits_is_refused_with_a_clear_error() {
    let mut fast = validated_in(Mode::Fast, vec![1, 2], vec![1; 2]);
    fast.inputs = vec![vec![0; 100_000]; 2];
    fast.range = (0, 1000);
    let err = run_task(&fast, &mut ChaCha20Rng::seed_from_u64(6)).unwrap_err();
    assert!(err.to_string().contains("exceed a share"), "{err}");
    assert!(err.to_string().contains("--no-validate"), "{err}");
}

/// Vectors: an honest DP's vector at the ends of the range is in; DPs with one element outside
/// (each forgery in turn) are excluded and named; the sums are exact over the others.
#[test]
fn vectors_with_an_element_out_of_range_are_excluded_and_named() {
    for mode in MODES {
        vectors_in(mode);
    }
}

fn vectors_in(mode: Mode) {
    let mut s = validated_in(mode, vec![0; 5], vec![1, 2, 1, 1, 3]);
    s.inputs = vec![
        vec![-100, 100, 3],
        vec![1, 150, 2],
        vec![5, 6, 7],
        vec![-101, 0, 0],
        vec![9, 9, 1000],
    ];
    s.faults.out_of_range_dps = vec![
        (2, Forgery::Clipped),
        (4, Forgery::OtherValue),
        (5, Forgery::NoProof),
    ];
    let outcome = run_task(&s, &mut ChaCha20Rng::seed_from_u64(7)).unwrap();
    assert_eq!(outcome.included, vec![id(1), id(3)]);
    assert_eq!(outcome.result.sums, vec![-95, 106, 10]);
    let named: Vec<_> = outcome
        .result
        .culprits
        .iter()
        .map(|c| (c.party.clone(), c.reason))
        .collect();
    assert_eq!(
        named,
        vec![
            (id(2), invalid_in(mode)),
            (id(4), invalid_in(mode)),
            (id(5), invalid_in(mode)),
        ]
    );
}
