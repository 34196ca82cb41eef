//! Tests of the store: round trips, durability across reopen, `kill -9` while appending, refusal
//! of foreign and newer files, and (ignored) batch-append throughput.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::*;

const A: [u8; 16] = [0xaa; 16];
const B: [u8; 16] = [0xbb; 16];

/// Set in the child process of [`kill_while_appending_loses_nothing_acknowledged`].
const CRASH_CHILD_ENV: &str = "DSMPC_STORE_CRASH_CHILD_DB";

fn memory() -> Store {
    Store::open_in_memory().expect("in-memory store")
}

fn with_tasks(tasks: &[[u8; 16]]) -> Store {
    let mut store = memory();
    for t in tasks {
        store.create_task(t, &t[..4]).expect("create task");
    }
    store
}

#[test]
fn status_names_round_trip() {
    for s in [TaskStatus::Open, TaskStatus::Closed, TaskStatus::Failed] {
        assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(s));
        assert_eq!(s.to_string(), s.as_str());
    }
    let err = "done".parse::<TaskStatus>().unwrap_err();
    assert!(err.to_string().contains("\"done\""), "{err}");
}

#[test]
fn tasks_round_trip_in_creation_order() {
    let mut store = memory();
    store.create_task(&B, b"spec b").unwrap();
    store.create_task(&A, b"spec a").unwrap();
    let all = store.tasks(None).unwrap();
    assert_eq!(
        all,
        vec![
            (B, TaskStatus::Open, b"spec b".to_vec()),
            (A, TaskStatus::Open, b"spec a".to_vec()),
        ]
    );
    store.set_status(&B, TaskStatus::Closed).unwrap();
    let open = store.tasks(Some(TaskStatus::Open)).unwrap();
    assert_eq!(open, vec![(A, TaskStatus::Open, b"spec a".to_vec())]);
    let closed = store.tasks(Some(TaskStatus::Closed)).unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].0, B);
    assert!(store.tasks(Some(TaskStatus::Failed)).unwrap().is_empty());
}

#[test]
fn create_task_is_idempotent_and_refuses_a_different_spec() {
    let mut store = memory();
    store.create_task(&A, b"spec").unwrap();
    store.create_task(&A, b"spec").unwrap();
    assert_eq!(store.tasks(None).unwrap().len(), 1);
    let err = store.create_task(&A, b"other").unwrap_err();
    assert!(
        matches!(err, StoreError::TaskConflict(t) if t == A),
        "{err}"
    );
    assert!(err.to_string().contains(&"aa".repeat(16)), "{err}");
    assert_eq!(store.tasks(None).unwrap()[0].2, b"spec");
}

#[test]
fn events_come_back_in_order_per_task() {
    let mut store = with_tasks(&[A, B]);
    let mut expected: BTreeMap<[u8; 16], Vec<Event>> = BTreeMap::new();
    let mut last = 0;
    for i in 0u8..20 {
        let task = if i % 3 == 0 { B } else { A };
        let kind = format!("kind{i}");
        let seq = store.append(&task, &kind, &[i; 7]).unwrap();
        assert!(seq > last, "seq {seq} after {last}");
        last = seq;
        expected.entry(task).or_default().push(Event {
            seq,
            kind,
            body: vec![i; 7],
        });
    }
    for (task, events) in &expected {
        assert_eq!(&store.events(task).unwrap(), events);
    }
}

#[test]
fn empty_bodies_and_kinds_round_trip() {
    let mut store = with_tasks(&[A]);
    let seq = store.append(&A, "", &[]).unwrap();
    let events = store.events(&A).unwrap();
    assert_eq!(
        events,
        vec![Event {
            seq,
            kind: String::new(),
            body: vec![]
        }]
    );
    assert!(store.append_batch(&[]).unwrap().is_empty());
}

#[test]
fn append_batch_returns_increasing_seqs_across_tasks() {
    let mut store = with_tasks(&[A, B]);
    let first = store.append(&A, "single", b"0").unwrap();
    let batch: Vec<([u8; 16], &str, &[u8])> = vec![(A, "x", b"1"), (B, "y", b"2"), (A, "z", b"3")];
    let seqs = store.append_batch(&batch).unwrap();
    assert_eq!(seqs.len(), 3);
    assert!(first < seqs[0] && seqs[0] < seqs[1] && seqs[1] < seqs[2]);
    let a: Vec<_> = store
        .events(&A)
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect();
    assert_eq!(a, vec![b"0".to_vec(), b"1".to_vec(), b"3".to_vec()]);
    let b = store.events(&B).unwrap();
    assert_eq!((b[0].seq, b[0].kind.as_str()), (seqs[1], "y"));
}

