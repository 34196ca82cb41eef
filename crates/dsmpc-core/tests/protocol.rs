//! The whole protocol through the one-thread harness: exact results for every function, mode and
//! committee shape, and every fault the harness can inject.

use dsmpc_core::Error;
use dsmpc_core::harness::{Faults, Scenario, run_task};
use dsmpc_core::identity::PartyId;
use dsmpc_core::round3::{Culprit, CulpritReason};
use dsmpc_core::task::{Function, Mode};
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};

fn dp(k: usize) -> PartyId {
    Scenario::dp_id(k)
}

fn cp(i: u32) -> PartyId {
    PartyId::new(&format!("cp{i}")).unwrap()
}

/// Random inputs in the scenario's range and random weights (1 for unweighted functions).
fn random_scenario(
    function: Function,
    mode: Mode,
    n: u32,
    t: u32,
    dps: usize,
    dim: usize,
    seed: u64,
) -> Scenario {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut s = Scenario::new(function, mode, n, t);
    s.input_scale = 2;
    s.weight_scale = if function.is_weighted() { 1 } else { 0 };
    s.range = (-50_000, 50_000); // ±500.00
    s.inputs = (0..dps)
        .map(|_| {
            (0..dim)
                .map(|_| rng.random_range(-50_000..=50_000))
                .collect()
        })
        .collect();
    s.weights = (0..dps)
        .map(|_| {
            if function.is_weighted() {
                rng.random_range(-30..=30)
            } else {
                1
            }
        })
        .collect();
    s
}

fn run(scenario: &Scenario) -> dsmpc_core::harness::Outcome {
    run_task(scenario, &mut ChaCha20Rng::seed_from_u64(99)).expect("the task completes")
}

fn assert_exact(scenario: &Scenario) {
    let o = run(scenario);
    let r = &o.result;
    assert_eq!(r.sums, scenario.expected(&o.included), "{scenario:?}");
    assert_eq!(o.included.len() + o.excluded.len(), scenario.inputs.len());
    if scenario.function.is_mean() {
        let total: i128 = scenario.weights.iter().sum();
        assert_eq!(r.weight_total, total);
    }
}

#[test]
fn every_function_and_mode_is_exact() {
    let shapes = [(3, 2), (5, 3), (4, 4), (1, 1)];
    for (seed, function) in Function::ALL.iter().enumerate() {
        for mode in [Mode::Verifiable, Mode::Fast] {
            for (n, t) in shapes {
                for dim in [1, 4] {
                    let s = random_scenario(
                        *function,
                        mode,
                        n,
                        t,
                        6,
                        dim,
                        seed as u64 * 100 + u64::from(n),
                    );
                    assert_exact(&s);
                }
            }
        }
    }
}

#[test]
fn additive_fast_mode_is_exact() {
    let mut s = random_scenario(Function::WeightedSum, Mode::Fast, 4, 4, 7, 3, 5);
    s.additive = true;
    assert_exact(&s);
}

#[test]
fn fixed_point_means_print_exactly() {
    // Inputs 1.25, -0.50, 2.00 with weights 0.5, 1.0, 2.5:
    // Σw·x = 0.625 - 0.5 + 5 = 5.125 (scale 3), Σw = 4.0 → mean 1.28125
    let mut s = Scenario::new(Function::WeightedMean, Mode::Verifiable, 3, 2)
        .with_inputs(vec![vec![125], vec![-50], vec![200]], vec![5, 10, 25]);
    s.input_scale = 2;
    s.weight_scale = 1;
    let o = run(&s);
    let r = &o.result;
    assert_eq!(r.sums, vec![5125]);
    assert_eq!(r.values(), vec!["1.28125000"]);
    s.function = Function::WeightedSum;
    assert_eq!(run(&s).result.values(), vec!["5.125"]);
}

#[test]
fn a_cheating_cp_is_named_and_the_result_stays_exact() {
    for mode in [Mode::Verifiable, Mode::Fast] {
        // Fast mode needs redundancy to tell who cheated: 5 shares, t = 3, one bad.
        let mut s = random_scenario(Function::Sum, mode, 5, 3, 8, 2, 11);
        s.faults.cheat_cps = vec![2];
        let o = run(&s);
        let r = &o.result;
        assert_eq!(r.sums, s.expected(&o.included), "{mode}");
        let reason = match mode {
            Mode::Verifiable => CulpritReason::InvalidResultShare,
            Mode::Fast => CulpritReason::InconsistentResultShare,
        };
        assert_eq!(
            r.culprits,
            vec![Culprit {
                party: cp(2),
                reason
            }],
            "{mode}"
        );
    }
}

#[test]
fn fast_mode_without_a_majority_refuses_rather_than_guesses() {
    let mut s = random_scenario(Function::Sum, Mode::Fast, 4, 3, 5, 1, 12);
    s.faults.cheat_cps = vec![1];
    let err = run_task(&s, &mut ChaCha20Rng::seed_from_u64(1)).unwrap_err();
    assert!(matches!(err, Error::ProtocolViolation { .. }), "{err}");
    assert!(err.to_string().contains("cannot tell"), "{err}");
}

