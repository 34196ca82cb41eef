//! Several front-ends over one PostgreSQL database (issue 21), at the store: bundles placed by
//! concurrent connections get dense positions in commit order, resends and second bundles are
//! told apart, a closed task takes nothing, a full one closes itself; leases are exclusive,
//! expire, and fence the write that does the work; a locked write meets a concurrent one and is
//! retried. Needs a server (`pg::VAR`); without one these tests say they were left out.

mod pg;

use std::sync::{Arc, Barrier};

use dsmpc_net::store::pg::PgStore;
use dsmpc_net::store::pg_shared::{Lease, Placement, TaskTxError};
use dsmpc_net::store::{BundleWrite, CloudStore, StoreLocation, TaskStatus, Write};

const T: [u8; 16] = [0x11; 16];

fn connect(url: &str) -> PgStore {
    match StoreLocation::Postgres(url.to_owned()).open().unwrap() {
        CloudStore::Postgres(pg) => pg,
        CloudStore::Sqlite(_) => unreachable!(),
    }
}

/// A fresh database holding task `T` (with its DP list event).
fn with_task(test: &str) -> Option<(String, PgStore)> {
    let url = pg::fresh_database(test)?;
    let mut store = connect(&url);
    store
        .create_task_with(&T, b"spec", "dp-list", b"list")
        .unwrap();
    Some((url, store))
}

/// A bundle of DP `dp` with core `core` and two shares.
fn bundle<'a>(dp: &'a str, core: &'a [u8]) -> BundleWrite<'a> {
    BundleWrite {
        task: &T,
        pos: 999,
        dp,
        core,
        shares: b"aabbb",
        share_lens: &[2, 3],
    }
}

fn unlisted(_: &[u8; 16]) -> Option<u64> {
    None
}

