//! `dsmpc simulate` as a user runs it: defaults, every fault flag, `--inputs` checked against an
//! independently computed sum, and the report of its flow log.

use std::process::Output;

use serde_json::Value;

mod common;
use common::dsmpc;

fn simulate(dir: &std::path::Path, args: &[&str]) -> Output {
    dsmpc()
        .arg("simulate")
        .args(["--log-dir", dir.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = simulate(dir.path(), &all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn defaults_match_the_plaintext_and_print_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(dir.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "weighted-sum over 20 data providers",
        "5 CPs, threshold 3, verifiable",
        "match          yes",
        "bytes per DP",
        "OK: result",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(dir.path().join("flow.jsonl").exists());
}

#[test]
fn json_has_every_field() {
    let v = json(&[
        "--dps", "6", "--dim", "3", "--mode", "fast", "--func", "mean",
    ]);
    assert_eq!(v["match"], true);
    assert_eq!(v["result"], v["expected"]);
    assert_eq!(strings(&v["result"]).len(), 3);
    // Validated by default (3 elements), so at least the 61-bit field; m31 without validation.
    assert_eq!(v["validated"], true);
    assert_eq!(v["field"], "m61");
    let unvalidated = json(&["--dps", "3", "--mode", "fast", "--no-validate"]);
    assert_eq!(unvalidated["field"], "m31");
    for key in [
        "included",
        "excluded",
        "culprits",
        "bytes_total",
        "bytes_per_dp",
        "phases",
        "flow_log",
    ] {
        assert!(!v[key].is_null(), "{key} missing: {v}");
    }
    assert!(v["bytes_per_dp"].as_f64().unwrap() > 100.0);
}

/// Verifiable vectors longer than 16 are prepared on blocking threads, and short fast ones on the
/// runtime's workers; long fast ones (beyond 1024) go back to blocking threads. Every path gives
/// the exact result, and a cheating DP is still caught on the blocking path.
#[test]
fn dps_preparing_on_either_kind_of_thread_give_the_exact_result() {
    let v = json(&[
        "--dps",
        "5",
        "--dim",
        "20",
        "--mode",
        "verifiable",
        "--cheat-dp",
        "dp2",
    ]);
    assert_eq!(v["match"], true, "{v}");
    assert_eq!(strings(&v["result"]).len(), 20);
    assert_eq!(strings(&v["culprits"]), ["dp2"]);
    for dim in ["8", "1100"] {
        let v = json(&[
            "--dps",
            "5",
            "--dim",
            dim,
            "--mode",
            "fast",
            "--json-max",
            "2000",
        ]);
        assert_eq!(v["match"], true, "fast d = {dim}: {v}");
        assert_eq!(strings(&v["result"]).len(), dim.parse::<usize>().unwrap());
        assert_eq!(v["result_truncated"], false);
    }
}

/// A long result is summarised: `--json` lists at most `--json-max` values (1000 by default) with
/// the whole length and SHA-256, the table shows the first and last values, and `--out` writes
/// every value, one a line, whose SHA-256 is the one reported.
#[test]
fn long_results_are_summarised_and_written_whole_with_out() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("result.txt");
    let out_arg = out.to_str().unwrap();
    let v = json(&[
        "--dps", "3", "--dim", "1500", "--mode", "fast", "--out", out_arg,
    ]);
    assert_eq!(v["match"], true, "{v}");
    assert_eq!(strings(&v["result"]).len(), 1000);
    assert_eq!(strings(&v["expected"]).len(), 1000);
    assert_eq!(v["result_len"], 1500);
    assert_eq!(v["result_truncated"], true);
    let written = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 1500);
    assert_eq!(lines[..1000], strings(&v["result"])[..]);
    let digest = {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(written.as_bytes()))
    };
    assert_eq!(v["result_sha256"], digest.as_str());

    let cut = json(&[
        "--dps",
        "3",
        "--dim",
        "50",
        "--mode",
        "fast",
        "--json-max",
        "7",
    ]);
    assert_eq!(strings(&cut["result"]).len(), 7);
    assert_eq!(cut["result_len"], 50);

    let log = dir.path().join("log");
    let table = dsmpc()
        .args([
            "simulate",
            "--dps",
            "3",
            "--dim",
            "5000",
            "--mode",
            "fast",
            "--log-dir",
        ])
        .arg(&log)
        .output()
        .unwrap();
    assert!(table.status.success());
    let text = String::from_utf8(table.stdout).unwrap();
    let result_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("result "))
        .unwrap();
    assert!(
        result_line.contains("…") && result_line.contains("(5000 values, SHA-256 "),
        "{text}"
    );
    // The cloud's segment files (every sealed share) go when the run ends, the databases stay;
    // --keep-shares keeps them.
    assert!(log.join("cloud.db").is_file());
    assert!(!log.join("cloud.db.bundles").exists());
    let kept = dir.path().join("kept");
    // 5000 values: shares beyond the 16 KiB a bundle keeps inline in SQLite.
    let run = dsmpc()
        .args([
            "simulate",
            "--dps",
            "3",
            "--dim",
            "5000",
            "--mode",
            "fast",
            "--quiet",
            "--keep-shares",
            "--log-dir",
        ])
        .arg(&kept)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let segments: Vec<_> = std::fs::read_dir(kept.join("cloud.db.bundles"))
        .unwrap()
        .collect();
    assert_eq!(segments.len(), 1, "one segment file for the one task");
}

