//! The cloud's store on PostgreSQL answers exactly as on SQLite: the same writes, then the same
//! reads, on both backends (issue 21). Needs a server (`pg::VAR`); without one these tests say
//! they were left out.

mod pg;

use dsmpc_core::identity::{IdentityCard, PartyId, Role, SecretIdentity};
use dsmpc_net::store::{BundleWrite, CloudStore, StoreError, StoreLocation, TaskStatus, Write};

const A: [u8; 16] = [0xaa; 16];
const B: [u8; 16] = [0xbb; 16];

/// Both backends, fresh; the directory holds the SQLite file and must outlive it.
struct Backends {
    sqlite: CloudStore,
    postgres: CloudStore,
    url: String,
    _dir: tempfile::TempDir,
}

fn backends(test: &str) -> Option<Backends> {
    let url = pg::fresh_database(test)?;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = StoreLocation::Sqlite(dir.path().join("cloud.db"))
        .open()
        .unwrap();
    let postgres = StoreLocation::Postgres(url.clone()).open().unwrap();
    Some(Backends {
        sqlite,
        postgres,
        url,
        _dir: dir,
    })
}

fn card(id: &str, role: Role) -> IdentityCard {
    let mut rng = dsmpc_core::rng::os_rng();
    SecretIdentity::generate(PartyId::new(id).unwrap(), role, &mut rng)
        .card()
        .clone()
}

/// A batch like the cloud's: a task, its events, bundles of three shares (one large), a status.
fn writes<'a>(shares: &'a [Vec<u8>], lens: &'a [Vec<u64>]) -> Vec<Write<'a>> {
    let mut w = vec![
        Write::CreateTask {
            task: &A,
            spec: b"spec a",
        },
        Write::Append {
            task: &A,
            kind: "dp-list",
            body: b"list",
        },
        Write::CreateTask {
            task: &B,
            spec: b"spec b",
        },
    ];
    for (i, (s, l)) in shares.iter().zip(lens).enumerate() {
        w.push(Write::Bundle(BundleWrite {
            task: &A,
            pos: i as u64,
            dp: ["dp1", "dp2", "dp3"][i],
            core: b"core",
            shares: s,
            share_lens: l,
        }));
        w.push(Write::Append {
            task: &A,
            kind: "bundle",
            body: &s[..1],
        });
    }
    w.push(Write::SetStatus {
        task: &B,
        status: TaskStatus::Failed,
    });
    w
}

fn bundle_data() -> (Vec<Vec<u8>>, Vec<Vec<u64>>) {
    let sizes = [[3u64, 4, 5], [1, 1, 1], [40_000, 2, 20_000]];
    let mut shares = Vec::new();
    let mut lens = Vec::new();
    for (b, size) in sizes.iter().enumerate() {
        let mut bytes = Vec::new();
        for (i, &len) in size.iter().enumerate() {
            bytes.extend(std::iter::repeat_n((b * 16 + i) as u8, len as usize));
        }
        shares.push(bytes);
        lens.push(size.to_vec());
    }
    (shares, lens)
}

