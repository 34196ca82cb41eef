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