#[test]
fn dropped_cps_still_give_the_exact_result() {
    let v = json(&["--dps", "6", "--drop-cps", "2"]);
    assert_eq!(v["match"], true);
    assert_eq!(strings(&v["included"]).len(), 6);
}

#[test]
fn cps_that_report_after_the_deadline_still_send_their_result_shares() {
    // With t = n = 3 the result needs every CP's share, so it exists only if the two CPs whose
    // reports the cloud refuses (the input set was fixed without them) go on to the result.
    // (Without validation: a validating fast task needs t reports to decide its DPs.)
    let v = json(&[
        "--dps",
        "5",
        "--cps",
        "3",
        "--threshold",
        "3",
        "--late-cps",
        "2",
        "--mode",
        "fast",
        "--no-validate",
    ]);
    assert_eq!(v["match"], true);
    assert_eq!(strings(&v["included"]).len(), 5);
    assert!(strings(&v["culprits"]).is_empty(), "{v}");
}

/// A validating fast task decides its DPs from t CPs' verifier shares: at the report deadline
/// its input set waits for the late CPs' reports instead of closing without them.
#[test]
fn a_validating_fast_task_waits_for_t_reports() {
    let v = json(&[
        "--dps",
        "5",
        "--cps",
        "3",
        "--threshold",
        "3",
        "--late-cps",
        "2",
        "--mode",
        "fast",
    ]);
    assert_eq!(v["validated"], true);
    assert_eq!(v["match"], true, "{v}");
    assert_eq!(strings(&v["included"]).len(), 5);
    assert!(strings(&v["culprits"]).is_empty(), "{v}");
}

#[test]
fn dps_dropped_mid_upload_are_excluded() {
    let v = json(&["--dps", "6", "--drop-dps", "2", "--mode", "fast"]);
    assert_eq!(v["match"], true);
    assert_eq!(strings(&v["excluded"]), vec!["dp5", "dp6"]);
}

#[test]
fn cheaters_are_named_and_the_result_stays_exact() {
    let v = json(&[
        "--dps",
        "6",
        "--cheat-cp",
        "cp2",
        "--cheat-dp",
        "dp3",
        "--cheat-dp",
        "dp4",
    ]);
    assert_eq!(v["match"], true);
    assert_eq!(strings(&v["culprits"]), vec!["cp2", "dp3", "dp4"]);
    assert_eq!(strings(&v["excluded"]), vec!["dp3", "dp4"]);
}

/// Issue 20: three DPs share values outside `--min/--max`, one with each forgery; each is
/// excluded and named `invalid-range-proof`, and the result is exact over the others.
#[test]
fn out_of_range_dps_are_excluded_and_named() {
    let v = json(&[
        "--dps",
        "8",
        "--min",
        "-50",
        "--max",
        "50",
        "--out-of-range-dp",
        "dp2",
        "--out-of-range-dp",
        "dp5",
        "--out-of-range-dp",
        "dp7",
    ]);
    assert_eq!(v["match"], true, "{v}");
    assert_eq!(v["validated"], true);
    assert_eq!(strings(&v["excluded"]), vec!["dp2", "dp5", "dp7"]);
    let reasons: Vec<(String, String)> = v["culprit_reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["party"].as_str().unwrap().into(),
                c["reason"].as_str().unwrap().into(),
            )
        })
        .collect();
    let named = |dp: &str| (dp.to_owned(), "invalid-range-proof".to_owned());
    assert_eq!(reasons, vec![named("dp2"), named("dp5"), named("dp7")]);
}

/// Vectors: validated by default up to 16 elements; a DP with an element past the range is
/// excluded and named, the sums exact over the others.
#[test]
fn out_of_range_vectors_are_excluded_and_named() {
    let v = json(&[
        "--dps",
        "5",
        "--dim",
        "4",
        "--min",
        "0",
        "--max",
        "9",
        "--out-of-range-dp",
        "dp3",
    ]);
    assert_eq!(v["match"], true, "{v}");
    assert_eq!(v["validated"], true);
    assert_eq!(strings(&v["excluded"]), vec!["dp3"]);
    assert_eq!(v["culprit_reasons"][0]["reason"], "invalid-range-proof");
    let long = json(&["--dps", "2", "--dim", "17"]);
    assert_eq!(
        long["validated"], false,
        "not by default beyond 16 elements"
    );
}