#[test]
fn a_cheating_dp_is_excluded_through_a_verified_complaint() {
    let mut s = random_scenario(Function::WeightedSum, Mode::Verifiable, 5, 3, 6, 3, 13);
    s.faults.cheat_dps = vec![(4, 2)];
    let o = run(&s);
    let r = &o.result;
    assert_eq!(o.excluded, vec![dp(4)]);
    assert!(!o.included.contains(&dp(4)));
    assert_eq!(r.sums, s.expected(&o.included));
    assert_eq!(
        r.culprits,
        vec![Culprit {
            party: dp(4),
            reason: CulpritReason::InvalidShare
        }]
    );
}

#[test]
fn a_dp_sealing_garbage_is_excluded_in_both_modes() {
    for mode in [Mode::Verifiable, Mode::Fast] {
        let mut s = random_scenario(Function::Sum, mode, 3, 2, 5, 2, 19);
        s.faults.garbage_dps = vec![(5, 3)];
        let o = run(&s);
        let r = &o.result;
        assert_eq!(o.excluded, vec![dp(5)], "{mode}");
        assert_eq!(r.sums, s.expected(&o.included), "{mode}");
        assert_eq!(
            r.culprits,
            vec![Culprit {
                party: dp(5),
                reason: CulpritReason::InvalidShare
            }]
        );
    }
}

#[test]
fn a_false_complaint_names_the_lying_cp() {
    let mut s = random_scenario(Function::Sum, Mode::Verifiable, 4, 2, 5, 1, 14);
    s.faults.false_complaints = vec![(3, 2)];
    let o = run(&s);
    let r = &o.result;
    assert!(o.included.contains(&dp(2)), "the honest DP stays in");
    assert_eq!(r.sums, s.expected(&o.included));
    assert_eq!(
        r.culprits,
        vec![Culprit {
            party: cp(3),
            reason: CulpritReason::FalseComplaint
        }]
    );
}

#[test]
fn up_to_n_minus_t_cps_may_drop() {
    for mode in [Mode::Verifiable, Mode::Fast] {
        let mut s = random_scenario(Function::Mean, mode, 5, 3, 6, 2, 15);
        s.faults.drop_cps = vec![1, 4];
        let o = run(&s);
        let r = &o.result;
        assert_eq!(r.sums, s.expected(&o.included), "{mode}");

        s.faults.drop_cps = vec![1, 4, 5];
        let err = run_task(&s, &mut ChaCha20Rng::seed_from_u64(2)).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotEnoughResultShares {
                    valid: 2,
                    needed: 3,
                    ..
                }
            ),
            "{mode}: {err}"
        );
        assert!(
            err.to_string()
                .contains("only 2 valid result shares, 3 needed")
        );
    }
}

#[test]
fn dps_cut_off_mid_upload_are_left_out_consistently() {
    for mode in [Mode::Verifiable, Mode::Fast] {
        let mut s = random_scenario(Function::WeightedMean, mode, 3, 2, 6, 2, 16);
        s.faults.drop_dps = vec![2, 5];
        let o = run(&s);
        let r = &o.result;
        assert_eq!(o.excluded, vec![dp(2), dp(5)], "{mode}");
        assert_eq!(r.sums, s.expected(&o.included), "{mode}");
        let total: i128 = [1, 3, 4, 6].iter().map(|&k| s.weights[k - 1]).sum();
        assert_eq!(r.weight_total, total);
        assert!(r.culprits.is_empty());
    }
}

#[test]
fn every_fault_at_once() {
    let mut s = random_scenario(Function::WeightedSum, Mode::Verifiable, 7, 3, 10, 2, 17);
    s.faults = Faults {
        drop_cps: vec![7],
        drop_dps: vec![1],
        cheat_cps: vec![2],
        cheat_dps: vec![(3, 4)],
        false_complaints: vec![(5, 6)],
        garbage_dps: vec![(8, 1)],
        ..Faults::default()
    };
    let o = run(&s);
    let r = &o.result;
    assert_eq!(o.excluded, vec![dp(1), dp(3), dp(8)]);
    assert_eq!(r.sums, s.expected(&o.included));
    let named: Vec<&str> = r.culprits.iter().map(|c| c.party.as_str()).collect();
    assert_eq!(named, vec!["cp2", "cp5", "dp3", "dp8"]);
}

#[test]
fn inputs_outside_the_declared_range_are_refused_before_sharing() {
    let s = Scenario::new(Function::Sum, Mode::Fast, 3, 2)
        .with_inputs(vec![vec![5], vec![1001], vec![0]], vec![1, 1, 1]);
    let err = run_task(&s, &mut ChaCha20Rng::seed_from_u64(3)).unwrap_err();
    assert!(matches!(err, Error::ValueOutOfRange { .. }), "{err}");
}

#[test]
fn fast_mode_seed_compression_shrinks_uploads() {
    let fast = random_scenario(Function::Sum, Mode::Fast, 3, 2, 4, 1000, 18);
    let verifiable = random_scenario(Function::Sum, Mode::Verifiable, 3, 2, 4, 1000, 18);
    let per_dp = |s: &Scenario| run(s).bytes["bundle"] / s.inputs.len();
    let (f, v) = (per_dp(&fast), per_dp(&verifiable));
    // Fast: 2 explicit m31 share vectors of 1000 × 4 bytes plus one seed; verifiable: 3 × 32 000.
    assert!(f < 8_600, "fast bundle {f} bytes");
    assert!(v > 96_000, "verifiable bundle {v} bytes");
}
