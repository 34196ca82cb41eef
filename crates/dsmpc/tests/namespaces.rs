//! Roles on separate hosts (issue 21): PostgreSQL, two cloud front-ends, the edge and each CP's
//! two workers run in a network namespace of their own (`ip netns`), joined by a bridge in the
//! test's namespace, so every byte between them crosses a real interface, with addresses the test
//! makes itself. The operator and the DPs run from the test's namespace; one front-end is killed
//! mid-task and the clients fail over to the other host. Needs root and `ip`; without them the test
//! says it was left out, unless `DSMPC_REQUIRE_NETNS=1` (CI), when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn dsmpc() -> PathBuf {
    assert_cmd::cargo::cargo_bin("dsmpc")
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A bridge and one namespace per host, removed on drop.
struct Net {
    bridge: String,
    namespaces: Vec<String>,
    subnet: u8,
}

impl Net {
    /// `hosts` namespaces on subnet 198.18.`subnet`.0/24 (RFC 2544's range for tests, which no
    /// real network uses): the bridge is .1, host i is .(2 + i).
    fn new(hosts: usize) -> Option<Net> {
        let tag = std::process::id() % 10_000;
        let subnet = (std::process::id() % 250) as u8;
        let mut net = Net {
            bridge: format!("dsb{tag}"),
            namespaces: Vec::new(),
            subnet,
        };
        let bridge = net.bridge.clone();
        let cidr = format!("198.18.{subnet}.1/24");
        if !(ip(&["link", "add", &bridge, "type", "bridge"])
            && ip(&["addr", "add", &cidr, "dev", &bridge])
            && ip(&["link", "set", &bridge, "up"]))
        {
            return None;
        }
        for i in 0..hosts {
            let ns = format!("dsmpc-{tag}-{i}");
            let (outer, inner) = (format!("dsv{tag}x{i}"), format!("dsp{tag}x{i}"));
            let address = format!("{}/24", net.addr(i));
            let ok = ip(&["netns", "add", &ns])
                && ip(&[
                    "link", "add", &outer, "type", "veth", "peer", "name", &inner,
                ])
                && ip(&["link", "set", &inner, "netns", &ns])
                && ip(&["link", "set", &outer, "master", &bridge])
                && ip(&["link", "set", &outer, "up"])
                && ip(&["-n", &ns, "addr", "add", &address, "dev", &inner])
                && ip(&["-n", &ns, "link", "set", &inner, "up"])
                && ip(&["-n", &ns, "link", "set", "lo", "up"]);
            net.namespaces.push(ns);
            if !ok {
                return None;
            }
        }
        Some(net)
    }

    fn addr(&self, host: usize) -> String {
        format!("198.18.{}.{}", self.subnet, 2 + host)
    }

    /// `program args` run inside host `host`'s namespace.
    fn command(&self, host: usize, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.namespaces[host]])
            .arg(program);
        c
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            ip(&["netns", "del", ns]);
        }
        ip(&["link", "del", &self.bridge]);
    }
}

/// Children killed on drop (before the namespaces go).
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn pg_bin() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .find(|bin| bin.join("initdb").exists())
}

fn as_postgres(command: &str) -> Command {
    let mut c = Command::new("su");
    c.args(["postgres", "-c", command]);
    c
}

