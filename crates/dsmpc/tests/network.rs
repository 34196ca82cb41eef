//! The real `dsmpc` binary as separate processes on 127.0.0.1: a full task, CPs killed after
//! admission, garbage on the cloud's port, the cloud killed with SIGKILL and restarted, and a peer
//! whose key is not in the roster; every CP killed with SIGKILL and resumed from its saved state.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

mod cluster;
use cluster::{Cluster, await_log_line, dsmpc, strings};

#[test]
fn a_full_weighted_task_over_sockets() {
    let mut c = Cluster::new(3, 3, 2);
    c.start_all(3);
    let weights = c.dir.path().join("weights.csv");
    std::fs::write(&weights, "id,weight\ndp1,2\ndp2,-1\ndp3,3\n").unwrap();
    let task = c.create_task(&[
        "--func",
        "weighted-sum",
        "--dim",
        "2",
        "--min",
        "-100",
        "--max",
        "100",
        "--scale",
        "1",
        "--weights",
        weights.to_str().unwrap(),
    ]);
    c.submit("dp1", &task, "1.5,-2");
    c.submit("dp2", &task, "-7,0.5");
    c.submit("dp3", &task, "10,10");
    let r = c.result(&task);
    // 2·1.5 + 7 + 30 = 40.0 ; 2·(-2) - 0.5 + 30 = 25.5
    assert_eq!(strings(&r["result"]), vec!["40.0", "25.5"]);
    assert_eq!(strings(&r["included"]), vec!["dp1", "dp2", "dp3"]);
    assert!(strings(&r["culprits"]).is_empty());
    let flow = std::fs::read_to_string(c.dir.path().join("flow.jsonl")).unwrap();
    let bundle_lines: Vec<serde_json::Value> = flow
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "bundle")
        .collect();
    assert_eq!(bundle_lines.len(), 3, "one flow line per bundle");
    assert!(
        bundle_lines
            .iter()
            .all(|v| v["bytes"].as_u64().unwrap() > 300 && v["dst"] == "cloud")
    );
}

#[test]
fn two_of_five_cps_may_die_after_admission() {
    let mut c = Cluster::new(5, 3, 3);
    c.start_all(5);
    let task = c.create_task(&["--func", "sum", "--mode", "verifiable"]);
    c.kill("cp2");
    c.kill("cp5");
    c.submit("dp1", &task, "5");
    c.submit("dp2", &task, "-12");
    c.submit("dp3", &task, "100");
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["93"], "{}", c.logs());
}

