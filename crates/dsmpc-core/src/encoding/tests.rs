//! Decimal parsing and formatting, bounds and field choice, encode/decode round trips at the
//! extremes of the declared range, and modular mode.

use proptest::prelude::*;

use super::*;
use crate::field::{M31, M61, Ristretto};

#[test]
fn parses_decimals_exactly() {
    assert_eq!(parse_fixed("-12.5", 2).unwrap(), -1250);
    assert_eq!(parse_fixed("7", 0).unwrap(), 7);
    assert_eq!(parse_fixed("+0.25", 3).unwrap(), 250);
    assert_eq!(parse_fixed(" .5 ", 1).unwrap(), 5);
    assert_eq!(parse_fixed("-0", 0).unwrap(), 0);
    assert_eq!(parse_fixed("3.", 2).unwrap(), 300);
}

#[test]
fn refuses_bad_decimals_with_reasons() {
    let reason = |text: &str, scale: u32| match parse_fixed(text, scale) {
        Err(Error::InvalidNumber { input, reason }) => {
            assert_eq!(input, text);
            reason
        }
        other => panic!("{text:?} gave {other:?}"),
    };
    assert!(reason("1.234", 2).contains("3 decimal places"));
    assert!(reason("", 0).contains("decimal number"));
    assert!(reason("-", 0).contains("decimal number"));
    assert!(reason(".", 0).contains("decimal number"));
    assert!(reason("1e5", 0).contains("decimal number"));
    assert!(reason("1,5", 1).contains("decimal number"));
    assert!(reason("--1", 0).contains("decimal number"));
    assert!(reason("0x10", 0).contains("decimal number"));
    assert!(reason(&"9".repeat(40), 0).contains("too large"));
    assert!(reason("1", MAX_SCALE + 1).contains("scale"));
}

#[test]
fn formats_decimals_exactly() {
    assert_eq!(format_fixed(-1250, 2), "-12.50");
    assert_eq!(format_fixed(5, 3), "0.005");
    assert_eq!(format_fixed(-5, 3), "-0.005");
    assert_eq!(format_fixed(42, 0), "42");
    assert_eq!(format_fixed(i128::MIN, 0), i128::MIN.to_string());
}

proptest! {
    #[test]
    fn decimal_text_round_trips(m in any::<i64>(), scale in 0u32..=MAX_SCALE) {
        let m = i128::from(m);
        prop_assert_eq!(parse_fixed(&format_fixed(m, scale), scale).unwrap(), m);
    }

    /// Any weighted sum within the declared range decodes to the exact integer, in every field
    /// that the plan could choose.
    #[test]
    fn weighted_sums_decode_exactly(
        inputs in prop::collection::vec(any::<i32>(), 1..40),
        weights in prop::collection::vec(-1000i128..1000, 40),
        extreme in any::<bool>(),
    ) {
        let range = InputRange::new(i128::from(i32::MIN), i128::from(i32::MAX)).unwrap();
        let encoding = Encoding::Exact { input_scale: 2, weight_scale: 1, range };
        let weights = &weights[..inputs.len()];
        // Push some inputs to the ends of the range.
        let inputs: Vec<i128> = inputs
            .iter()
            .enumerate()
            .map(|(i, &x)| if extreme { if i % 2 == 0 { range.min } else { range.max } } else { i128::from(x) })
            .collect();
        let expected: i128 = inputs.iter().zip(weights).map(|(x, w)| x * w).sum();
        for policy in [FieldPolicy::Smallest, FieldPolicy::Verifiable] {
            let plan = Plan::new(encoding, weights, policy).unwrap();
            let got = match plan.field {
                FieldId::M31 => weighted_sum::<M31>(&plan, &inputs, weights),
                FieldId::M61 => weighted_sum::<M61>(&plan, &inputs, weights),
                FieldId::Ristretto255 => weighted_sum::<Ristretto>(&plan, &inputs, weights),
            };
            prop_assert_eq!(got, expected);
            prop_assert!(expected.unsigned_abs() <= plan.bound.unwrap());
        }
    }
}

fn weighted_sum<F: Field>(plan: &Plan, inputs: &[i128], weights: &[i128]) -> i128 {
    let x: Vec<F> = inputs
        .iter()
        .map(|&v| plan.encode_input(v).unwrap())
        .collect();
    let w: Vec<F> = weights
        .iter()
        .map(|&v| plan.encode_weight(v).unwrap())
        .collect();
    plan.decode_result(F::dot(&x, &w)).unwrap()
}

fn exact(min: i128, max: i128) -> Encoding {
    Encoding::Exact {
        input_scale: 0,
        weight_scale: 0,
        range: InputRange::new(min, max).unwrap(),
    }
}

