//! `dsmpc simulate` with the cloud's state in PostgreSQL served by two front-ends at once, and
//! each CP as two workers (issue 21): the result is exact in both modes, with a cheating DP, a
//! dead CP and validated inputs. Every wait for news on one front-end must hear of changes
//! committed by the other (a task's input set closed there). Needs a server (`DSMPC_TEST_DATABASE`);
//! without one the test says it was left out.

use std::process::Command;

#[path = "../../dsmpc-net/tests/pg/mod.rs"]
mod pg;

fn simulate(url: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("dsmpc"))
        .args(["simulate", "--json", "--database", url])
        .args(["--cloud-frontends", "2", "--cp-workers", "2", "--log-dir"])
        .arg(dir.path())
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

#[test]
fn two_front_ends_and_cp_workers_compute_exactly_in_simulation() {
    for (mode, extra) in [
        ("verifiable", vec!["--cheat-dp", "dp3", "--drop-cps", "1"]),
        ("fast", vec!["--out-of-range-dp", "dp4", "--dim", "3"]),
    ] {
        let Some(url) = pg::fresh_database("simulate_postgres") else {
            return;
        };
        let mut args = vec![
            "--mode",
            mode,
            "--dps",
            "40",
            "--cps",
            "4",
            "--threshold",
            "2",
        ];
        args.extend(extra);
        let v = simulate(&url, &args);
        assert_eq!(v["match"], serde_json::json!(true), "{mode}: {v}");
        let excluded = v["excluded"].as_array().unwrap();
        assert_eq!(excluded.len(), 1, "{mode}: {v}");
        // The database holds every DP's bundle, placed at positions without gaps.
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let row = client
            .query_one("SELECT count(*), max(pos) FROM bundles", &[])
            .unwrap();
        let (count, max): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!((count, max), (40, 39), "{mode}");
    }
}
