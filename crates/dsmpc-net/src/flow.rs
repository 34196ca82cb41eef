//! The flow log: strict JSON lines, one per message crossing a socket and one per protocol phase.
//!
//! ```text
//! {"ts":1763877000.123,"task":"…32 hex…","src":"dp3","dst":"cloud","kind":"bundle","bytes":1234}
//! {"ts":1763877000.456,"task":"…","role":"cp","phase":"verify","duration":0.0123}
//! ```
//!
//! `bytes` is what crossed the socket (the Noise-encrypted frame, framing included). `ts` is Unix
//! time in seconds; `duration` is in seconds. Inputs, shares and keys never appear here.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dsmpc_core::task::TaskId;
use serde_json::json;

/// A shared, append-only flow log; `FlowLog::disabled()` writes nothing. With
/// [`FlowLog::with_totals`] it also keeps running totals in memory (see [`FlowTotals`]), which
/// is all `dsmpc bench` uses: counting costs a map update per message, not a JSON line.
#[derive(Debug, Clone, Default)]
pub struct FlowLog {
    file: Option<Arc<Mutex<File>>>,
    totals: Option<Arc<Mutex<FlowTotals>>>,
}

/// Running totals of a flow log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowTotals {
    /// Bytes sent, by the sender's role (its id without trailing digits: `dp17` → `dp`).
    pub bytes_by_role: BTreeMap<String, u64>,
    /// The longest duration seen of each `"<role> <phase>"`, in seconds.
    pub phases: BTreeMap<String, f64>,
    /// Messages counted.
    pub messages: u64,
}

impl FlowTotals {
    /// Bytes sent by every role together.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_by_role.values().sum()
    }

    /// Bytes sent by `role`.
    pub fn bytes_of(&self, role: &str) -> u64 {
        self.bytes_by_role.get(role).copied().unwrap_or(0)
    }
}

/// A party's role as the flow log groups it: its id without trailing digits.
pub fn role_of(party: &str) -> &str {
    party.trim_end_matches(|c: char| c.is_ascii_digit())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn task_text(task: Option<TaskId>) -> String {
    task.map_or_else(String::new, |t| t.to_string())
}

impl FlowLog {
    /// A log that records nothing.
    pub fn disabled() -> FlowLog {
        FlowLog::default()
    }

    /// Appends to `path`, creating it.
    pub fn open(path: &Path) -> io::Result<FlowLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FlowLog {
            file: Some(Arc::new(Mutex::new(file))),
            totals: None,
        })
    }

    /// A log that keeps only in-memory totals.
    pub fn counting() -> FlowLog {
        FlowLog::disabled().with_totals()
    }

    /// This log, also keeping in-memory totals (shared by its clones).
    pub fn with_totals(mut self) -> FlowLog {
        self.totals = Some(Arc::default());
        self
    }

    /// The totals so far, if this log keeps them.
    pub fn totals(&self) -> Option<FlowTotals> {
        let totals = self.totals.as_ref()?;
        Some(
            totals
                .lock()
                .map_or_else(|e| e.into_inner().clone(), |t| t.clone()),
        )
    }

    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        self.file.is_some() || self.totals.is_some()
    }

    fn count(&self, update: impl FnOnce(&mut FlowTotals)) {
        if let Some(totals) = &self.totals
            && let Ok(mut t) = totals.lock()
        {
            update(&mut t);
        }
    }

    fn write(&self, line: serde_json::Value) {
        if let Some(file) = &self.file {
            let mut text = line.to_string();
            text.push('\n');
            // A full disk must not stop the protocol; the line is lost.
            if let Ok(mut f) = file.lock() {
                let _ = f.write_all(text.as_bytes());
            }
        }
    }

    /// One message of `bytes` bytes from `src` to `dst`.
    pub fn message(&self, task: Option<TaskId>, src: &str, dst: &str, kind: &str, bytes: usize) {
        self.count(|t| {
            t.messages += 1;
            *t.bytes_by_role.entry(role_of(src).to_owned()).or_default() += bytes as u64;
        });
        if self.file.is_some() {
            self.write(json!({
                "ts": now(), "task": task_text(task), "src": src, "dst": dst,
                "kind": kind, "bytes": bytes,
            }));
        }
    }

    /// One phase of `role`'s work that took `duration`.
    pub fn phase(&self, task: Option<TaskId>, role: &str, phase: &str, duration: Duration) {
        self.count(|t| {
            let slot = t.phases.entry(format!("{role} {phase}")).or_default();
            *slot = slot.max(duration.as_secs_f64());
        });
        if self.file.is_some() {
            self.write(json!({
                "ts": now(), "task": task_text(task), "role": role, "phase": phase,
                "duration": duration.as_secs_f64(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_strict_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flow.jsonl");
        let log = FlowLog::open(&path).unwrap();
        let task = TaskId([7; 16]);
        log.message(Some(task), "dp1", "cloud", "bundle", 1234);
        log.phase(Some(task), "cp", "verify", Duration::from_millis(1500));
        FlowLog::disabled().message(None, "a", "b", "c", 1);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["bytes"], 1234);
        assert_eq!(lines[0]["src"], "dp1");
        assert_eq!(lines[0]["task"], "07".repeat(16));
        assert_eq!(lines[1]["duration"], 1.5);
        assert!(lines[1]["ts"].as_f64().unwrap() > 1.7e9);
    }

    #[test]
    fn totals_count_bytes_by_sender_role_and_the_longest_phase() {
        let log = FlowLog::counting();
        let copy = log.clone();
        log.message(None, "dp1", "cloud", "bundle", 100);
        copy.message(None, "dp22", "cloud", "bundle", 50);
        log.message(None, "cloud", "dp1", "ok", 7);
        log.phase(None, "cp", "verify", Duration::from_millis(300));
        log.phase(None, "cp", "verify", Duration::from_millis(100));
        let t = copy.totals().unwrap();
        assert_eq!(t.bytes_of("dp"), 150);
        assert_eq!(t.bytes_of("cloud"), 7);
        assert_eq!(t.bytes_of("edge"), 0);
        assert_eq!(t.bytes_total(), 157);
        assert_eq!(t.messages, 3);
        assert_eq!(t.phases["cp verify"], 0.3);
        assert!(FlowLog::disabled().totals().is_none());
        assert!(!FlowLog::disabled().enabled());
    }
}
