//! The `dsmpc` binary as a user runs it.

mod common;
use common::dsmpc;

fn stdout_of(args: &[&str]) -> String {
    let out = dsmpc().args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_lists_the_plan_command() {
    let help = stdout_of(&["--help"]);
    assert!(help.contains("Usage: dsmpc"), "{help}");
    assert!(help.contains("plan"), "{help}");
}

#[test]
fn plan_picks_the_smallest_field_in_fast_mode() {
    let out = stdout_of(&[
        "plan", "--min", "-100", "--max", "100", "--dps", "1000", "--mode", "fast",
    ]);
    assert!(out.contains("result bound:   ±100000"), "{out}");
    assert!(out.contains("field:          m31"), "{out}");
}

#[test]
fn plan_uses_ristretto_in_verifiable_mode() {
    let out = stdout_of(&[
        "plan",
        "--min",
        "-1.5",
        "--max",
        "2.25",
        "--scale",
        "2",
        "--weights",
        "1,-0.5,3",
        "--weight-scale",
        "1",
    ]);
    assert!(out.contains("data providers: 3"), "{out}");
    assert!(out.contains("result bound:   ±10.125"), "{out}");
    assert!(out.contains("field:          ristretto255"), "{out}");
}

#[test]
fn plan_refuses_precision_loss_and_huge_bounds() {
    let out = dsmpc()
        .args(["plan", "--min", "-1.555", "--max", "1", "--scale", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("--min") && err.contains("3 decimal places"),
        "{err}"
    );

    let out = dsmpc()
        .args([
            "plan",
            "--min",
            "0",
            "--max",
            "99999999999999999999999999999999999",
            "--dps",
            "100000",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("narrow the input range"), "{err}");
}