#[test]
fn unknown_tasks_are_refused_by_name() {
    let mut store = with_tasks(&[A]);
    let is_unknown_b = |e: &StoreError| matches!(e, StoreError::UnknownTask(t) if *t == B);
    let err = store.append(&B, "k", b"x").unwrap_err();
    assert!(is_unknown_b(&err), "{err}");
    assert_eq!(err.to_string(), format!("unknown task {}", "bb".repeat(16)));
    assert!(is_unknown_b(&store.events(&B).unwrap_err()));
    assert!(is_unknown_b(
        &store.set_status(&B, TaskStatus::Closed).unwrap_err()
    ));
    assert!(is_unknown_b(&store.status(&B).unwrap_err()));
    assert!(is_unknown_b(&store.put_result(&B, b"r").unwrap_err()));
    assert!(is_unknown_b(&store.result(&B).unwrap_err()));
}

#[test]
fn a_batch_with_an_unknown_task_writes_nothing() {
    let mut store = with_tasks(&[A]);
    let batch: Vec<([u8; 16], &str, &[u8])> = vec![(A, "k", b"1"), (B, "k", b"2")];
    let err = store.append_batch(&batch).unwrap_err();
    assert!(matches!(err, StoreError::UnknownTask(t) if t == B), "{err}");
    assert!(store.events(&A).unwrap().is_empty());
    // The store is still usable after the rolled-back transaction.
    store.append(&A, "k", b"3").unwrap();
    assert_eq!(store.events(&A).unwrap().len(), 1);
}

#[test]
fn status_transitions() {
    let mut store = with_tasks(&[A, B]);
    assert_eq!(store.status(&A).unwrap(), TaskStatus::Open);
    store.set_status(&A, TaskStatus::Open).unwrap();
    store.set_status(&A, TaskStatus::Closed).unwrap();
    store.set_status(&A, TaskStatus::Closed).unwrap();
    assert_eq!(store.status(&A).unwrap(), TaskStatus::Closed);
    for to in [TaskStatus::Open, TaskStatus::Failed] {
        let err = store.set_status(&A, to).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidTransition { task, from: TaskStatus::Closed, to: t }
                if task == A && t == to),
            "{err}"
        );
    }
    store.set_status(&B, TaskStatus::Failed).unwrap();
    let err = store.set_status(&B, TaskStatus::Open).unwrap_err();
    assert!(err.to_string().contains("from failed to open"), "{err}");
    assert_eq!(store.status(&B).unwrap(), TaskStatus::Failed);
    // Events may still be appended to a finished task (late complaints, audit records).
    store.append(&A, "late", b"x").unwrap();
}

#[test]
fn results_are_written_once() {
    let mut store = with_tasks(&[A, B]);
    assert_eq!(store.result(&A).unwrap(), None);
    store.put_result(&A, b"result").unwrap();
    store.put_result(&A, b"result").unwrap();
    assert_eq!(store.result(&A).unwrap(), Some(b"result".to_vec()));
    let err = store.put_result(&A, b"other").unwrap_err();
    assert!(
        matches!(err, StoreError::ResultConflict(t) if t == A),
        "{err}"
    );
    assert_eq!(store.result(&A).unwrap(), Some(b"result".to_vec()));
    assert_eq!(store.result(&B).unwrap(), None);
}

#[test]
fn everything_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let seqs = {
        let mut store = Store::open(&path).unwrap();
        store.create_task(&A, b"spec a").unwrap();
        store.create_task(&B, b"spec b").unwrap();
        let mut seqs = vec![store.append(&A, "one", b"1").unwrap()];
        let batch: Vec<([u8; 16], &str, &[u8])> = vec![(A, "two", b"2"), (B, "three", b"3")];
        seqs.extend(store.append_batch(&batch).unwrap());
        store.set_status(&B, TaskStatus::Closed).unwrap();
        store.put_result(&B, b"sum").unwrap();
        seqs
    };
    let mut store = Store::open(&path).unwrap();
    let a = store.events(&A).unwrap();
    assert_eq!(a.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs[..2]);
    assert_eq!(a[1].kind, "two");
    assert_eq!(store.events(&B).unwrap()[0].body, b"3");
    assert_eq!(
        store.tasks(Some(TaskStatus::Open)).unwrap(),
        vec![(A, TaskStatus::Open, b"spec a".to_vec())]
    );
    assert_eq!(store.result(&B).unwrap(), Some(b"sum".to_vec()));
    // Sequence numbers keep increasing after a reopen.
    assert!(store.append(&A, "four", b"4").unwrap() > seqs[2]);
}

