//! A deployment of the real `dsmpc` binary as separate processes on 127.0.0.1, for the tests
//! that kill and restart its roles (`network.rs`, `chaos.rs`). Each test binary uses a part of
//! it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub fn dsmpc() -> PathBuf {
    assert_cmd::cargo::cargo_bin("dsmpc")
}

/// A deployment directory and the role processes running from it; killed on drop.
pub struct Cluster {
    /// The folder holding the deployment (`dep`) and the logs.
    pub dir: tempfile::TempDir,
    /// The cloud's port; the edge and the CPs have the next ones.
    pub base_port: u16,
    /// The PostgreSQL database the cloud keeps its state in, if not its SQLite file.
    pub database: Option<String>,
    /// How many front-ends serve the cloud: `cloud` is the first, `cloud2`… the others.
    pub frontends: u32,
    children: BTreeMap<String, Child>,
}

/// A base port P such that P..P+span (span ≤ 16) are all free right now. Every call in this
/// process takes a different block (the tests run as threads of one process, in parallel), and
/// the blocks lie below Linux's ephemeral range (32768–60999), so no client socket of another
/// test can take a port between this check and the server's bind.
pub fn free_ports(span: u16) -> u16 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const PORTS: u32 = 12_000;
    // Every block in the range, if need be: right after a benchmark, sockets in TIME_WAIT can
    // hold many of the ports (they refuse a listener's bind).
    for _ in 0..PORTS / 16 {
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = (FIRST + (std::process::id() * 131 * 16 + k * 16) % PORTS) as u16;
        if (0..span).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no free block of {span} ports");
}

impl Cluster {
    pub fn new(cps: u32, dps: u32, threshold: u32) -> Cluster {
        Cluster::with_database(cps, dps, threshold, None)
    }

    /// A cluster whose cloud keeps its state in the PostgreSQL `database` (`init --database`,
    /// `cloud --database`), or in its SQLite file when `None`.
    pub fn with_database(cps: u32, dps: u32, threshold: u32, database: Option<&str>) -> Cluster {
        Cluster::with_frontends(cps, dps, threshold, database, 1)
    }

    /// A cluster whose cloud has `frontends` front-ends over the PostgreSQL `database`
    /// (`init --cloud-frontends`); start the others with `restart("cloud2")`….
    pub fn with_frontends(
        cps: u32,
        dps: u32,
        threshold: u32,
        database: Option<&str>,
        frontends: u32,
    ) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let base_port = free_ports(1 + cps as u16 + frontends as u16);
        let mut database_args: Vec<String> = match database {
            Some(url) => vec!["--database".into(), url.into()],
            None => Vec::new(),
        };
        database_args.extend(["--cloud-frontends".into(), frontends.to_string()]);
        let out = Command::new(dsmpc())
            .args([
                "init",
                "dep",
                "--cps",
                &cps.to_string(),
                "--dps",
                &dps.to_string(),
            ])
            .args([
                "--threshold",
                &threshold.to_string(),
                "--base-port",
                &base_port.to_string(),
            ])
            .args(&database_args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Cluster {
            dir,
            base_port,
            database: database.map(str::to_owned),
            frontends,
            children: BTreeMap::new(),
        }
    }

    pub fn dep(&self) -> PathBuf {
        self.dir.path().join("dep")
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }

    /// Starts `dsmpc ARGS --deployment DIR` as `name`, its log appended to `name.log` (a
    /// restarted role keeps one log).
    pub fn start(&mut self, name: &str, args: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(name))
            .unwrap();
        let child = Command::new(dsmpc())
            .args(args)
            .args(["--deployment", self.dep().to_str().unwrap()])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.insert(name.to_owned(), child);
    }

    pub fn start_cloud(&mut self) {
        self.start_frontend(1);
    }

    /// Starts front-end `i` of the cloud: `cloud` for the first, `cloud{i}` for the others.
    pub fn start_frontend(&mut self, i: u32) {
        let flow = self.dir.path().join("flow.jsonl");
        let mut args = vec![
            "cloud".to_owned(),
            "--report-timeout".to_owned(),
            "2".to_owned(),
            "--flow-log".to_owned(),
            flow.to_str().unwrap().to_owned(),
            "--frontend".to_owned(),
            i.to_string(),
        ];
        if let Some(url) = &self.database {
            args.extend(["--database".to_owned(), url.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let name = if i == 1 {
            "cloud".into()
        } else {
            format!("cloud{i}")
        };
        self.start(&name, &args);
    }

    pub fn start_all(&mut self, cps: u32) {
        for i in 1..=self.frontends {
            self.start_frontend(i);
        }
        self.restart("edge");
        for i in 1..=cps {
            self.restart(&format!("cp{i}"));
        }
    }

    /// Starts the role `name` (`cloud`, `edge` or a CP's id) as `start_all` does.
    pub fn restart(&mut self, name: &str) {
        match name {
            "cloud" => self.start_cloud(),
            frontend if frontend.starts_with("cloud") => {
                self.start_frontend(frontend["cloud".len()..].parse().unwrap());
            }
            "edge" => self.start("edge", &["edge", "--grace", "1"]),
            cp => self.start(cp, &["cp", "--id", cp]),
        }
    }

    /// Whether `name` was started and not killed since.
    pub fn is_running(&self, name: &str) -> bool {
        self.children.contains_key(name)
    }

    pub fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.children.remove(name) {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(dsmpc())
            .args(args)
            .args(["--deployment", self.dep().to_str().unwrap()])
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.logs()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs `args`, which must fail; returns what it printed on stderr.
    pub fn refused(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    pub fn logs(&self) -> String {
        self.children
            .keys()
            .map(|n| {
                format!(
                    "--- {n}\n{}",
                    std::fs::read_to_string(self.log(n)).unwrap_or_default()
                )
            })
            .collect()
    }

    pub fn create_task(&self, extra: &[&str]) -> String {
        let mut args = vec!["task", "create"];
        if !extra.contains(&"--timeout") {
            args.extend(["--timeout", "30"]);
        }
        args.extend_from_slice(extra);
        self.ok(&args).lines().last().unwrap().trim().to_owned()
    }

    /// Submits, accepting a refusal (a cloud whose store failed refuses until restarted).
    pub fn submit_refused_or_ok(&self, dp: &str, task: &str, value: &str) {
        let _ = self.run(&["dp", "--id", dp, "--task", task, "--values", value]);
    }

    pub fn submit(&self, dp: &str, task: &str, value: &str) {
        self.ok(&["dp", "--id", dp, "--task", task, "--values", value]);
    }

    pub fn result(&self, task: &str) -> serde_json::Value {
        let text = self.ok(&["result", "--task", task, "--wait", "30", "--json"]);
        serde_json::from_str(text.trim()).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect()
}

/// Waits (up to 30 s) until `name`'s log has a line holding every one of `parts`.
pub fn await_log_line(c: &Cluster, name: &str, parts: &[&str]) {
    let start = std::time::Instant::now();
    loop {
        let log = std::fs::read_to_string(c.log(name)).unwrap_or_default();
        if log.lines().any(|l| parts.iter().all(|p| l.contains(p))) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{name} never logged {parts:?}\n{}",
            c.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