#[test]
fn the_same_writes_read_back_the_same_on_both_backends() {
    let Some(Backends {
        mut sqlite,
        mut postgres,
        ..
    }) = backends("postgres_store::same_reads")
    else {
        return;
    };
    let (shares, lens) = bundle_data();
    for store in [&mut sqlite, &mut postgres] {
        store.commit(&writes(&shares, &lens)).unwrap();
    }
    let strip = |events: Vec<dsmpc_net::store::Event>| -> Vec<(String, Vec<u8>)> {
        events.into_iter().map(|e| (e.kind, e.body)).collect()
    };
    assert_eq!(sqlite.tasks(None).unwrap(), postgres.tasks(None).unwrap());
    assert_eq!(
        postgres.tasks(Some(TaskStatus::Failed)).unwrap().len(),
        1,
        "B failed"
    );
    let (s_events, p_events) = (sqlite.events(&A).unwrap(), postgres.events(&A).unwrap());
    assert!(p_events.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(strip(s_events), strip(p_events));
    assert_eq!(
        sqlite.bundle_cores(&A).unwrap(),
        postgres.bundle_cores(&A).unwrap()
    );
    assert_eq!(postgres.bundle_count(&A).unwrap(), 3);
    for index in 1..=3 {
        for after in [None, Some(0), Some(1), Some(2)] {
            for (limit, budget) in [(10, usize::MAX), (1, usize::MAX), (10, 5)] {
                assert_eq!(
                    sqlite
                        .shares_after(&A, index, after, limit, budget)
                        .unwrap(),
                    postgres
                        .shares_after(&A, index, after, limit, budget)
                        .unwrap(),
                    "index {index} after {after:?} limit {limit} budget {budget}"
                );
            }
        }
        assert_eq!(
            sqlite.share_of(&A, "dp3", index).unwrap(),
            postgres.share_of(&A, "dp3", index).unwrap()
        );
    }
    assert_eq!(postgres.share_of(&A, "dp9", 1).unwrap(), None);
    assert_eq!(
        sqlite.cores_of(&A, &["dp2", "dp9", "dp1"]).unwrap(),
        postgres.cores_of(&A, &["dp2", "dp9", "dp1"]).unwrap()
    );
}

#[test]
fn refusals_are_the_same_on_both_backends() {
    let Some(Backends {
        mut sqlite,
        mut postgres,
        ..
    }) = backends("postgres_store::refusals")
    else {
        return;
    };
    for store in [&mut sqlite, &mut postgres] {
        store
            .commit(&[Write::CreateTask {
                task: &A,
                spec: b"spec",
            }])
            .unwrap();
        // A different spec for the same task.
        let err = store
            .commit(&[Write::CreateTask {
                task: &A,
                spec: b"other",
            }])
            .unwrap_err();
        assert!(
            matches!(err, StoreError::TaskConflict(t) if t == A),
            "{err}"
        );
        // A failed batch leaves nothing behind: the event before the bad status is gone too.
        let err = store
            .commit(&[
                Write::Append {
                    task: &A,
                    kind: "x",
                    body: b"1",
                },
                Write::SetStatus {
                    task: &A,
                    status: TaskStatus::Closed,
                },
                Write::SetStatus {
                    task: &A,
                    status: TaskStatus::Open,
                },
            ])
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
        assert!(store.events(&A).unwrap().is_empty());
        assert!(matches!(
            store.events(&B).unwrap_err(),
            StoreError::UnknownTask(_)
        ));
        // Registrations: all or none; the same card again is a no-op; other keys are refused.
        let dp1 = card("dp1", Role::Dp);
        let done = store.register_dps(std::slice::from_ref(&dp1)).unwrap();
        assert_eq!((done.added, done.already), (1, 0));
        let again = store.register_dps(std::slice::from_ref(&dp1)).unwrap();
        assert_eq!((again.added, again.already), (0, 1));
        let other = card("dp1", Role::Dp);
        let err = store.register_dps(&[other]).unwrap_err();
        assert!(err.to_string().contains("other keys"), "{err}");
        let err = store.register_dps(&[card("cp9", Role::Cp)]).unwrap_err();
        assert!(err.to_string().contains("not a data provider"), "{err}");
        assert_eq!(
            store.dp_by_noise_key(&dp1.noise_key).unwrap(),
            Some(dp1.clone())
        );
        assert_eq!(store.dp_by_noise_key(&[7; 32]).unwrap(), None);
        let ids = [dp1.id.clone(), PartyId::new("dp2").unwrap()];
        assert_eq!(store.dp_keys(&ids).unwrap(), Err(ids[1].clone()));
        assert_eq!(store.registered_dps().unwrap().len(), 1);
    }
}

#[test]
fn a_database_written_by_a_newer_dsmpc_is_refused() {
    let Some(Backends { postgres, url, .. }) = backends("postgres_store::newer_schema") else {
        return;
    };
    drop(postgres);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute("UPDATE dsmpc_schema SET version = 99")
        .unwrap();
    let err = StoreLocation::Postgres(url.clone()).open().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("schema version 99"), "{text}");
    assert!(text.contains("newer dsmpc"), "{text}");
}