#[test]
fn files_use_the_write_ahead_log_and_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(Store::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "these are not the bytes of a SQLite database\n".repeat(100),
    )
    .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { path: p, .. } if *p == path),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("not a database"), "{msg}");
    // The file is left as it was.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .starts_with("these are")
    );
}

#[test]
fn a_missing_directory_is_refused_by_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent").join("store.db");
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Open { path: p, .. } if *p == path),
        "{err}"
    );
    assert!(err.to_string().contains("absent"), "{err}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(Store::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(conn);
    let err = Store::open(&path).unwrap_err();
    match &err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert_eq!(
                (p, *found, *supported),
                (&path, SCHEMA_VERSION + 1, SCHEMA_VERSION)
            );
        }
        other => panic!("expected NewerSchema, got {other}"),
    }
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

fn crash_body(i: u64) -> Vec<u8> {
    format!("event {i} ").repeat(8).into_bytes()
}

/// The child of [`kill_while_appending_loses_nothing_acknowledged`]: does nothing unless the
/// environment names a database; then appends events until it is killed, printing each
/// acknowledged seq.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let mut store = Store::open(Path::new(&path)).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0..1_000_000u64 {
        let seq = store.append(&A, "crash", &crash_body(i)).unwrap();
        writeln!(out, "ack {seq} {i}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn kill_while_appending_loses_nothing_acknowledged() {
    const KILL_AFTER: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    Store::open(&path)
        .unwrap()
        .create_task(&A, b"spec")
        .unwrap();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["store::tests::crash_child", "--exact", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    let parse = |line: &str| -> Option<(u64, u64)> {
        let mut words = line.strip_prefix("ack ")?.split(' ');
        Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
    };
    for line in lines.by_ref() {
        if let Some(ack) = parse(&line.unwrap()) {
            acked.push(ack);
            if acked.len() == KILL_AFTER {
                child.kill().unwrap();
                break;
            }
        }
    }
    assert_eq!(
        acked.len(),
        KILL_AFTER,
        "the child stopped before being killed"
    );
    // Lines the child wrote before it died are still in the pipe.
    acked.extend(lines.map_while(Result::ok).filter_map(|l| parse(&l)));
    assert!(!child.wait().unwrap().success());

    let store = Store::open(&path).expect("the store opens cleanly after kill -9");
    let events = store.events(&A).unwrap();
    assert!(
        events.len() >= acked.len(),
        "{} < {}",
        events.len(),
        acked.len()
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.body, crash_body(i as u64), "event {i} differs");
    }
    let stored: HashSet<u64> = events.iter().map(|e| e.seq).collect();
    for (seq, i) in &acked {
        assert!(
            stored.contains(seq),
            "acknowledged seq {seq} (event {i}) was lost"
        );
        assert_eq!(events[*i as usize].seq, *seq);
    }
    println!(
        "crash: {} acknowledged, {} stored",
        acked.len(),
        events.len()
    );
}

#[test]
#[ignore = "throughput figure; run with --release -- --ignored --nocapture store"]
fn store_append_batch_throughput() {
    const EVENTS: usize = 20_000;
    const BATCH: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut store = Store::open(&path).unwrap();
    let tasks: Vec<[u8; 16]> = (0..10u8).map(|i| [i; 16]).collect();
    for t in &tasks {
        store.create_task(t, b"spec").unwrap();
    }
    let bodies: Vec<Vec<u8>> = (0..EVENTS).map(|i| vec![i as u8; 200]).collect();
    let events: Vec<([u8; 16], &str, &[u8])> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| (tasks[i % tasks.len()], "bundle", b.as_slice()))
        .collect();

    let start = Instant::now();
    let mut seqs = Vec::with_capacity(EVENTS);
    for chunk in events.chunks(BATCH) {
        seqs.extend(store.append_batch(chunk).unwrap());
    }
    let batched = EVENTS as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    for body in &bodies[..200] {
        store.append(&tasks[0], "single", body).unwrap();
    }
    let single = 200.0 / start.elapsed().as_secs_f64();

    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let stored: usize = tasks.iter().map(|t| store.events(t).unwrap().len()).sum();
    assert_eq!(stored, EVENTS + 200);
    println!(
        "store: append_batch {EVENTS} x 200 B in batches of {BATCH}: {batched:.0} events/s; \
         single appends: {single:.0} events/s (synchronous=FULL, WAL, {})",
        dir.path().display()
    );
}

