//! Strict reading of a flow log (written by `dsmpc_net::flow::FlowLog`).
//!
//! Every line must be one JSON object of exactly one of two shapes:
//!
//! ```text
//! {"ts":…,"task":"…","src":"dp3","dst":"cloud","kind":"bundle","bytes":1234}   a message
//! {"ts":…,"task":"…","role":"cp","phase":"verify","duration":0.0123}            a phase
//! ```
//!
//! Nothing is skipped: a blank line, a missing or unknown field or a value of the wrong type is an
//! error naming the line. A message whose `task` is empty belongs to no task (such as a wait for new tasks).

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// One message as it crossed a socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Unix time in seconds.
    pub ts: f64,
    /// Task id, or empty for control traffic.
    pub task: String,
    pub src: String,
    pub dst: String,
    pub kind: String,
    /// Bytes on the wire.
    pub bytes: u64,
}

/// One phase of a role's work, ending at `ts` after `duration` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub ts: f64,
    pub task: String,
    pub role: String,
    pub phase: String,
    pub duration: f64,
}

impl Phase {
    /// When the phase began.
    pub fn start(&self) -> f64 {
        self.ts - self.duration
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Message(Message),
    Phase(Phase),
}

/// A whole flow log, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowLog {
    pub messages: Vec<Message>,
    pub phases: Vec<Phase>,
}

const MESSAGE_FIELDS: [&str; 6] = ["ts", "task", "src", "dst", "kind", "bytes"];
const PHASE_FIELDS: [&str; 5] = ["ts", "task", "role", "phase", "duration"];

impl FlowLog {
    /// Parses `text`, naming `file` and the line number in any error.
    pub fn parse(text: &[u8], file: &str) -> Result<FlowLog> {
        let mut log = FlowLog::default();
        for (index, line) in lines(text).enumerate() {
            match parse_line(line) {
                Ok(Record::Message(m)) => log.messages.push(m),
                Ok(Record::Phase(p)) => log.phases.push(p),
                Err(reason) => bail!("{file}, line {}: {reason}", index + 1),
            }
        }
        if log.is_empty() {
            bail!("{file} is empty: a flow log has one JSON object per line");
        }
        Ok(log)
    }

    /// Whether the log holds no line at all.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.phases.is_empty()
    }

    /// Only the lines of `task`; control traffic (no task) is left out.
    pub fn for_task(self, task: &str) -> FlowLog {
        FlowLog {
            messages: self
                .messages
                .into_iter()
                .filter(|m| m.task == task)
                .collect(),
            phases: self.phases.into_iter().filter(|p| p.task == task).collect(),
        }
    }

    /// The distinct non-empty task ids, sorted.
    pub fn tasks(&self) -> Vec<&str> {
        let messages = self.messages.iter().map(|m| m.task.as_str());
        let phases = self.phases.iter().map(|p| p.task.as_str());
        let mut tasks: Vec<&str> = messages.chain(phases).filter(|t| !t.is_empty()).collect();
        tasks.sort_unstable();
        tasks.dedup();
        tasks
    }
}

/// The lines of `text`; a final newline does not start another line.
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    // An empty file has no lines at all, not one empty line.
    body.split(|&b| b == b'\n')
        .filter(move |_| !text.is_empty())
}

/// One line as a record, or why it is not one.
pub fn parse_line(line: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    if text.trim().is_empty() {
        return Err("empty line".into());
    }
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err(format!(
            "expected a JSON object, found {}",
            type_name(&value)
        ));
    };
    if is_message(&object)? {
        check_fields(&object, &MESSAGE_FIELDS)?;
        message(&object).map(Record::Message)
    } else {
        check_fields(&object, &PHASE_FIELDS)?;
        phase(&object).map(Record::Phase)
    }
}

/// Whether `object` looks like a message (rather than a phase); neither or both is an error.
fn is_message(object: &Map<String, Value>) -> Result<bool, String> {
    let has = |fields: &[&str]| fields[2..].iter().any(|f| object.contains_key(*f));
    match (has(&MESSAGE_FIELDS), has(&PHASE_FIELDS)) {
        (true, false) => Ok(true),
        (false, true) => Ok(false),
        (true, true) => Err(
            "mixes message fields (src, dst, kind, bytes) and phase fields \
             (role, phase, duration)"
                .into(),
        ),
        (false, false) => Err(
            "neither a message {ts, task, src, dst, kind, bytes} nor a phase \
             {ts, task, role, phase, duration}"
                .into(),
        ),
    }
}

/// Every field of `shape` present, and no other.
fn check_fields(object: &Map<String, Value>, shape: &[&str]) -> Result<(), String> {
    if let Some(missing) = shape.iter().find(|f| !object.contains_key(**f)) {
        return Err(format!("missing field `{missing}`"));
    }
    match object.keys().find(|k| !shape.contains(&k.as_str())) {
        Some(unknown) => Err(format!("unknown field `{unknown}`")),
        None => Ok(()),
    }
}

fn message(object: &Map<String, Value>) -> Result<Message, String> {
    Ok(Message {
        ts: number(object, "ts")?,
        task: string(object, "task", true)?,
        src: string(object, "src", false)?,
        dst: string(object, "dst", false)?,
        kind: string(object, "kind", false)?,
        bytes: count(object, "bytes")?,
    })
}

fn phase(object: &Map<String, Value>) -> Result<Phase, String> {
    let duration = number(object, "duration")?;
    if duration < 0.0 {
        return Err(format!(
            "field `duration` must not be negative, found {duration}"
        ));
    }
    Ok(Phase {
        ts: number(object, "ts")?,
        task: string(object, "task", true)?,
        role: string(object, "role", false)?,
        phase: string(object, "phase", false)?,
        duration,
    })
}

