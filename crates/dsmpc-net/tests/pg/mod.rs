//! A PostgreSQL server for tests: `DSMPC_TEST_DATABASE` names one (an administrator's URL such
//! as `postgresql://postgres@127.0.0.1:5432/postgres`; `.ci/run` starts a server and sets it).
//! Each test gets a fresh database of its own. Without the variable the tests that need one say
//! so and pass, unless `DSMPC_REQUIRE_POSTGRES=1` (CI), when they fail.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the test server.
pub const VAR: &str = "DSMPC_TEST_DATABASE";

/// The variable naming a script that restarts the test server as a crash would.
pub const RESTART_VAR: &str = "DSMPC_TEST_PG_RESTART";

/// A URL to a new, empty database, or `None` (after printing why) when no server is configured.
pub fn fresh_database(test: &str) -> Option<String> {
    let Ok(admin) = std::env::var(VAR) else {
        if std::env::var("DSMPC_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
            panic!("{test}: DSMPC_REQUIRE_POSTGRES=1 but {VAR} is not set");
        }
        eprintln!("SKIPPED {test}: no PostgreSQL (set {VAR} to an administrator's URL)");
        return None;
    };
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "dsmpc_t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut client = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("{test}: cannot connect to {VAR}: {e}"));
    // One statement each: a multi-statement string runs as one transaction, which these refuse.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    Some(with_database(&admin, &name))
}

/// `url` with its database name replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}