#[test]
fn a_commit_applies_its_writes_in_order_in_one_transaction() {
    let mut store = memory();
    store
        .commit(&[
            super::Write::CreateTask {
                task: &A,
                spec: b"spec a",
            },
            super::Write::Append {
                task: &A,
                kind: "bundle",
                body: b"one",
            },
            super::Write::Append {
                task: &A,
                kind: "bundle",
                body: b"two",
            },
            super::Write::SetStatus {
                task: &A,
                status: TaskStatus::Closed,
            },
        ])
        .unwrap();
    let bodies: Vec<Vec<u8>> = store
        .events(&A)
        .unwrap()
        .into_iter()
        .map(|e| e.body)
        .collect();
    assert_eq!(bodies, vec![b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(store.status(&A).unwrap(), TaskStatus::Closed);
    store.commit(&[]).unwrap();
}

#[test]
fn a_failing_write_rolls_back_the_whole_commit() {
    let mut store = with_tasks(&[A]);
    let err = store
        .commit(&[
            super::Write::Append {
                task: &A,
                kind: "bundle",
                body: b"kept?",
            },
            super::Write::CreateTask {
                task: &B,
                spec: b"spec b",
            },
            super::Write::Append {
                task: &[0xcc; 16],
                kind: "bundle",
                body: b"no task",
            },
        ])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::UnknownTask(t) if t == [0xcc; 16]),
        "{err}"
    );
    assert!(store.events(&A).unwrap().is_empty());
    assert!(matches!(store.events(&B), Err(StoreError::UnknownTask(_))));
}

/// Three shares of lengths 3m, 5m and 2m bytes, distinct per DP.
fn bundle_write<'a>(
    task: &'a [u8; 16],
    pos: u64,
    dp: &'a str,
    shares: &'a [u8],
    lens: &'a [u64; 3],
) -> BundleWrite<'a> {
    BundleWrite {
        task,
        pos,
        dp,
        core: dp.as_bytes(),
        shares,
        share_lens: lens,
    }
}

fn lens(m: u64) -> [u64; 3] {
    [3 * m, 5 * m, 2 * m]
}

fn shares_of(k: u8, m: usize) -> Vec<u8> {
    (0..10 * m)
        .map(|i| k.wrapping_mul(31) ^ (i % 251) as u8)
        .collect()
}

/// Bundles round-trip through SQLite — small ones inline, large ones (beyond
/// [`INLINE_SHARES`]) through the segment files: each CP's share is the right slice, pages
/// follow the order of arrival and stop at the byte budget (never empty), and a reopened store
/// serves the same bytes.
#[test]
fn bundles_are_served_back_by_share_in_order_of_arrival_and_survive_reopening() {
    for m in [1, INLINE_SHARES / 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cloud.db");
        let dps = ["dp3", "dp1", "dp2"];
        let lens = lens(m as u64);
        let shares: Vec<Vec<u8>> = (1..=3).map(|k| shares_of(k, m)).collect();
        {
            let mut store = Store::open(&path).unwrap();
            store.create_task(&A, b"spec").unwrap();
            let writes: Vec<super::Write<'_>> = dps
                .iter()
                .zip(&shares)
                .zip(0..)
                .map(|((dp, s), pos)| super::Write::Bundle(bundle_write(&A, pos, dp, s, &lens)))
                .collect();
            store.commit(&writes).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            Segments::dir_for(&path).is_dir(),
            m > 1,
            "segments for m = {m}"
        );
        assert_eq!(store.bundle_count(&A).unwrap(), 3);
        let cores: Vec<String> = store
            .bundle_cores(&A)
            .unwrap()
            .into_iter()
            .map(|c| c.dp)
            .collect();
        assert_eq!(cores, dps);
        let page = store.shares_after(&A, 2, None, 10, 1 << 20).unwrap();
        let got: Vec<(u64, &str, &[u8])> = page
            .iter()
            .map(|s| (s.pos, s.dp.as_str(), s.share.as_slice()))
            .collect();
        let second = 3 * m..8 * m;
        assert_eq!(
            got,
            vec![
                (0, "dp3", &shares[0][second.clone()]),
                (1, "dp1", &shares[1][second.clone()]),
                (2, "dp2", &shares[2][second.clone()])
            ]
        );
        let after_first = store.shares_after(&A, 3, Some(0), 10, 1 << 20).unwrap();
        assert_eq!(after_first.len(), 2);
        assert_eq!(after_first[0].share, shares[1][8 * m..]);
        // A budget of one share and a bit holds one; a budget of 1 byte still yields one.
        assert_eq!(store.shares_after(&A, 2, None, 10, 6 * m).unwrap().len(), 1);
        assert_eq!(store.shares_after(&A, 2, None, 10, 1).unwrap().len(), 1);
        assert_eq!(
            store.shares_after(&A, 2, None, 2, 1 << 20).unwrap().len(),
            2
        );
        let one = store.share_of(&A, "dp1", 1).unwrap().unwrap();
        assert_eq!(one.core, b"dp1");
        assert_eq!(one.share, shares[1][..3 * m]);
        assert_eq!(store.share_of(&A, "dp9", 1).unwrap(), None);
        assert!(matches!(
            store.share_of(&A, "dp1", 4),
            Err(StoreError::Corrupt(m)) if m.contains("no share 4")
        ));
        assert!(matches!(
            store.share_of(&A, "dp1", 0),
            Err(StoreError::Corrupt(_))
        ));
        let cores = store.cores_of(&A, &["dp2", "dp9"]).unwrap();
        assert_eq!(cores, vec![Some(b"dp2".to_vec()), None]);
    }
}