/// Fast mode validates too (a proof over the shares): scalars and vectors, several cheaters,
/// each excluded and named `invalid-validity-proof`, the result exact over the others.
#[test]
fn fast_out_of_range_dps_are_excluded_and_named() {
    for dim in ["1", "3"] {
        let v = json(&[
            "--mode",
            "fast",
            "--dps",
            "8",
            "--cps",
            "5",
            "--threshold",
            "3",
            "--dim",
            dim,
            "--out-of-range-dp",
            "dp3",
            "--out-of-range-dp",
            "dp6",
        ]);
        assert_eq!(v["match"], true, "{v}");
        assert_eq!(v["validated"], true);
        assert_eq!(strings(&v["excluded"]), vec!["dp3", "dp6"]);
        for c in v["culprit_reasons"].as_array().unwrap() {
            assert_eq!(c["reason"], "invalid-validity-proof", "{v}");
        }
        assert_eq!(v["culprit_reasons"].as_array().unwrap().len(), 2);
    }
}

/// Without validation an out-of-range DP is refused as a fault that cannot be played, and
/// `--no-validate` is recorded as such in the JSON.
#[test]
fn out_of_range_dps_need_validation() {
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(dir.path(), &["--no-validate", "--out-of-range-dp", "dp1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--out-of-range-dp needs validated inputs"),
        "{err}"
    );
    let v = json(&["--no-validate", "--dps", "3"]);
    assert_eq!(v["validated"], false);
    assert_eq!(v["match"], true);
}

/// Inputs whose range is wider than the short commitment path takes (48 bits) are committed by
/// the general multiplication; inputs at the very ends of a narrow range by the short path. Both
/// give the exact sum, computed here.
#[test]
fn verifiable_inputs_of_narrow_and_wide_ranges_give_the_exact_sum() {
    let cases = [
        (
            "dp1,1,123456789012345678,-5\ndp2,2,-98765432109876543,7\ndp3,1,5,0\ndp4,3,-1,99999999999999999\n",
            ["-74074075207407406", "300000000000000006"],
        ),
        (
            "dp1,1,-1000,-5\ndp2,2,1000,7\ndp3,1,5,0\ndp4,3,-1,999\n",
            ["1002", "3006"],
        ),
    ];
    for (rows, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("inputs.csv");
        std::fs::write(&csv, format!("id,weight,v1,v2\n{rows}")).unwrap();
        let v = json(&["--inputs", csv.to_str().unwrap(), "--mode", "verifiable"]);
        assert_eq!(strings(&v["result"]), expected, "{rows}");
        assert_eq!(v["match"], true);
    }
}

#[test]
fn inputs_file_with_negative_vectors_matches_an_independent_sum() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("inputs.csv");
    let rows = [
        ("a", 3, [-12.5, 4.0, 0.0]),
        ("b", -2, [7.25, -9.5, 1.0]),
        ("c", 1, [-0.75, 0.5, -100.0]),
    ];
    let mut text = String::from("id,weight,v1,v2,v3\n");
    for (id, w, vs) in &rows {
        text += &format!("{id},{w},{},{},{}\n", vs[0], vs[1], vs[2]);
    }
    std::fs::write(&csv, text).unwrap();
    // Σ w·x computed here in units of 10^-4 (weights and inputs both have 2 decimal places).
    let expected: Vec<String> = (0..3)
        .map(|j| {
            let units: i64 = rows
                .iter()
                .map(|(_, w, vs)| (*w as i64 * 100) * (vs[j] * 100.0) as i64)
                .sum();
            let sign = if units < 0 { "-" } else { "" };
            format!("{sign}{}.{:04}", units.abs() / 10_000, units.abs() % 10_000)
        })
        .collect();
    assert_eq!(expected, vec!["-52.7500", "31.5000", "-102.0000"]);
    for mode in ["verifiable", "fast"] {
        let v = json(&[
            "--inputs",
            csv.to_str().unwrap(),
            "--scale",
            "2",
            "--mode",
            mode,
        ]);
        assert_eq!(strings(&v["result"]), expected, "{mode}");
        assert_eq!(v["match"], true);
    }
}

#[test]
fn impossible_faults_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(
        dir.path(),
        &["--cps", "3", "--late-cps", "3", "--drop-cps", "1"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("more faulty CPs than the 3"));
    let out = simulate(dir.path(), &["--cps", "3", "--drop-cps", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--drop-cps 3 leaves no CP"));
    let out = simulate(dir.path(), &["--cheat-cp", "cp9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cp9"));
}

/// With fewer than t CPs left, the edge signs a failure naming what is missing as soon as the
/// input set shows it, and `simulate` prints it and exits non-zero (it waited 600 s for a
/// result before).
#[test]
fn too_few_cps_end_the_task_with_the_edges_signed_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = simulate(
        dir.path(),
        &[
            "--cps",
            "5",
            "--threshold",
            "3",
            "--drop-cps",
            "3",
            "--dps",
            "10",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("only 2 of 5 CPs reported; threshold 3 (missing: cp3, cp4, cp5)"),
        "{stderr}"
    );
}

#[test]
fn the_flow_log_renders_as_a_report() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        simulate(dir.path(), &["--dps", "4", "--quiet"])
            .status
            .success()
    );
    let html = dir.path().join("report.html");
    let out = dsmpc()
        .args([
            "report",
            dir.path().join("flow.jsonl").to_str().unwrap(),
            "--out",
            html.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("<svg") && page.contains("dp4") && page.contains("cloud"));
}
