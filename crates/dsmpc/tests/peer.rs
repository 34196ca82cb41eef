//! `dsmpc participant` and `dsmpc swarm` as separate processes on a free local port per test.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod cluster;

fn dsmpc() -> Command {
    Command::new(cluster::dsmpc())
}

/// A port free now, below the ephemeral range (see `cluster::free_ports`): binding port 0 and
/// dropping the listener left the port to any client socket until the participant bound it.
fn free_port() -> u16 {
    cluster::free_ports(1)
}

fn participant(port: u16, value: i64) -> Child {
    dsmpc()
        .args([
            "participant",
            "--parties",
            "4",
            "--weights",
            "1,2,3,4",
            "--json",
        ])
        .args(["--wait", "15", "--port", &port.to_string()])
        .args(["--value", &value.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a participant that must succeed: its stdout and the JSON object of its last line.
fn finished(child: Child) -> (String, Value) {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    (stdout, json)
}

#[test]
fn four_participants_print_the_correct_weighted_sum() {
    let port = free_port();
    let values = [10i64, 20, 30, 40];
    let mut children = Vec::new();
    for v in values {
        children.push((v, participant(port, v)));
        std::thread::sleep(Duration::from_millis(150));
    }
    let mut outputs = Vec::new();
    for (v, child) in children {
        let (stdout, json) = finished(child);
        assert_eq!(json["parties"], 4);
        assert_eq!(json["weights"], serde_json::json!([1, 2, 3, 4]));
        assert_eq!(json["value"], v);
        outputs.push((v, json["pid"].as_i64().unwrap(), stdout, json));
    }
    // Pids follow join order, and weight w_i belongs to pid i.
    let mut pids: Vec<i64> = outputs.iter().map(|o| o.1).collect();
    pids.sort();
    assert_eq!(pids, [1, 2, 3, 4]);
    let expected: i64 = outputs.iter().map(|(v, pid, _, _)| v * pid).sum();
    for (_, _, stdout, json) in &outputs {
        assert_eq!(json["weighted_sum"], expected, "{stdout}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert!(lines[..lines.len() - 1].iter().all(|l| l.starts_with('[')));
        assert!(
            lines[lines.len() - 2].ends_with(&format!("]: weighted sum: {expected}")),
            "{stdout}"
        );
    }
}

#[test]
fn swarm_of_ten_is_verified_against_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let out = dsmpc()
        .args(["swarm", "10", "--port", &free_port().to_string()])
        .arg("--log-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("success: all 10 participants"), "{stdout}");
    let runs: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let run = runs.into_iter().next().unwrap().unwrap().path();
    for i in 1..=10 {
        let log = std::fs::read_to_string(run.join(format!("participant_{i}.log"))).unwrap();
        assert!(log.contains("weighted sum: "), "{log}");
    }
}

#[test]
fn a_coordinator_without_enough_joiners_times_out() {
    let port = free_port();
    let out = dsmpc()
        .args(["participant", "--parties", "3", "--wait", "1"])
        .args(["--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("timed out after 1 s waiting for participants: 1 of 3 joined"),
        "{stderr}"
    );
}

#[test]
fn a_joiner_whose_coordinator_gives_up_fails_instead_of_hanging() {
    let port = free_port();
    let coordinator = dsmpc()
        .args(["participant", "--parties", "3", "--wait", "2"])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = dsmpc()
        .args(["participant", "--wait", "10", "--port", &port.to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("closed the rendezvous"), "{stderr}");
    let _ = coordinator.wait_with_output();
}

#[test]
fn seed_field_shamir_and_sec_output() {
    // Weights p-1,1,1 and every value p-1 in GF(2^31-1): the sum is -1 = p-1 whatever the pids.
    let port = free_port();
    let p_minus_1 = ((1u64 << 31) - 2).to_string();
    let weights = format!("{p_minus_1},1,1");
    let children: Vec<Child> = (0..3)
        .map(|_| {
            let child = dsmpc()
                .args(["participant", "--parties", "3", "--field", "m31"])
                .args(["--threshold", "2", "--sec", "--wait", "15"])
                .args(["--port", &port.to_string(), "--weights", &weights])
                .args(["--value", &p_minus_1])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(150));
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains(&format!("}}: secret: {p_minus_1}")),
            "{stdout}"
        );
        assert_eq!(stdout.matches("}: share for cp").count(), 3, "{stdout}");
        assert!(
            stdout
                .trim_end()
                .ends_with(&format!("]: weighted sum: {p_minus_1}")),
            "{stdout}"
        );
    }
}

/// Strangers that connect to the rendezvous and say nothing hold up no one: joiners are taken
/// concurrently (before, each silent stranger held the coordinator for its 10 s handshake
/// timeout, and five of them outlasted `--wait 15`).
#[test]
fn silent_strangers_at_the_rendezvous_do_not_hold_up_the_joiners() {
    let port = free_port();
    let coordinator = participant(port, 10);
    std::thread::sleep(Duration::from_millis(300));
    let strangers: Vec<std::net::TcpStream> = (0..5)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let joiners: Vec<Child> = [20, 30, 40]
        .into_iter()
        .map(|v| {
            std::thread::sleep(Duration::from_millis(100));
            participant(port, v)
        })
        .collect();
    for child in std::iter::once(coordinator).chain(joiners) {
        let (stdout, json) = finished(child);
        assert!(json["weighted_sum"].is_i64(), "{stdout}");
    }
    drop(strangers);
}