fn number(object: &Map<String, Value>, field: &str) -> Result<f64, String> {
    let value = &object[field];
    value.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
        format!(
            "field `{field}` must be a number, found {}",
            type_name(value)
        )
    })
}

fn count(object: &Map<String, Value>, field: &str) -> Result<u64, String> {
    let value = &object[field];
    value
        .as_u64()
        .ok_or_else(|| format!("field `{field}` must be a non-negative integer, found {value}"))
}

fn string(object: &Map<String, Value>, field: &str, may_be_empty: bool) -> Result<String, String> {
    match &object[field] {
        Value::String(s) if s.is_empty() && !may_be_empty => {
            Err(format!("field `{field}` must not be empty"))
        }
        Value::String(s) => Ok(s.clone()),
        other => Err(format!(
            "field `{field}` must be a string, found {}",
            type_name(other)
        )),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &str =
        r#"{"ts":10.5,"task":"ab","src":"dp1","dst":"cloud","kind":"bundle","bytes":1234}"#;
    const PHASE: &str = r#"{"ts":11,"task":"ab","role":"cp","phase":"verify","duration":0.25}"#;

    fn error_of(text: &str) -> String {
        format!(
            "{:#}",
            FlowLog::parse(text.as_bytes(), "f.jsonl").unwrap_err()
        )
    }

    #[test]
    fn reads_both_shapes() {
        let log = FlowLog::parse(format!("{MESSAGE}\n{PHASE}\n").as_bytes(), "f").unwrap();
        let m = &log.messages[0];
        assert_eq!((m.ts, m.bytes), (10.5, 1234));
        assert_eq!(
            (&*m.src, &*m.dst, &*m.kind, &*m.task),
            ("dp1", "cloud", "bundle", "ab")
        );
        let p = &log.phases[0];
        assert_eq!(
            (&*p.role, &*p.phase, p.ts, p.start()),
            ("cp", "verify", 11.0, 10.75)
        );
    }

    #[test]
    fn the_last_newline_is_optional_and_control_traffic_has_an_empty_task() {
        let line = r#"{"ts":1,"task":"","src":"cp1","dst":"cloud","kind":"get-status","bytes":23}"#;
        let log = FlowLog::parse(line.as_bytes(), "f").unwrap();
        assert_eq!(log.messages[0].task, "");
        assert!(log.tasks().is_empty());
    }

    #[test]
    fn malformed_lines_are_named_by_number() {
        let cases = [
            ("", "empty line"),
            ("{not json", "not JSON"),
            ("[1,2]", "expected a JSON object, found an array"),
            ("{}", "neither a message"),
            (
                r#"{"ts":1,"task":"","src":"a","dst":"b","kind":"k"}"#,
                "missing field `bytes`",
            ),
            (
                r#"{"ts":1,"task":"","src":"a","dst":"b","kind":"k","bytes":1,"x":2}"#,
                "unknown field `x`",
            ),
            (
                r#"{"ts":1,"task":"","src":"a","dst":"b","kind":"k","bytes":-5}"#,
                "`bytes` must be a non-negative integer, found -5",
            ),
            (
                r#"{"ts":1,"task":"","src":"a","dst":"b","kind":"k","bytes":1.5}"#,
                "`bytes` must be a non-negative integer",
            ),
            (
                r#"{"ts":"1","task":"","src":"a","dst":"b","kind":"k","bytes":1}"#,
                "`ts` must be a number, found a string",
            ),
            (
                r#"{"ts":1,"task":"","src":"","dst":"b","kind":"k","bytes":1}"#,
                "`src` must not be empty",
            ),
            (
                r#"{"ts":1,"task":7,"src":"a","dst":"b","kind":"k","bytes":1}"#,
                "`task` must be a string, found a number",
            ),
            (
                r#"{"ts":1,"task":"","role":"cp","phase":"v","duration":-1}"#,
                "`duration` must not be negative",
            ),
            (
                r#"{"ts":1,"task":"","role":"cp","phase":"v","duration":1,"bytes":3}"#,
                "mixes message fields",
            ),
        ];
        for (bad, reason) in cases {
            let err = error_of(&format!("{MESSAGE}\n{PHASE}\n{bad}\n{MESSAGE}\n"));
            assert!(err.starts_with("f.jsonl, line 3: "), "{bad}: {err}");
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_skip() {
        let mut text = format!("{MESSAGE}\n").into_bytes();
        text.extend_from_slice(b"\xff\xfe\n");
        let err = format!("{:#}", FlowLog::parse(&text, "f").unwrap_err());
        assert_eq!(err, "f, line 2: not UTF-8");
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert!(error_of("").contains("f.jsonl is empty"));
        assert_eq!(error_of("\n"), "f.jsonl, line 1: empty line");
    }

    #[test]
    fn for_task_drops_other_tasks_and_control_traffic() {
        let control = MESSAGE.replace(r#""task":"ab""#, r#""task":"""#);
        let other = PHASE.replace(r#""task":"ab""#, r#""task":"cd""#);
        let text = format!("{MESSAGE}\n{control}\n{other}\n{PHASE}\n");
        let log = FlowLog::parse(text.as_bytes(), "f").unwrap();
        assert_eq!(log.tasks(), ["ab", "cd"]);
        let ab = log.for_task("ab");
        assert_eq!((ab.messages.len(), ab.phases.len()), (1, 1));
    }
}
