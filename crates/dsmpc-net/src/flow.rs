//! The flow log: strict JSON lines, one per message crossing a socket and one per protocol phase.
//!
//! ```text
//! {"ts":1763877000.123,"task":"…32 hex…","src":"dp3","dst":"cloud","kind":"bundle","bytes":1234}
//! {"ts":1763877000.456,"task":"…","role":"cp","phase":"verify","duration":0.0123}
//! ```
//!
//! `bytes` is what crossed the socket (the Noise-encrypted frame, framing included). `ts` is Unix
//! time in seconds; `duration` is in seconds. Inputs, shares and keys never appear here.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dsmpc_core::task::TaskId;
use serde_json::json;

/// A shared, append-only flow log; `FlowLog::disabled()` writes nothing.
#[derive(Debug, Clone, Default)]
pub struct FlowLog {
    file: Option<Arc<Mutex<File>>>,
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
        })
    }

    /// Whether anything is recorded.
    pub fn enabled(&self) -> bool {
        self.file.is_some()
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
        if self.enabled() {
            self.write(json!({
                "ts": now(), "task": task_text(task), "src": src, "dst": dst,
                "kind": kind, "bytes": bytes,
            }));
        }
    }

    /// One phase of `role`'s work that took `duration`.
    pub fn phase(&self, task: Option<TaskId>, role: &str, phase: &str, duration: Duration) {
        if self.enabled() {
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
}