fn send_garbage(port: u16) {
    let junk: [&[u8]; 4] = [
        b"GET / HTTP/1.1\r\n\r\n",
        &[0x00, 0x20],             // a truncated handshake frame
        &[0xff, 0xff, 0xde, 0xad], // a frame claiming 65535 bytes, then silence
        &[
            0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
            22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
        ],
    ];
    for bytes in junk {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.write_all(bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn garbage_on_the_clouds_port_is_dropped_and_the_cloud_keeps_serving() {
    let mut c = Cluster::new(3, 2, 2);
    c.start_all(3);
    std::thread::sleep(Duration::from_millis(500));
    send_garbage(c.base_port);
    let task = c.create_task(&["--func", "mean", "--mode", "fast"]);
    send_garbage(c.base_port);
    c.submit("dp1", &task, "3");
    c.submit("dp2", &task, "4");
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["3.500000"]);
    let cloud_log = std::fs::read_to_string(c.log("cloud")).unwrap();
    assert!(cloud_log.contains("refused connection"), "{cloud_log}");
}

/// Issue 19: 2000 idle TCP connections to the cloud that never send a handshake byte — more
/// than its 1024 places for authenticated connections — do not keep clients out: `task create`
/// completes within its own 3 s admission timeout, and a DP's submission and the result go
/// through while the sockets are held.
#[test]
fn thousands_of_idle_connections_do_not_keep_clients_out() {
    let mut c = Cluster::new(3, 1, 2);
    c.start_all(3);
    std::thread::sleep(Duration::from_millis(500));
    let idle: Vec<TcpStream> = (0..2000)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", c.base_port)).ok())
        .collect();
    assert!(idle.len() >= 1500, "only {} connections opened", idle.len());
    let task = c.create_task(&["--func", "sum", "--timeout", "3", "--deadline", "5"]);
    c.submit("dp1", &task, "4");
    assert_eq!(strings(&c.result(&task)["result"]), vec!["4"]);
    drop(idle);
}

/// Issue 19: a committee that cannot fill (1 of 3 CPs running) ends `task create` at its own
/// admission timeout with an error naming the task and what is missing, and the edge signs the
/// task's failure, which `dsmpc result` prints (exit 1) instead of waiting.
#[test]
fn a_committee_that_cannot_fill_fails_the_task_clearly() {
    let mut c = Cluster::new(3, 1, 2);
    c.start_cloud();
    c.restart("edge");
    c.restart("cp1");
    let err = c.refused(&[
        "task",
        "create",
        "--func",
        "sum",
        "--timeout",
        "2",
        "--deadline",
        "3",
    ]);
    assert!(err.contains("are 3 CPs of the roster running?"), "{err}");
    let task = err
        .split("committee of task ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the error names the task")
        .to_owned();
    let err = c.refused(&["result", "--task", &task, "--wait", "30"]);
    assert!(
        err.contains(&format!("task {task} failed"))
            && err.contains("committee of 3 CPs was not complete by the admission deadline"),
        "{err}"
    );
}

/// A stream of garbage connections writes at most 10 refusal warnings per 10 s, not one per
/// connection: a flood cannot fill the disk the logs go to.
#[test]
fn refusal_warnings_are_budgeted_under_a_flood_of_garbage() {
    let mut c = Cluster::new(3, 1, 2);
    c.start_all(3);
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..15 {
        send_garbage(c.base_port);
    }
    let task = c.create_task(&["--func", "sum", "--mode", "fast"]);
    c.submit("dp1", &task, "2");
    assert_eq!(strings(&c.result(&task)["result"]), vec!["2"]);
    let cloud_log = std::fs::read_to_string(c.log("cloud")).unwrap();
    let refusals = cloud_log.matches("refused connection").count();
    assert!(
        (1..=10).contains(&refusals),
        "{refusals} refusal lines:\n{cloud_log}"
    );
}

#[test]
fn the_cloud_survives_sigkill_between_submissions() {
    let mut c = Cluster::new(3, 3, 2);
    c.start_all(3);
    let task = c.create_task(&["--func", "sum", "--deadline", "120"]);
    c.submit("dp1", &task, "7");
    c.kill("cloud");
    c.start_cloud();
    c.submit("dp2", &task, "8");
    c.submit("dp3", &task, "9");
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["24"], "{}", c.logs());
    assert_eq!(strings(&r["included"]), vec!["dp1", "dp2", "dp3"]);
}

/// Issue 19: every CP is killed with SIGKILL once the inputs are in (each has saved them) and
/// restarted. Each resumes from its saved state — it neither pulls those deliveries again nor
/// is counted as dropped — and the task completes exactly with every CP's result share.
#[test]
fn every_cp_killed_once_the_inputs_are_in_resumes_and_the_task_completes_exactly() {
    // dp4 never submits, so submissions stay open until the deadline, with the CPs killed.
    let mut c = Cluster::new(3, 4, 2);
    c.start_all(3);
    let task = c.create_task(&[
        "--func",
        "sum",
        "--mode",
        "verifiable",
        "--timeout",
        "5",
        "--deadline",
        "8",
    ]);
    c.submit("dp1", &task, "5");
    c.submit("dp2", &task, "-12");
    c.submit("dp3", &task, "100");
    for cp in ["cp1", "cp2", "cp3"] {
        await_log_line(&c, cp, &["state saved", "\"accepted\":3"]);
    }
    for cp in ["cp1", "cp2", "cp3"] {
        c.kill(cp);
    }
    for cp in ["cp1", "cp2", "cp3"] {
        c.start(&format!("{cp}-restarted"), &["cp", "--id", cp]);
    }
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["93"], "{}", c.logs());
    assert_eq!(strings(&r["included"]), vec!["dp1", "dp2", "dp3"]);
    assert!(strings(&r["culprits"]).is_empty());
    for cp in ["cp1", "cp2", "cp3"] {
        let name = format!("{cp}-restarted");
        await_log_line(&c, &name, &["result share sent"]);
        let log = std::fs::read_to_string(c.log(&name)).unwrap();
        assert!(
            log.lines()
                .any(|l| l.contains("resumed from the saved state") && l.contains("\"accepted\":3")),
            "{log}"
        );
        assert!(!log.contains("refused a delivery"), "{log}");
    }
    let edge = std::fs::read_to_string(c.log("edge")).unwrap();
    assert!(!edge.contains("refused a result share"), "{edge}");
}