/// A second bundle from the same DP, or at a position taken, is refused and nothing of the batch
/// is stored; share lengths that do not add up are refused before anything is written.
#[test]
fn conflicting_or_inconsistent_bundles_are_refused_whole() {
    let mut store = with_tasks(&[A]);
    let s = shares_of(1, 1);
    let l = lens(1);
    store
        .put_bundle(bundle_write(&A, 0, "dp1", &s, &l))
        .unwrap();
    assert!(
        store
            .put_bundle(bundle_write(&A, 1, "dp1", &s, &l))
            .is_err()
    );
    assert!(
        store
            .put_bundle(bundle_write(&A, 0, "dp2", &s, &l))
            .is_err()
    );
    let bad = BundleWrite {
        share_lens: &[3, 3],
        ..bundle_write(&A, 1, "dp2", &s, &l)
    };
    assert!(matches!(store.put_bundle(bad), Err(StoreError::Corrupt(m)) if m.contains("add up")));
    assert!(matches!(
        store.put_bundle(bundle_write(&B, 0, "dp1", &s, &l)),
        Err(StoreError::Sqlite(_)) | Err(StoreError::UnknownTask(_))
    ));
    assert_eq!(store.bundle_count(&A).unwrap(), 1);
}

/// Bytes a batch appended to a segment but never committed (a crash between the append and the
/// commit) are cut off when the store is trimmed on start; committed shares are untouched, a
/// segment no row references is emptied, and files that are not segments are left alone.
#[test]
fn trimming_cuts_uncommitted_segment_bytes_and_keeps_committed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cloud.db");
    let m = INLINE_SHARES / 4;
    let lens = lens(m as u64);
    let shares = shares_of(1, m);
    {
        let mut store = Store::open(&path).unwrap();
        store.create_task(&A, b"a").unwrap();
        store.create_task(&B, b"b").unwrap();
        store
            .put_bundle(bundle_write(&A, 0, "dp1", &shares, &lens))
            .unwrap();
    }
    let segments = Segments::dir_for(&path);
    let file_a = std::fs::read_dir(&segments)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let committed = std::fs::metadata(&file_a).unwrap().len();
    assert_eq!(committed, 10 * m as u64);
    // An uncommitted batch's bytes, a segment for B with no row, and a stray file.
    let mut a = std::fs::OpenOptions::new()
        .append(true)
        .open(&file_a)
        .unwrap();
    a.write_all(&[7; 1000]).unwrap();
    let name_b: String = B.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(segments.join(format!("{name_b}.seg")), [9; 500]).unwrap();
    std::fs::write(segments.join("notes.txt"), b"keep me").unwrap();

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.trim_segments().unwrap(), 1500);
    assert_eq!(std::fs::metadata(&file_a).unwrap().len(), committed);
    assert_eq!(
        std::fs::metadata(segments.join(format!("{name_b}.seg")))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        std::fs::read(segments.join("notes.txt")).unwrap(),
        b"keep me"
    );
    assert_eq!(
        store.trim_segments().unwrap(),
        0,
        "trimming twice cuts nothing more"
    );
    let share = store.share_of(&A, "dp1", 3).unwrap().unwrap();
    assert_eq!(share.share, shares[8 * m..]);
    // New bundles go after the committed ones.
    store
        .put_bundle(bundle_write(&A, 1, "dp2", &shares, &lens))
        .unwrap();
    assert_eq!(
        store.share_of(&A, "dp2", 1).unwrap().unwrap().share,
        shares[..3 * m]
    );
}