#[test]
fn concurrent_front_ends_place_bundles_at_dense_positions() {
    let Some((url, _store)) = with_task("postgres_shared::dense") else {
        return;
    };
    let names: Vec<Vec<String>> = (0..2)
        .map(|f| (0..200).map(|i| format!("dp{f}_{i}")).collect())
        .collect();
    let start = Arc::new(Barrier::new(2));
    let placed: Vec<Vec<Placement>> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|mine| {
                let (url, start) = (url.clone(), start.clone());
                s.spawn(move || {
                    let mut store = connect(&url);
                    start.wait();
                    let mut all = Vec::new();
                    // Batches of 10, as a journal under load would commit them.
                    for chunk in mine.chunks(10) {
                        let batch: Vec<BundleWrite<'_>> =
                            chunk.iter().map(|dp| bundle(dp, dp.as_bytes())).collect();
                        all.extend(store.place_bundles(&batch, &unlisted, 1).unwrap());
                    }
                    all
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut positions: Vec<u64> = placed
        .iter()
        .flatten()
        .map(|p| match p {
            Placement::Placed(pos) => *pos,
            other => panic!("{other:?}"),
        })
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (0..400).collect::<Vec<u64>>());
    // Each front-end's own bundles got increasing positions.
    for mine in &placed {
        let pos: Vec<u64> = mine
            .iter()
            .map(|p| match p {
                Placement::Placed(pos) => *pos,
                _ => unreachable!(),
            })
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{pos:?}");
    }
    let mut store = connect(&url);
    let head = store.head(&T).unwrap().unwrap();
    assert_eq!(head.next_pos, 400);
    let cores = store.cores_from(&T, 395).unwrap();
    assert_eq!(
        cores.iter().map(|c| c.pos).collect::<Vec<_>>(),
        [395, 396, 397, 398, 399]
    );
    let share = store.share_of(&T, "dp1_7", 2).unwrap().unwrap();
    assert_eq!(share.share, b"bbb");
}

#[test]
fn resends_second_bundles_and_closed_tasks_are_told_apart() {
    let Some((_url, mut store)) = with_task("postgres_shared::verdicts") else {
        return;
    };
    let first = store
        .place_bundles(&[bundle("dp1", b"core 1")], &unlisted, 1)
        .unwrap();
    assert_eq!(first, [Placement::Placed(0)]);
    // In one batch: a resend, a different bundle of dp1, a new DP twice (the second copy is a
    // resend of the first), an unknown task.
    let other = [0x22; 16];
    let batch = [
        bundle("dp1", b"core 1"),
        bundle("dp1", b"forged"),
        bundle("dp2", b"core 2"),
        bundle("dp2", b"core 2"),
        BundleWrite {
            task: &other,
            ..bundle("dp3", b"core 3")
        },
    ];
    let verdicts = store.place_bundles(&batch, &unlisted, 1).unwrap();
    assert_eq!(
        verdicts,
        [
            Placement::Resent,
            Placement::Different,
            Placement::Placed(1),
            Placement::Resent,
            Placement::UnknownTask
        ]
    );
    // Share lengths that do not add up are refused, not stored.
    let bad = BundleWrite {
        share_lens: &[1, 1],
        ..bundle("dp4", b"core 4")
    };
    assert_eq!(
        store.place_bundles(&[bad], &unlisted, 1).unwrap(),
        [Placement::Different]
    );
    // Closing submissions (a locked write) stops placement.
    store
        .with_task(&T, None, |ttx| {
            ttx.append("close-submissions", &5u64.to_le_bytes())
        })
        .unwrap();
    assert_eq!(
        store
            .place_bundles(&[bundle("dp5", b"core 5")], &unlisted, 1)
            .unwrap(),
        [Placement::Closed]
    );
    let head = store.head(&T).unwrap().unwrap();
    assert_eq!((head.next_pos, head.collecting), (2, false));
}

#[test]
fn the_batch_that_fills_the_dp_list_closes_submissions() {
    let Some((_url, mut store)) = with_task("postgres_shared::fill") else {
        return;
    };
    let three = |_: &[u8; 16]| Some(3);
    store
        .place_bundles(&[bundle("dp1", b"1"), bundle("dp2", b"2")], &three, 1)
        .unwrap();
    assert!(store.head(&T).unwrap().unwrap().collecting);
    store
        .place_bundles(&[bundle("dp3", b"3")], &three, 77)
        .unwrap();
    let head = store.head(&T).unwrap().unwrap();
    assert!(!head.collecting);
    let events = store.events_after(&T, 0).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.kind, "close-submissions");
    assert_eq!(last.body, 77u64.to_le_bytes());
    assert_eq!(head.last_seq, last.seq);
}

#[test]
fn a_lease_is_exclusive_expires_and_fences_its_write() {
    let Some((url, mut a)) = with_task("postgres_shared::lease") else {
        return;
    };
    let mut b = connect(&url);
    let lease = a.claim_lease(&T, "a", 30).unwrap().expect("a free lease");
    assert_eq!(b.claim_lease(&T, "b", 30).unwrap(), None);
    // The holder's write commits and frees the lease.
    let seq = a
        .with_task(&T, Some(lease), |ttx| {
            ttx.append("close-submissions", b"12345678")
        })
        .unwrap();
    assert!(seq > 0);
    // A lease that lapsed is taken over, and its old holder's write is refused.
    let old = b.claim_lease(&T, "b", 1).unwrap().expect("free again");
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let new = a.claim_lease(&T, "a", 30).unwrap().expect("expired");
    assert_ne!(old, new);
    let stale = b.with_task(&T, Some(old), |ttx| ttx.append("input-set", b"late"));
    assert!(matches!(stale, Err(TaskTxError::LeaseLost)), "{stale:?}");
    // A made-up token is refused too; nothing was written by either refusal.
    let forged = b.with_task(
        &T,
        Some(Lease {
            token: new.token + 1,
        }),
        |_| Ok(()),
    );
    assert!(matches!(forged, Err(TaskTxError::LeaseLost)), "{forged:?}");
    assert!(
        a.events_after(&T, seq)
            .unwrap()
            .iter()
            .all(|e| e.kind != "input-set")
    );
    // Closed tasks lease nothing.
    a.with_task(&T, Some(new), |ttx| ttx.set_status(TaskStatus::Closed))
        .unwrap();
    assert_eq!(b.claim_lease(&T, "b", 30).unwrap(), None);
}

#[test]
fn a_refused_locked_write_leaves_nothing_and_concurrent_ones_serialise() {
    let Some((url, mut store)) = with_task("postgres_shared::serialise") else {
        return;
    };
    let refused = store.with_task(&T, None, |ttx| {
        ttx.append("report", b"half")?;
        Err::<(), _>(TaskTxError::Refused("no".into()))
    });
    assert!(matches!(refused, Err(TaskTxError::Refused(r)) if r == "no"));
    assert_eq!(
        store.events_after(&T, 0).unwrap().len(),
        1,
        "only the DP list"
    );
    // Two connections append 40 events each under the lock, while bundles are placed: every
    // event lands, and each transaction sees every event committed before it got the lock —
    // also those of a transaction it waited for (a snapshot taken before the wait would miss
    // them, and a front-end would apply its message to a stale replica).
    let start = Arc::new(Barrier::new(3));
    let committed = std::sync::atomic::AtomicUsize::new(1);
    std::thread::scope(|s| {
        for who in ["a", "b"] {
            let (url, start, committed) = (url.clone(), start.clone(), &committed);
            s.spawn(move || {
                let mut store = connect(&url);
                start.wait();
                for i in 0..40 {
                    store
                        .with_task(&T, None, |ttx| {
                            let before = committed.load(std::sync::atomic::Ordering::SeqCst);
                            let seen = ttx.events_after(0)?;
                            assert!(seen.len() >= before, "{} < {before}", seen.len());
                            assert_eq!(seen.last().map(|e| e.seq), Some(ttx.head().last_seq));
                            ttx.append("report", format!("{who}{i}").as_bytes())
                        })
                        .unwrap();
                    committed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
        let (url, start) = (url.clone(), start.clone());
        s.spawn(move || {
            let mut store = connect(&url);
            start.wait();
            for i in 0..40 {
                let dp = format!("dp{i}");
                store
                    .place_bundles(&[bundle(&dp, dp.as_bytes())], &unlisted, 1)
                    .unwrap();
            }
        });
    });
    let events = store.events_after(&T, 0).unwrap();
    assert_eq!(events.len(), 81);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.head(&T).unwrap().unwrap().next_pos, 40);
    // The old journal path keeps the row's counters too.
    let lens = [1u64];
    store
        .commit(&[Write::Bundle(BundleWrite {
            task: &T,
            pos: 40,
            dp: "late",
            core: b"c",
            shares: b"s",
            share_lens: &lens,
        })])
        .unwrap();
    assert_eq!(store.head(&T).unwrap().unwrap().next_pos, 41);
}