#[test]
fn chooses_the_smallest_field_that_holds_the_bound() {
    let ones = |n| vec![1i128; n];
    let plan = |min, max, w: &[i128]| Plan::new(exact(min, max), w, FieldPolicy::Smallest).unwrap();
    // 2^30 - 1 is M31's capacity.
    assert_eq!(plan(-1023, 1023, &ones(1 << 20)).field, FieldId::M31);
    assert_eq!(plan(0, 1024, &ones(1 << 20)).field, FieldId::M61);
    // 2^60 - 1 is M61's capacity: 2^40 × 2^20 is one too many.
    assert_eq!(
        plan(-((1 << 40) - 1), 0, &ones(1 << 20)).field,
        FieldId::M61
    );
    assert_eq!(
        plan(-(1 << 40), 0, &ones(1 << 20)).field,
        FieldId::Ristretto255
    );
    assert_eq!(
        plan(0, 1 << 40, &ones(1 << 20)).field,
        FieldId::Ristretto255
    );
    // The bound counts |weights|, so negative weights cost as much as positive ones.
    assert_eq!(plan(0, 1, &[-(1 << 29), 1 << 29]).field, FieldId::M61);
    assert_eq!(plan(0, 1, &[-(1 << 29), (1 << 29) - 1]).field, FieldId::M31);
    let verifiable = Plan::new(exact(0, 1), &[1], FieldPolicy::Verifiable).unwrap();
    assert_eq!(verifiable.field, FieldId::Ristretto255);
    assert_eq!(verifiable.bound, Some(1));
}

#[test]
fn refuses_a_bound_no_field_holds() {
    // 2^120 × 2^7 = 2^127, one more than the largest i128.
    let err = Plan::new(exact(0, 1 << 120), &[1 << 7], FieldPolicy::Smallest).unwrap_err();
    let Error::BoundTooLarge {
        bound,
        limit,
        field,
    } = &err
    else {
        panic!("expected BoundTooLarge, got {err:?}");
    };
    assert_eq!(bound, &(1u128 << 127).to_string());
    assert_eq!(limit, &i128::MAX.to_string());
    assert_eq!(*field, FieldId::Ristretto255);
    let msg = err.to_string();
    assert!(
        msg.contains(limit) && msg.contains("narrow the input range"),
        "{msg}"
    );
    // Overflowing 2^128 is reported as such.
    let err = Plan::new(exact(0, i128::MAX), &[i128::MAX], FieldPolicy::Smallest).unwrap_err();
    assert!(err.to_string().contains("more than 2^128"), "{err}");
}

#[test]
fn out_of_range_inputs_are_refused() {
    let encoding = Encoding::Exact {
        input_scale: 1,
        weight_scale: 0,
        range: InputRange::new(-50, 50).unwrap(),
    };
    let plan = Plan::new(encoding, &[1, 1], FieldPolicy::Smallest).unwrap();
    assert_eq!(plan.encode_input::<M31>(50).unwrap(), M31::from_u64(50));
    assert_eq!(
        plan.encode_input::<M31>(-51).unwrap_err(),
        Error::ValueOutOfRange {
            value: "-5.1".into(),
            min: "-5.0".into(),
            max: "5.0".into()
        }
    );
    assert!(InputRange::new(1, 0).is_err());
}

#[test]
fn results_beyond_the_bound_are_refused() {
    let plan = Plan::new(exact(-10, 10), &[1, 1], FieldPolicy::Smallest).unwrap();
    assert_eq!(plan.bound, Some(20));
    assert_eq!(plan.decode_result(M31::from_i128(-20)).unwrap(), -20);
    assert_eq!(
        plan.decode_result(M31::from_i128(21)).unwrap_err(),
        Error::ResultOutOfBound {
            value: "21".into(),
            bound: 20
        }
    );
}

#[test]
fn result_scale_adds_input_and_weight_scales() {
    let encoding = Encoding::Exact {
        input_scale: 3,
        weight_scale: 2,
        range: InputRange::new(-1000, 1000).unwrap(),
    };
    let plan = Plan::new(encoding, &[150, -25], FieldPolicy::Smallest).unwrap();
    assert_eq!(plan.result_scale(), 5);
    // 1.5 × 0.250 + (-0.25) × (-1.000) = 0.625
    let x: Vec<M61> = [250, -1000]
        .iter()
        .map(|&v| plan.encode_input(v).unwrap())
        .collect();
    let w: Vec<M61> = [150, -25]
        .iter()
        .map(|&v| plan.encode_weight(v).unwrap())
        .collect();
    let sum = plan.decode_result(M61::dot(&x, &w)).unwrap();
    assert_eq!(format_fixed(sum, plan.result_scale()), "0.62500");
}

#[test]
fn modular_mode_wraps_like_the_first_seed() {
    let plan = Plan::new(
        Encoding::Modular {
            field: FieldId::M31,
        },
        &[],
        FieldPolicy::Smallest,
    )
    .unwrap();
    let p = i128::from(M31::P);
    let x: M31 = plan.encode_input(p - 1).unwrap();
    let w: M31 = plan.encode_weight(3).unwrap();
    // (p-1)·3 ≡ -3 ≡ p-3 (mod p)
    assert_eq!(plan.decode_result(x * w).unwrap(), p - 3);
    assert!(matches!(
        plan.encode_input::<M31>(p),
        Err(Error::ValueOutOfRange { .. })
    ));
    assert!(matches!(
        plan.encode_input::<M31>(-1),
        Err(Error::ValueOutOfRange { .. })
    ));
    assert!(
        Plan::new(
            Encoding::Modular {
                field: FieldId::M31
            },
            &[],
            FieldPolicy::Verifiable
        )
        .is_err()
    );
}