fn ok(out: std::io::Result<Output>, what: &str) -> String {
    let out = out.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn left_out(why: &str) {
    if std::env::var("DSMPC_REQUIRE_NETNS").is_ok_and(|v| v == "1") {
        panic!("DSMPC_REQUIRE_NETNS=1 but {why}");
    }
    eprintln!("SKIPPED namespaces: {why}");
}

#[test]
fn roles_on_separate_hosts_with_postgres_compute_exactly() {
    let root = Command::new("id").arg("-u").output().ok();
    if root.is_none_or(|o| String::from_utf8_lossy(&o.stdout).trim() != "0") {
        return left_out("not root");
    }
    let Some(bin) = pg_bin() else {
        return left_out("no PostgreSQL in /usr/lib/postgresql");
    };
    // Hosts: 0 PostgreSQL, 1 cloud front-end 1, 2 edge, 3..=5 cp1..cp3 (their leads),
    // 6 cloud front-end 2, 7..=9 the second workers of cp1..cp3.
    let Some(net) = Net::new(10) else {
        return left_out("`ip netns` and veth pairs could not be set up");
    };
    let dir = tempfile::tempdir().unwrap();
    let pgdata = dir.path().join("pg");
    std::fs::create_dir_all(&pgdata).unwrap();
    ok(
        Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path())
            .output(),
        "chown",
    );
    let data = pgdata.join("data");
    ok(
        as_postgres(&format!(
            "{}/initdb -D {} -U postgres --auth=trust",
            bin.display(),
            data.display()
        ))
        .output(),
        "initdb",
    );
    let hba = data.join("pg_hba.conf");
    let mut rules = std::fs::read_to_string(&hba).unwrap();
    rules.push_str(&format!("host all all 198.18.{}.0/24 trust\n", net.subnet));
    std::fs::write(&hba, rules).unwrap();
    let db_host = net.addr(0);
    let start = format!(
        "{}/pg_ctl -D {} -l {}/log -w -o \"-c listen_addresses={db_host} -p 5432 -k {}\" start",
        bin.display(),
        data.display(),
        pgdata.display(),
        pgdata.display()
    );
    let mut in_ns = net.command(0, Path::new("su"));
    in_ns.args(["postgres", "-c", &start]);
    ok(in_ns.output(), "pg_ctl start in its namespace");
    let stop = format!(
        "{}/pg_ctl -D {} -m immediate stop",
        bin.display(),
        data.display()
    );
    let _stop_pg = StopOnDrop(stop);
    let url = format!("postgresql://postgres@{db_host}:5432/postgres");

    // The deployment: every server at its own host's address.
    let dep = dir.path().join("dep");
    ok(
        Command::new(dsmpc())
            .args(["init", dep.to_str().unwrap(), "--cps", "3", "--dps", "6"])
            .args([
                "--threshold",
                "2",
                "--database",
                &url,
                "--cloud-frontends",
                "2",
            ])
            .output(),
        "dsmpc init",
    );
    let roster_path = dep.join("roster.toml");
    let mut roster = std::fs::read_to_string(&roster_path).unwrap();
    let frontends = format!("address = \"{}:7400,{}:7405\"", net.addr(1), net.addr(6));
    assert!(roster.contains("address = \"127.0.0.1:7400,127.0.0.1:7405\""));
    roster = roster.replacen("address = \"127.0.0.1:7400,127.0.0.1:7405\"", &frontends, 1);
    for (host, port) in (2..=5).zip(7401..) {
        roster = roster.replacen(
            &format!("address = \"127.0.0.1:{port}\""),
            &format!("address = \"{}:{port}\"", net.addr(host)),
            1,
        );
    }
    std::fs::write(&roster_path, roster).unwrap();

    let log = |name: &str| std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
    let dep_arg = dep.to_str().unwrap().to_owned();
    let mut children = Children(Vec::new());
    let mut start_role = |host: usize, name: &str, args: &[&str]| {
        let child = net
            .command(host, &dsmpc())
            .args(args)
            .args(["--deployment", &dep_arg])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log(name))
            .spawn()
            .unwrap();
        children.0.push((name.to_owned(), child));
    };
    for (host, frontend) in [(1, "1"), (6, "2")] {
        start_role(
            host,
            &format!("cloud{frontend}"),
            &[
                "cloud",
                "--database",
                &url,
                "--report-timeout",
                "2",
                "--frontend",
                frontend,
            ],
        );
    }
    start_role(2, "edge", &["edge", "--grace", "1"]);
    for i in 1..=3 {
        let cp = format!("cp{i}");
        for (host, worker) in [(2 + i, "1/2"), (6 + i, "2/2")] {
            let name = format!("{cp}-{}", &worker[..1]);
            let args = ["cp", "--id", &cp, "--worker", worker, "--part-wait", "1"];
            start_role(host, &name, &args);
        }
    }
    let run = |args: &[&str]| {
        Command::new(dsmpc())
            .args(args)
            .args(["--deployment", &dep_arg])
            .output()
    };
    let logs = || {
        [
            "cloud1", "cloud2", "edge", "cp1-1", "cp1-2", "cp2-1", "cp2-2", "cp3-1", "cp3-2",
        ]
        .iter()
        .map(|n| {
            let text =
                std::fs::read_to_string(dir.path().join(format!("{n}.log"))).unwrap_or_default();
            format!("--- {n}\n{text}")
        })
        .collect::<String>()
    };
    let created = run(&[
        "task",
        "create",
        "--func",
        "sum",
        "--mode",
        "fast",
        "--deadline",
        "60",
        "--timeout",
        "30",
    ]);
    let task = ok(created, &format!("task create\n{}", logs()))
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    let values = [("dp1", "5"), ("dp2", "-12"), ("dp3", "100")];
    let more = [("dp4", "1"), ("dp5", "2"), ("dp6", "-3")];
    for (dp, value) in values.iter().chain(&more) {
        if *dp == "dp4" {
            // Front-end 1's host loses its cloud: the clients go to front-end 2's.
            let (_, mut child) = children.0.remove(0);
            let _ = child.kill();
            let _ = child.wait();
        }
        ok(
            run(&["dp", "--id", dp, "--task", &task, "--values", value]),
            &format!("{dp} submits\n{}", logs()),
        );
    }
    let started = Instant::now();
    let result = ok(
        run(&["result", "--task", &task, "--wait", "30", "--json"]),
        &format!("result\n{}", logs()),
    );
    let v: serde_json::Value = serde_json::from_str(result.trim()).unwrap();
    assert_eq!(v["result"], serde_json::json!(["93"]), "{}", logs());
    assert!(started.elapsed() < Duration::from_secs(30));
    // The cloud's state went to PostgreSQL on its own host, over the bridge.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let bundles: i64 = client
        .query_one("SELECT count(*) FROM bundles", &[])
        .unwrap()
        .get(0);
    assert_eq!(bundles, 6);
    // Every CP's second worker, on a host of its own, handed in its part.
    for i in 1..=3 {
        let log = std::fs::read_to_string(dir.path().join(format!("cp{i}-2.log"))).unwrap();
        assert!(log.contains("part handed in"), "{}", logs());
    }
    drop(children);
}

/// Stops the namespace's PostgreSQL on drop.
struct StopOnDrop(String);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = as_postgres(&self.0).output();
    }
}
