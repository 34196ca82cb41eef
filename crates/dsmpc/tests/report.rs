//! `dsmpc report` as a user runs it: on the flow log of a real 5-CP, 3-DP deployment, on a
//! malformed log, and (where Debian's `chromium` is installed) rendered to a screenshot.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::dsmpc;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flow.jsonl")
}

/// `n` with thousands separated by commas, as the page prints byte counts.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The fixture's total bytes and its parties, read independently of the report.
fn fixture_facts() -> (u64, Vec<String>) {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let mut total = 0;
    let mut parties = Vec::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        if let Some(bytes) = value["bytes"].as_u64() {
            total += bytes;
            for end in ["src", "dst"] {
                parties.push(value[end].as_str().unwrap().to_string());
            }
        }
    }
    parties.sort();
    parties.dedup();
    (total, parties)
}

/// Writes the fixture's report into `dir` and returns its path.
fn report_in(dir: &Path, extra: &[&str]) -> PathBuf {
    let out = dir.join("r.html");
    dsmpc()
        .arg("report")
        .arg(fixture())
        .arg("--out")
        .arg(&out)
        .args(extra)
        .assert()
        .success();
    out
}

#[test]
fn report_of_a_real_deployment() {
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(report_in(dir.path(), &[])).unwrap();
    let (total, parties) = fixture_facts();
    assert!(html.contains("<svg"));
    assert!(
        html.contains(&format!("{} bytes", grouped(total))),
        "total {total}"
    );
    for party in ["cloud", "edge", "cp1", "cp5", "dp1", "dp3"] {
        assert!(
            parties.iter().any(|p| p == party),
            "the fixture has {party}"
        );
        assert!(html.contains(&format!(">{party}<")), "{party} is labelled");
    }
    assert!(html.contains("control traffic"));
}

#[test]
fn report_of_one_task_leaves_out_control_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let task = "e293c5ea2b94fd700e411c9143db3f78";
    let html = std::fs::read_to_string(report_in(dir.path(), &["--task", task])).unwrap();
    assert!(html.contains(task));
    assert!(
        !html.contains("list-tasks"),
        "polling for tasks has no task"
    );

    let out = dsmpc()
        .args(["report", "--task", "ffff", "--out"])
        .arg(dir.path().join("x.html"))
        .arg(fixture())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no lines of task ffff") && err.contains(task),
        "{err}"
    );
}

#[test]
fn a_malformed_log_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad.jsonl");
    let good = r#"{"ts":1,"task":"","src":"cp1","dst":"cloud","kind":"get-status","bytes":23}"#;
    std::fs::write(&log, format!("{good}\n{good}\n{{\"ts\":2}}\n")).unwrap();
    let out = dsmpc()
        .arg("report")
        .arg(&log)
        .arg("--out")
        .arg(dir.path().join("r.html"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("bad.jsonl, line 3:"), "{err}");
    assert!(!dir.path().join("r.html").exists());

    std::fs::write(&log, "").unwrap();
    let out = dsmpc()
        .arg("report")
        .arg(&log)
        .args(["--out", "unused.html"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("is empty"));
}

#[test]
fn an_unwritable_output_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("no-such-dir/r.html");
    let out = dsmpc()
        .arg("report")
        .arg(fixture())
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no-such-dir/r.html"), "{err}");
}

/// Runs `command`, killing it if it outlives `limit`; whether it finished with success.
fn finishes(mut command: Process, limit: Duration) -> bool {
    let mut child = command.spawn().expect("chromium starts");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// Renders the report in headless Chromium. Where Chromium is not installed the test is skipped
/// with a message, unless `DSMPC_REQUIRE_CHROMIUM` is set (`.ci/run` sets it, after installing
/// Debian's `chromium`): then a missing Chromium fails it. `DSMPC_SCREENSHOT=path` keeps a copy
/// of the PNG for a human to look at.
#[test]
fn report_renders_in_chromium() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        assert!(
            std::env::var_os("DSMPC_REQUIRE_CHROMIUM").is_none(),
            "DSMPC_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing \
             (apt-get install chromium)"
        );
        eprintln!(
            "SKIPPED report_renders_in_chromium: /usr/bin/chromium is not installed \
             (set DSMPC_REQUIRE_CHROMIUM=1 to make that a failure)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let page = report_in(dir.path(), &["--title", "5 CPs, 3 DPs"]);
    let png = dir.path().join("r.png");
    let mut command = Process::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,1800")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    assert!(
        finishes(command, Duration::from_secs(120)),
        "chromium failed"
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.len() > 20_000,
        "a {} byte screenshot is blank",
        bytes.len()
    );
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    if let Some(keep) = std::env::var_os("DSMPC_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}