#[test]
fn a_wrong_url_or_password_is_a_clear_error_without_the_password() {
    if pg::fresh_database("postgres_store::wrong_url").is_none() {
        return;
    }
    let err = StoreLocation::Postgres("postgresql://nobody:s3cret@127.0.0.1:1/none".into())
        .open()
        .unwrap_err()
        .to_string();
    assert!(err.contains("PostgreSQL store"), "{err}");
    assert!(err.contains("nobody:***@127.0.0.1:1"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
}

/// A database that schema 3 wrote (each sealed share a row of its own in `bundle_shares`) is
/// migrated in place: every share reads back as it was written, a bundle without shares stays
/// without, and new bundles go in beside the old ones.
#[test]
fn shares_written_one_row_each_by_schema_3_read_back_after_the_migration() {
    let Some(url) = pg::fresh_database("postgres_store::migration_4") else {
        return;
    };
    let (shares, lens) = bundle_data();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "CREATE TABLE dsmpc_schema (version bigint NOT NULL);
             INSERT INTO dsmpc_schema (version) VALUES (3);",
        )
        .unwrap();
    for sql in &dsmpc_net::store::pg::MIGRATIONS[..3] {
        client.batch_execute(sql).unwrap();
    }
    client
        .execute(
            "INSERT INTO tasks (id, status, spec, next_pos) VALUES ($1, 'open', 'spec', 4)",
            &[&&A[..]],
        )
        .unwrap();
    let dps = ["dp1", "dp2", "dp3", "dp4"];
    for (pos, dp) in dps.iter().enumerate() {
        let pos = pos as i64;
        let core = format!("core of {dp}").into_bytes();
        client
            .execute(
                "INSERT INTO bundles (task, pos, dp, core) VALUES ($1, $2, $3, $4)",
                &[&&A[..], &pos, dp, &core],
            )
            .unwrap();
    }
    // dp4's bundle has no shares; the others' are written as schema 3 did, one row each.
    for (pos, (bytes, lens)) in shares.iter().zip(&lens).enumerate() {
        let mut start = 0;
        for (i, &len) in lens.iter().enumerate() {
            let share = &bytes[start..start + len as usize];
            start += len as usize;
            client
                .execute(
                    "INSERT INTO bundle_shares (task, pos, idx, share) VALUES ($1, $2, $3, $4)",
                    &[&&A[..], &(pos as i64), &(i as i32 + 1), &share],
                )
                .unwrap();
        }
    }
    drop(client);

    let mut store = StoreLocation::Postgres(url.clone()).open().unwrap();
    for index in 1..=3u32 {
        let read = store.shares_after(&A, index, None, 10, usize::MAX).unwrap();
        let got: Vec<(u64, String, Vec<u8>, Vec<u8>)> = read
            .into_iter()
            .map(|s| (s.pos, s.dp, s.core, s.share))
            .collect();
        let want: Vec<(u64, String, Vec<u8>, Vec<u8>)> = (0..3)
            .map(|pos| {
                let i = index as usize - 1;
                let start: u64 = lens[pos][..i].iter().sum();
                let share = shares[pos][start as usize..][..lens[pos][i] as usize].to_vec();
                let dp = dps[pos].to_owned();
                (
                    pos as u64,
                    dp.clone(),
                    format!("core of {dp}").into_bytes(),
                    share,
                )
            })
            .collect();
        assert_eq!(got, want, "CP {index}");
        let one = store.share_of(&A, "dp3", index).unwrap().unwrap();
        assert_eq!(one.share, want[2].3, "CP {index}, dp3");
    }
    assert_eq!(
        store.share_of(&A, "dp4", 1).unwrap(),
        None,
        "dp4 has no shares"
    );
    assert_eq!(store.bundle_count(&A).unwrap(), 4);

    // A new bundle after the migration.
    let fresh = [9u8, 9, 8, 8, 8];
    store
        .commit(&[Write::Bundle(BundleWrite {
            task: &A,
            pos: 4,
            dp: "dp5",
            core: b"core of dp5",
            shares: &fresh,
            share_lens: &[2, 3],
        })])
        .unwrap();
    let read = store.shares_after(&A, 2, Some(3), 10, usize::MAX).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(
        (read[0].pos, read[0].share.as_slice()),
        (4, &[8u8, 8, 8][..])
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let old_table: bool = client
        .query_one("SELECT to_regclass('bundle_shares') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!old_table, "bundle_shares is dropped");
}
