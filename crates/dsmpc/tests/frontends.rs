//! Two cloud front-ends over one PostgreSQL database (issue 21): `dsmpc init --cloud-frontends 2`
//! lists two addresses for the cloud, `dsmpc cloud --frontend 1|2` serves each, and every client
//! spreads over them and fails over; each CP runs as two workers (`dsmpc cp --worker I/2`). A
//! front-end is killed with SIGKILL mid-task, PostgreSQL is restarted as a crash would
//! (`pg_ctl -m immediate`), a CP's worker is killed, the other front-end is killed later; every
//! task ends exactly and nothing acknowledged is lost. Needs a server (`DSMPC_TEST_DATABASE`,
//! `DSMPC_TEST_PG_RESTART`: `scripts/pg-test-server.sh`); without one the test says it was left
//! out. One test in this binary: it restarts the shared server.

mod cluster;

use std::process::Command;

use cluster::{Cluster, strings};

#[path = "../../dsmpc-net/tests/pg/mod.rs"]
mod pg;

/// How many of `names` hold `needle` in their logs.
fn logs_holding(c: &Cluster, names: &[&str], needle: &str) -> usize {
    names
        .iter()
        .filter(|n| {
            std::fs::read_to_string(c.log(n))
                .unwrap_or_default()
                .contains(needle)
        })
        .count()
}

#[test]
fn two_frontends_over_one_database_survive_kills_and_a_database_crash() {
    let Some(url) = pg::fresh_database("frontends::two_frontends") else {
        return;
    };
    let mut c = Cluster::with_frontends(3, 8, 2, Some(&url), 2);
    let roster = std::fs::read_to_string(c.dep().join("roster.toml")).unwrap();
    let listed = roster
        .lines()
        .find(|l| l.starts_with("address") && l.contains(','))
        .unwrap_or_else(|| panic!("no front-end list in the roster:\n{roster}"));
    assert_eq!(listed.matches(':').count(), 2, "{listed}");
    c.start_frontend(1);
    c.start_frontend(2);
    c.restart("edge");
    for cp in ["cp1", "cp2", "cp3"] {
        for (name, worker) in [(cp.to_owned(), "1/2"), (format!("{cp}w2"), "2/2")] {
            let args = ["cp", "--id", cp, "--worker", worker, "--part-wait", "1"];
            c.start(&name, &args);
        }
    }

    let task = c.create_task(&["--func", "sum", "--mode", "fast", "--deadline", "120"]);
    let values = ["7", "8", "9", "-30", "4", "5", "6", "-1"];
    for (i, v) in values[..3].iter().enumerate() {
        c.submit(&format!("dp{}", i + 1), &task, v);
    }
    // The DPs spread over both front-ends: each has placed bundles of its own by now.
    c.kill("cloud");
    for (i, v) in values[3..5].iter().enumerate() {
        c.submit(&format!("dp{}", i + 4), &task, v);
    }
    match std::env::var(pg::RESTART_VAR) {
        Ok(script) => {
            let status = Command::new(&script).status().unwrap();
            assert!(status.success(), "{script} failed");
        }
        Err(_) => eprintln!(
            "left out: the database restart ({} not set)",
            pg::RESTART_VAR
        ),
    }
    c.kill("cp3w2");
    c.submit("dp6", &task, values[5]);
    c.restart("cloud");
    c.kill("cloud2");
    c.submit("dp7", &task, values[6]);
    c.restart("cloud2");
    c.submit("dp8", &task, values[7]);

    let r = c.result(&task);
    assert_eq!(strings(&r["result"]), vec!["8"], "{}", c.logs());
    let included = strings(&r["included"]);
    assert_eq!(included.len(), 8, "{included:?}");

    // What the front-ends acknowledged is in PostgreSQL, at positions 0..8 without gaps.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let (count, max): (i64, i64) = {
        let row = client
            .query_one("SELECT count(*), max(pos) FROM bundles", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((count, max), (8, 7));
    // Both front-ends served: each placed bundles or wrote events the other caught up with.
    assert_eq!(
        logs_holding(&c, &["cloud", "cloud2"], "cloud listening"),
        2,
        "{}",
        c.logs()
    );
    assert!(
        logs_holding(
            &c,
            &["cloud", "cloud2"],
            "caught up with the shared database"
        ) > 0
            || logs_holding(
                &c,
                &["cloud", "cloud2"],
                "task loaded from the shared database"
            ) > 0,
        "{}",
        c.logs()
    );
    // cp3's lead folded its dead worker's part; the other leads absorbed their workers' parts.
    cluster::await_log_line(
        &c,
        "cp3",
        &[
            "folding the part of a worker that did not hand it in",
            &task,
        ],
    );
    cluster::await_log_line(&c, "cp1", &["absorbed a worker's part", &task]);
    if std::env::var(pg::RESTART_VAR).is_ok() {
        // cloud2 ran through the database's restart.
        let log = std::fs::read_to_string(c.log("cloud2")).unwrap();
        assert!(log.contains("reconnected to PostgreSQL"), "{log}");
    }
    // A second task after all that, on the two front-ends as they now run.
    let second = c.create_task(&["--func", "sum", "--mode", "verifiable", "--deadline", "120"]);
    for (i, v) in ["1", "2", "3", "4", "5", "6", "7", "8"].iter().enumerate() {
        c.submit(&format!("dp{}", i + 1), &second, v);
    }
    let r = c.result(&second);
    assert_eq!(strings(&r["result"]), vec!["36"], "{}", c.logs());

    // The operator closes a third task's submissions long before its deadline, through
    // whichever front-end its link picks: the DPs that have not submitted are left out at once,
    // a late bundle is refused, and a second close is acknowledged.
    let third = c.create_task(&["--func", "sum", "--mode", "fast", "--deadline", "600"]);
    c.submit("dp1", &third, "10");
    c.submit("dp2", &third, "20");
    c.ok(&["task", "close", "--task", &third]);
    c.ok(&["task", "close", "--task", &third]);
    let late = c.refused(&["dp", "--id", "dp3", "--task", &third, "--values", "1"]);
    assert!(late.contains("refused"), "{late}");
    let r = c.result(&third);
    assert_eq!(strings(&r["result"]), vec!["30"], "{}", c.logs());
    assert_eq!(strings(&r["included"]), vec!["dp1", "dp2"]);
    assert_eq!(strings(&r["excluded"]).len(), 6);
}