/// A fast sum whose input set closes a second after the committee is admitted.
fn quick_task(c: &Cluster) -> String {
    c.create_task(&[
        "--func",
        "sum",
        "--mode",
        "fast",
        "--timeout",
        "1",
        "--deadline",
        "1",
    ])
}

/// A restarted CP skips the tasks it finished before: it neither joins nor sends a share again.
#[test]
fn a_restarted_cp_skips_the_tasks_it_finished() {
    let mut c = Cluster::new(3, 1, 2);
    c.start_all(3);
    let task = quick_task(&c);
    c.submit("dp1", &task, "7");
    assert_eq!(strings(&c.result(&task)["result"]), vec!["7"]);
    await_log_line(&c, "cp1", &["result share sent"]);
    c.kill("cp1");
    c.start("cp1-restarted", &["cp", "--id", "cp1"]);
    let second = quick_task(&c);
    c.submit("dp1", &second, "8");
    assert_eq!(strings(&c.result(&second)["result"]), vec!["8"]);
    await_log_line(&c, "cp1-restarted", &["result share sent", &second]);
    let log = std::fs::read_to_string(c.log("cp1-restarted")).unwrap();
    assert!(
        !log.contains(&task),
        "the finished task was taken up again:\n{log}"
    );
}

#[test]
fn a_peer_whose_key_is_not_in_the_roster_is_refused() {
    let mut c = Cluster::new(3, 1, 2);
    c.start_all(3);
    // Same ids and addresses, different keys: a stranger impersonating the operator.
    let out = Command::new(dsmpc())
        .args([
            "init",
            "stranger",
            "--cps",
            "3",
            "--dps",
            "1",
            "--base-port",
            &c.base_port.to_string(),
        ])
        .current_dir(c.dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stranger = c.dir.path().join("stranger");
    let out = Command::new(dsmpc())
        .args([
            "task",
            "create",
            "--deployment",
            stranger.to_str().unwrap(),
            "--func",
            "sum",
            "--timeout",
            "2",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cloud"), "{err}");
    let cloud_log = std::fs::read_to_string(c.log("cloud")).unwrap();
    assert!(cloud_log.contains("refused connection"), "{cloud_log}");
    // The real operator is still served.
    let _ = c.create_task(&["--func", "sum"]);
}

#[test]
fn a_cp_left_out_of_a_full_committee_does_not_disturb_the_task() {
    let mut c = Cluster::new(4, 2, 2);
    c.start_all(4);
    let task = c.create_task(&["--func", "sum", "--cps", "3", "--mode", "fast"]);
    c.submit("dp1", &task, "40");
    c.submit("dp2", &task, "2");
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["42"], "{}", c.logs());
}

/// A `.npy` file (format 1.0) holding `data` (little-endian bytes) of dtype `descr`, 1-D.
fn npy(descr: &str, count: usize, data: &[u8]) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({count},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// Vectors of 5000 values from files — an int64 `.npy`, a text file one value a line, a float64
/// `.npy` — make bundles too large to keep inline, so the cloud stores their shares in segment
/// files; it is killed with SIGKILL between submissions and restarted, and the result is the
/// exact sum of all three.
#[test]
fn long_vectors_from_npy_and_text_files_survive_a_cloud_sigkill() {
    const D: usize = 5000;
    let mut c = Cluster::new(3, 3, 2);
    c.start_all(3);
    let dim = D.to_string();
    let task = c.create_task(&[
        "--func",
        "sum",
        "--mode",
        "fast",
        "--dim",
        &dim,
        "--min",
        "-100",
        "--max",
        "100",
        "--scale",
        "1",
        "--deadline",
        "120",
    ]);
    let ints: Vec<i64> = (0..D as i64).map(|j| j % 201 - 100).collect();
    let text: Vec<String> = (0..D).map(|j| format!("{}.5", j % 50)).collect();
    let floats: Vec<f64> = (0..D).map(|j| -(j as f64 % 7.0) / 10.0).collect();
    let file = |name: &str, bytes: &[u8]| {
        let path = c.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let int_bytes: Vec<u8> = ints.iter().flat_map(|v| v.to_le_bytes()).collect();
    let float_bytes: Vec<u8> = floats.iter().flat_map(|v| v.to_le_bytes()).collect();
    let ints_file = file("ints.npy", &npy("<i8", D, &int_bytes));
    let text_file = file("values.txt", (text.join("\n") + "\n").as_bytes());
    let floats_file = file("floats.data", &npy("<f8", D, &float_bytes));
    c.ok(&[
        "dp",
        "--id",
        "dp1",
        "--task",
        &task,
        "--values-file",
        &ints_file,
    ]);
    c.kill("cloud");
    c.start_cloud();
    c.ok(&[
        "dp",
        "--id",
        "dp2",
        "--task",
        &task,
        "--values-file",
        &text_file,
    ]);
    c.ok(&[
        "dp",
        "--id",
        "dp3",
        "--task",
        &task,
        "--values-file",
        &floats_file,
    ]);
    let r = c.result(&task);
    // In tenths: 10·int + (10·(j mod 50) + 5) − (j mod 7).
    let expected: Vec<String> = (0..D)
        .map(|j| {
            let tenths = 10 * ints[j] + 10 * (j as i64 % 50) + 5 - (j as i64 % 7);
            let sign = if tenths < 0 { "-" } else { "" };
            format!("{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
        })
        .collect();
    assert_eq!(strings(&r["result"]), expected, "{}", c.logs());
    let segments = c.dep().join("cloud.db.bundles");
    assert_eq!(std::fs::read_dir(&segments).unwrap().count(), 1);
}

/// A DP the task does not list gets no entry (the signed task commits to its DP list by a Merkle
/// root): `dsmpc dp` refuses with the reason and stores nothing; listed DPs go on.
#[test]
fn a_dp_the_task_does_not_list_is_refused_before_it_shares() {
    let mut c = Cluster::new(3, 3, 2);
    c.start_all(3);
    let task = c.create_task(&["--func", "sum", "--dps", "dp1,dp2"]);
    let out = c.run(&["dp", "--id", "dp3", "--task", &task, "--value", "5"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dp3 is not a data provider of this task"),
        "{err}"
    );
    c.submit("dp1", &task, "1");
    c.submit("dp2", &task, "2");
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["3"], "{}", c.logs());
    assert_eq!(strings(&r["included"]), vec!["dp1", "dp2"]);
}

/// A DP that made its own key with `keygen` can neither connect nor be listed until the operator
/// registers it with `dp register`; then it submits with only its key file and the roster.
#[test]
fn a_dp_is_served_only_once_registered() {
    let mut c = Cluster::new(3, 2, 2);
    c.start_all(3);
    let keys = c.dep().join("keys");
    let out = Command::new(dsmpc())
        .args(["keygen", "--id", "dp7", "--role", "dp", "--out"])
        .arg(&keys)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let card = c.dir.path().join("dp7.toml");
    std::fs::write(&card, &out.stdout).unwrap();

    // Not registered: a task may not list it, and it cannot connect.
    let create = ["task", "create", "--func", "sum", "--dps", "dp1,dp7"];
    let err = c.refused(&[&create[..], &["--timeout", "5"]].concat());
    assert!(
        err.contains("dp7 is not a registered data provider"),
        "{err}"
    );
    let task = c.create_task(&["--func", "sum", "--dps", "dp1,dp2"]);
    let submit = ["dp", "--id", "dp7", "--task", &task, "--value", "5"];
    let err = c.refused(&[&submit[..], &["--timeout", "3"]].concat());
    assert!(err.contains("does not know this party's key"), "{err}");

    // Registered (twice: the second time is a no-op), it is listed and submits.
    let card = card.to_str().unwrap();
    let out = c.run(&["dp", "register", "--card", card]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && err.contains("registered 1 new data provider"),
        "{err}"
    );
    let out = c.run(&["dp", "register", "--card", card]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("registered 0 new data providers (1 already"),
        "{err}"
    );
    let task = c.create_task(&["--func", "sum"]);
    for (dp, value) in [("dp1", "1"), ("dp2", "2"), ("dp7", "7")] {
        c.submit(dp, &task, value);
    }
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["10"], "{}", c.logs());
    assert_eq!(strings(&r["included"]), vec!["dp1", "dp2", "dp7"]);
}

/// The edge waits for the input set until the task's submission deadline and its timeout after
/// it, not its timeout alone: a task that collects for longer than the edge's timeout still ends
/// with its result (a 10^6-DP collection took longer than the 600 s default).
#[test]
fn the_edge_waits_for_a_collection_longer_than_its_timeout() {
    let mut c = Cluster::new(3, 3, 2);
    c.start_cloud();
    c.start("edge", &["edge", "--grace", "1", "--timeout", "1"]);
    for cp in ["cp1", "cp2", "cp3"] {
        c.restart(cp);
    }
    let task = c.create_task(&[
        "--func",
        "sum",
        "--mode",
        "fast",
        "--deadline",
        "6",
        "--timeout",
        "5",
    ]);
    c.submit("dp1", &task, "5");
    c.submit("dp2", &task, "6");
    // dp3 never submits: submissions close at the deadline, 6 s on, well past the edge's 1 s.
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["11"], "{}", c.logs());
    assert_eq!(strings(&r["excluded"]), vec!["dp3"]);
}

/// While DPs trickle in, a CP catches up after nearly every delivery. It saves its state (which
/// grows with the DPs it accepted) at most every `SAVE_EVERY` (2 s), not at every catch-up: saving
/// each time made a task of N DPs cost O(N²), 83% of a CP worker's CPU at 3·10^4 DPs.
#[test]
fn a_cp_saves_its_state_at_most_every_two_seconds_while_dps_trickle_in() {
    let mut c = Cluster::new(3, 10, 2);
    c.start_all(3);
    let task = c.create_task(&["--func", "sum", "--deadline", "120"]);
    let start = std::time::Instant::now();
    for k in 1..=10 {
        c.submit(&format!("dp{k}"), &task, "1");
        std::thread::sleep(Duration::from_millis(300));
    }
    let trickle = start.elapsed().as_secs_f64();
    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["10"], "{}", c.logs());
    for cp in ["cp1", "cp2", "cp3"] {
        let log = std::fs::read_to_string(c.log(cp)).unwrap();
        let saves = log.lines().filter(|l| l.contains("state saved")).count();
        // One per 2 s of trickle, one for the last partial interval, one once closed.
        let most = (trickle / 2.0).floor() as usize + 2;
        assert!(
            (1..=most).contains(&saves),
            "{cp} saved {saves} times in {trickle:.1} s of trickle (at most {most}):\n{log}"
        );
    }
}
