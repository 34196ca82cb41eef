//! Computing parties that run as groups of workers (issue 21): `dsmpc cp --id cpN --worker I/K`.
//! Each worker folds its part of the deliveries; the lead absorbs the others' sealed parts and
//! sends the one result share. The result is exact, in both modes (fast mode with validated
//! inputs: the verifier shares of every part reach the report), and a worker killed with SIGKILL
//! mid-task costs time, not the task: its lead folds its part itself.

mod cluster;

use cluster::{Cluster, await_log_line, strings};

/// Starts worker `i` of `k` of CP `cp` as `cpNwI` (the lead, worker 1, as `cpN`).
fn start_worker(c: &mut Cluster, cp: &str, i: u32, k: u32) {
    let name = if i == 1 {
        cp.to_owned()
    } else {
        format!("{cp}w{i}")
    };
    let part = format!("{i}/{k}");
    c.start(
        &name,
        &["cp", "--id", cp, "--worker", &part, "--part-wait", "1"],
    );
}

fn submit_all(c: &Cluster, task: &str, values: &[&str]) {
    for (i, v) in values.iter().enumerate() {
        c.submit(&format!("dp{}", i + 1), task, v);
    }
}

#[test]
fn cp_groups_of_workers_compute_exactly_and_survive_a_dead_worker() {
    let mut c = Cluster::new(3, 9, 2);
    c.start_cloud();
    c.restart("edge");
    for cp in ["cp1", "cp2", "cp3"] {
        start_worker(&mut c, cp, 1, 2);
        start_worker(&mut c, cp, 2, 2);
    }
    let values = ["5", "-3", "8", "1", "1", "2", "-7", "4", "10"];

    let task = c.create_task(&["--func", "sum", "--mode", "verifiable", "--deadline", "60"]);
    submit_all(&c, &task, &values);
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["21"], "{}", c.logs());
    assert_eq!(strings(&r["included"]).len(), 9);
    for cp in ["cp1", "cp2", "cp3"] {
        await_log_line(&c, cp, &["absorbed a worker's part", &task]);
        await_log_line(&c, &format!("{cp}w2"), &["part handed in", &task]);
    }

    // Fast mode with validated inputs: each DP's verifier shares come from the worker that
    // folded its part, and the lead's one report carries them all (a DP missing from it would be
    // excluded).
    let task = c.create_task(&[
        "--func",
        "sum",
        "--mode",
        "fast",
        "--min",
        "-10",
        "--max",
        "10",
        "--deadline",
        "60",
    ]);
    submit_all(&c, &task, &values);
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["21"], "{}", c.logs());
    assert_eq!(strings(&r["included"]).len(), 9, "{}", c.logs());

    // cp2's second worker dies mid-task: its lead folds the part itself.
    let task = c.create_task(&["--func", "sum", "--mode", "verifiable", "--deadline", "60"]);
    submit_all(&c, &task, &values[..4]);
    c.kill("cp2w2");
    for (i, v) in values.iter().enumerate().skip(4) {
        c.submit(&format!("dp{}", i + 1), &task, v);
    }
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["21"], "{}", c.logs());
    await_log_line(
        &c,
        "cp2",
        &[
            "folding the part of a worker that did not hand it in",
            &task,
        ],
    );
}
