//! `dsmpc init` and `dsmpc keygen` as a user runs them.

use std::fs;
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dsmpc_core::identity::{PartyId, Role};
use dsmpc_net::deployment::load;
use tempfile::TempDir;

mod common;
use common::dsmpc;

/// Runs `dsmpc args` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = dsmpc().args(args).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn init_writes_roster_defaults_and_private_keys() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path().join("deploy");
    let (code, out, err) = run(&["init", path_str(&dir), "--cps", "4", "--dps", "2"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("4 computing parties, 2 data providers, threshold 2"),
        "{out}"
    );
    assert!(
        out.contains("127.0.0.1:7405"),
        "cp4 listens on base + 5: {out}"
    );
    assert!(out.contains("next:"), "{out}");

    let roster: toml::Table = fs::read_to_string(dir.join("roster.toml"))
        .unwrap()
        .parse()
        .unwrap();
    // The roster lists the servers; the DPs are registered in the cloud's store.
    assert_eq!(roster["party"].as_array().unwrap().len(), 2 + 4);
    assert!(out.contains("cloud.db"), "{out}");
    let store = dsmpc_net::store::Store::open(&dir.join("cloud.db")).unwrap();
    assert_eq!(store.dp_count().unwrap(), 2);
    let defaults = fs::read_to_string(dir.join("deployment.toml")).unwrap();
    assert!(defaults.contains("threshold = 2"), "{defaults}");
    for id in ["cloud", "edge", "cp1", "cp2", "cp3", "cp4", "dp1", "dp2"] {
        let key = dir.join("keys").join(format!("{id}.key"));
        let meta = fs::metadata(&key).unwrap();
        #[cfg(unix)]
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{id}");
        assert!(meta.len() > 192, "{id}");
    }
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let tmp = TempDir::new().unwrap();
    let dir = path_str(tmp.path());
    assert_eq!(run(&["init", dir]).0, Some(0));
    let before = fs::read_to_string(tmp.path().join("roster.toml")).unwrap();
    let (code, _, err) = run(&["init", dir]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("roster.toml already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("roster.toml")).unwrap(),
        before
    );
    assert_eq!(run(&["init", dir, "--force"]).0, Some(0));
    assert_ne!(
        fs::read_to_string(tmp.path().join("roster.toml")).unwrap(),
        before
    );
}

#[test]
fn keygen_prints_a_block_that_parses() {
    let tmp = TempDir::new().unwrap();
    let out_dir = tmp.path().join("keys");
    let (code, out, err) = run(&[
        "keygen",
        "--id",
        "cp9",
        "--role",
        "cp",
        "--out",
        path_str(&out_dir),
        "--address",
        "10.0.0.9:7410",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("cp9.key") && err.contains("SECRET"), "{err}");
    let block: toml::Table = out.parse().unwrap();
    let party = &block["party"].as_array().unwrap()[0];
    assert_eq!(party["id"].as_str(), Some("cp9"));
    assert_eq!(party["role"].as_str(), Some("cp"));
    assert_eq!(party["address"].as_str(), Some("10.0.0.9:7410"));
    for key in ["verifying_key", "kem_key", "noise_key"] {
        assert_eq!(party[key].as_str().unwrap().len(), 64, "{key}");
    }
    let key_file = out_dir.join("cp9.key");
    #[cfg(unix)]
    assert_eq!(
        fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let secret = fs::read_to_string(&key_file).unwrap();
    assert!(
        !out.contains(&secret[secret.len() - 40..]),
        "stdout shows the secret"
    );
}

#[test]
fn keygen_block_joins_an_init_roster() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    assert_eq!(run(&["init", path_str(dir), "--cps", "2"]).0, Some(0));
    let keys = dir.join("keys");
    let (code, block, err) = run(&[
        "keygen",
        "--id",
        "cp3",
        "--role",
        "cp",
        "--out",
        path_str(&keys),
        "--address",
        "127.0.0.1:7999",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("add this block to roster.toml"), "{err}");
    let roster_path = dir.join("roster.toml");
    let roster = fs::read_to_string(&roster_path).unwrap();
    fs::write(&roster_path, format!("{roster}\n{block}")).unwrap();
    let deployment = load(dir).unwrap();
    assert_eq!(deployment.roster.of_role(Role::Cp).count(), 2 + 1);
    let cp3 = PartyId::new("cp3").unwrap();
    let identity = deployment.load_identity(&cp3).unwrap();
    assert_eq!(Some(identity.card()), deployment.roster.get(&cp3));

    // A DP's block is for the cloud's registry, not the roster.
    let (code, block, err) = run(&[
        "keygen",
        "--id",
        "dp6",
        "--role",
        "dp",
        "--out",
        path_str(&keys),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("dsmpc dp register"), "{err}");
    let cards = dir.join("dp6.toml");
    fs::write(&cards, &block).unwrap();
    let parsed = dsmpc_net::deployment::read_dp_cards(&cards).unwrap();
    let dp6 = PartyId::new("dp6").unwrap();
    assert_eq!(parsed[0].id, dp6);
    let identity = deployment.load_identity(&dp6).unwrap();
    assert_eq!(identity.card(), &parsed[0]);
}

#[test]
fn bad_flags_exit_1_with_a_clear_message() {
    let tmp = TempDir::new().unwrap();
    let dir = path_str(tmp.path());
    let cases: &[(&[&str], &str)] = &[
        (
            &["init", dir, "--threshold", "4"],
            "lower --threshold or raise --cps",
        ),
        (&["init", dir, "--threshold", "0"], "threshold 0"),
        (&["init", dir, "--cps", "0"], "--cps"),
        (
            &["init", dir, "--base-port", "65534"],
            "--base-port 65531 or lower",
        ),
        (&["init", dir, "--base-port", "70000"], "--base-port"),
        (&["init", dir, "--host", "a b"], "host \"a b\""),
        (&["init", dir, "--bogus"], "--bogus"),
        (
            &["keygen", "--id", "CP1", "--role", "cp", "--out", dir],
            "invalid party id",
        ),
        (
            &["keygen", "--id", "cp1", "--role", "boss", "--out", dir],
            "possible values",
        ),
        (
            &[
                "keygen",
                "--id",
                "cp1",
                "--role",
                "cp",
                "--out",
                dir,
                "--address",
                "x",
            ],
            "HOST:PORT",
        ),
        (
            &[
                "keygen",
                "--id",
                "dp1",
                "--role",
                "dp",
                "--out",
                dir,
                "--address",
                "h:1",
            ],
            "only connect out",
        ),
        (&["keygen", "--role", "cp", "--out", dir], "--id"),
    ];
    for (args, expected) in cases {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(!tmp.path().join("roster.toml").exists());
}

#[test]
fn keygen_never_overwrites_a_key() {
    let tmp = TempDir::new().unwrap();
    let dir = path_str(tmp.path());
    let args = ["keygen", "--id", "edge", "--role", "edge", "--out", dir];
    assert_eq!(run(&args).0, Some(0));
    let before = fs::read(tmp.path().join("edge.key")).unwrap();
    let (code, _, err) = run(&args);
    assert_eq!(code, Some(1));
    assert!(err.contains("edge.key already exists"), "{err}");
    assert_eq!(fs::read(tmp.path().join("edge.key")).unwrap(), before);
}

#[test]
fn init_help_shows_every_flag() {
    let (code, help, _) = run(&["init", "--help"]);
    assert_eq!(code, Some(0));
    for flag in [
        "--cps",
        "--dps",
        "--threshold",
        "--host",
        "--base-port",
        "--force",
    ] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
    let (code, help, _) = run(&["keygen", "--help"]);
    assert_eq!(code, Some(0));
    for flag in ["--id", "--role", "--out", "--address"] {
        assert!(help.contains(flag), "{flag}: {help}");
    }
}

/// `task create` never moves a deadline the operator typed: an input set that would close before
/// the committee's admission deadline is refused with both values, before anything connects.
#[test]
fn a_deadline_before_the_admission_deadline_is_refused_not_moved() {
    let tmp = TempDir::new().unwrap();
    let dir = tmp.path();
    assert_eq!(
        run(&["init", path_str(dir), "--base-port", "7990"]).0,
        Some(0)
    );
    let create = [
        "task",
        "create",
        "--deployment",
        path_str(dir),
        "--func",
        "sum",
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--deadline", "8", "--timeout", "60"],
            "--deadline 8 closes the input set before the committee's admission deadline \
             (--timeout 60)",
        ),
        (&["--deadline", "0"], "--deadline 0"),
        (&["--timeout", "0"], "--timeout 0"),
    ];
    for (extra, expected) in cases {
        let args = [&create[..], extra].concat();
        let (code, _, err) = run(&args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}
