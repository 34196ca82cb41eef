//! Aggregation: totals per kind, party and task, the byte matrix between parties, party order.
//!
//! Parties are ordered by role, then by the number in their name: cloud, edge, cp1…cpN,
//! dp1…dpM, then anything else by name (so cp10 comes after cp9). With more than
//! [`MAX_DP_ROWS`] data providers, the matrix and the party table fold them into one party
//! [`ALL_DPS`].

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::flow::{FlowLog, Message, Phase};

/// Above this many data providers, they are folded into one party.
pub const MAX_DP_ROWS: usize = 30;
/// The party that stands for every data provider once they are folded.
pub const ALL_DPS: &str = "dp*";

/// A number of messages and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub messages: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.messages += 1;
        self.bytes = self.bytes.saturating_add(bytes);
    }
}

/// Traffic of one message kind.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRow {
    pub kind: String,
    pub tally: Tally,
}

/// Traffic of one party.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyRow {
    pub party: String,
    pub sent: Tally,
    pub received: Tally,
}

/// Traffic and phases of one task; the empty task is control traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    pub task: String,
    pub tally: Tally,
    pub phases: usize,
}

/// Traffic between every pair of parties: `cells[sender][receiver]`, parties in party order.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub parties: Vec<String>,
    pub cells: Vec<Vec<Tally>>,
}

/// Everything the report's tables and heat map show.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub total: Tally,
    /// Messages that belong to no task (waits for new tasks), included in `total`.
    pub control: Tally,
    /// By bytes, largest first.
    pub kinds: Vec<KindRow>,
    /// In party order, data providers folded when there are many.
    pub parties: Vec<PartyRow>,
    /// By task id; the empty id (control traffic) first.
    pub tasks: Vec<TaskRow>,
    pub matrix: Matrix,
    /// How many data providers were folded into [`ALL_DPS`], if they were.
    pub folded_dps: Option<usize>,
    /// Earliest event (a message, or the start of a phase) and latest, in Unix seconds.
    pub start: f64,
    pub end: f64,
}

impl Summary {
    /// Aggregates `log`.
    pub fn new(log: &FlowLog) -> Summary {
        let folder = Folder::new(&log.messages);
        let mut total = Tally::default();
        let mut control = Tally::default();
        for m in &log.messages {
            total.add(m.bytes);
            if m.task.is_empty() {
                control.add(m.bytes);
            }
        }
        let (start, end) = time_span(log);
        Summary {
            total,
            control,
            kinds: kinds(&log.messages),
            parties: parties(&log.messages, &folder),
            tasks: tasks(log),
            matrix: Matrix::new(&log.messages, &folder),
            folded_dps: folder.folded,
            start,
            end,
        }
    }
}

/// Every phase line of one role and phase name, taken together.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseGroup<'a> {
    pub role: &'a str,
    pub phase: &'a str,
    pub count: u64,
    /// Sum and maximum of the durations, in seconds.
    pub total: f64,
    pub longest: f64,
    /// Earliest start and latest end, Unix seconds.
    pub first: f64,
    pub last: f64,
}

impl PhaseGroup<'_> {
    fn add(&mut self, p: &Phase) {
        self.count += 1;
        self.total += p.duration;
        self.longest = self.longest.max(p.duration);
        self.first = self.first.min(p.start());
        self.last = self.last.max(p.ts);
    }
}

/// The log's phases grouped by role (in party order) and phase name.
pub fn phase_groups(log: &FlowLog) -> Vec<PhaseGroup<'_>> {
    let mut groups: BTreeMap<(&str, &str), PhaseGroup> = BTreeMap::new();
    for p in &log.phases {
        let group = groups.entry((&p.role, &p.phase)).or_insert(PhaseGroup {
            role: &p.role,
            phase: &p.phase,
            count: 0,
            total: 0.0,
            longest: 0.0,
            first: f64::INFINITY,
            last: f64::NEG_INFINITY,
        });
        group.add(p);
    }
    let mut groups: Vec<PhaseGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| party_order(a.role, b.role).then(a.phase.cmp(b.phase)));
    groups
}

/// Orders party (or role) names: cloud, edge, cp by number, dp by number, then others.
pub fn party_order(a: &str, b: &str) -> Ordering {
    party_key(a).cmp(&party_key(b))
}

fn party_key(name: &str) -> (u8, &str, Option<u128>, &str) {
    let prefix = name.trim_end_matches(|c: char| c.is_ascii_digit());
    let number = name[prefix.len()..].parse::<u128>().ok();
    let rank = match prefix {
        "cloud" => 0,
        "edge" => 1,
        "cp" => 2,
        "dp" | ALL_DPS => 3,
        _ => 4,
    };
    (rank, prefix, number, name)
}

/// Whether `name` is a data provider's id: `dp` and a number.
fn is_dp(name: &str) -> bool {
    name.strip_prefix("dp")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Maps party names to the rows they are shown in.
struct Folder {
    folded: Option<usize>,
}

impl Folder {
    fn new(messages: &[Message]) -> Folder {
        let mut dps: Vec<&str> = messages
            .iter()
            .flat_map(|m| [m.src.as_str(), m.dst.as_str()])
            .filter(|p| is_dp(p))
            .collect();
        dps.sort_unstable();
        dps.dedup();
        Folder {
            folded: (dps.len() > MAX_DP_ROWS).then_some(dps.len()),
        }
    }

    fn row<'a>(&self, party: &'a str) -> &'a str {
        if self.folded.is_some() && is_dp(party) {
            ALL_DPS
        } else {
            party
        }
    }
}

fn kinds(messages: &[Message]) -> Vec<KindRow> {
    let mut by_kind: BTreeMap<&str, Tally> = BTreeMap::new();
    for m in messages {
        by_kind.entry(&m.kind).or_default().add(m.bytes);
    }
    let mut rows: Vec<KindRow> = by_kind
        .into_iter()
        .map(|(kind, tally)| KindRow {
            kind: kind.to_string(),
            tally,
        })
        .collect();
    rows.sort_by(|a, b| b.tally.bytes.cmp(&a.tally.bytes).then(a.kind.cmp(&b.kind)));
    rows
}

fn parties(messages: &[Message], folder: &Folder) -> Vec<PartyRow> {
    let mut by_party: BTreeMap<&str, (Tally, Tally)> = BTreeMap::new();
    for m in messages {
        by_party
            .entry(folder.row(&m.src))
            .or_default()
            .0
            .add(m.bytes);
        by_party
            .entry(folder.row(&m.dst))
            .or_default()
            .1
            .add(m.bytes);
    }
    let mut rows: Vec<PartyRow> = by_party
        .into_iter()
        .map(|(party, (sent, received))| PartyRow {
            party: party.to_string(),
            sent,
            received,
        })
        .collect();
    rows.sort_by(|a, b| party_order(&a.party, &b.party));
    rows
}

fn tasks(log: &FlowLog) -> Vec<TaskRow> {
    let mut by_task: BTreeMap<&str, (Tally, usize)> = BTreeMap::new();
    for m in &log.messages {
        by_task.entry(&m.task).or_default().0.add(m.bytes);
    }
    for p in &log.phases {
        by_task.entry(&p.task).or_default().1 += 1;
    }
    let rows = by_task.into_iter().map(|(task, (tally, phases))| TaskRow {
        task: task.to_string(),
        tally,
        phases,
    });
    rows.collect()
}

impl Matrix {
    fn new(messages: &[Message], folder: &Folder) -> Matrix {
        let mut parties: Vec<&str> = messages
            .iter()
            .flat_map(|m| [folder.row(&m.src), folder.row(&m.dst)])
            .collect();
        parties.sort_by(|a, b| party_order(a, b));
        parties.dedup();
        let index: BTreeMap<&str, usize> =
            parties.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        let mut cells = vec![vec![Tally::default(); parties.len()]; parties.len()];
        for m in messages {
            let (src, dst) = (index[folder.row(&m.src)], index[folder.row(&m.dst)]);
            cells[src][dst].add(m.bytes);
        }
        let parties = parties.into_iter().map(str::to_string).collect();
        Matrix { parties, cells }
    }

    /// The `n` busiest sender → receiver pairs by bytes, ties in party order.
    pub fn largest(&self, n: usize) -> Vec<(&str, &str, Tally)> {
        let mut flows: Vec<(usize, usize, Tally)> = Vec::new();
        for (src, row) in self.cells.iter().enumerate() {
            let busy = row.iter().enumerate().filter(|(_, t)| t.messages > 0);
            flows.extend(busy.map(|(dst, t)| (src, dst, *t)));
        }
        flows.sort_by(|a, b| b.2.bytes.cmp(&a.2.bytes).then((a.0, a.1).cmp(&(b.0, b.1))));
        let name = |i: usize| self.parties[i].as_str();
        let flows = flows.into_iter().take(n);
        flows
            .map(|(src, dst, t)| (name(src), name(dst), t))
            .collect()
    }

    /// The largest byte count in any cell.
    pub fn max_bytes(&self) -> u64 {
        self.cells
            .iter()
            .flatten()
            .map(|t| t.bytes)
            .max()
            .unwrap_or(0)
    }
}

/// The earliest event (a message, or a phase's start) and the latest, or zeros for no events.
fn time_span(log: &FlowLog) -> (f64, f64) {
    let starts = log.messages.iter().map(|m| m.ts);
    let starts = starts.chain(log.phases.iter().map(|p| p.start()));
    let ends = log.messages.iter().map(|m| m.ts);
    let ends = ends.chain(log.phases.iter().map(|p| p.ts));
    let start = starts.fold(f64::INFINITY, f64::min);
    let end = ends.fold(f64::NEG_INFINITY, f64::max);
    if start.is_finite() && end.is_finite() {
        (start, end)
    } else {
        (0.0, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(ts: f64, task: &str, src: &str, dst: &str, kind: &str, bytes: u64) -> Message {
        let text = |s: &str| s.to_string();
        Message {
            ts,
            task: text(task),
            src: text(src),
            dst: text(dst),
            kind: text(kind),
            bytes,
        }
    }

    fn log_of(messages: Vec<Message>) -> FlowLog {
        FlowLog {
            messages,
            phases: vec![],
        }
    }

    #[test]
    fn parties_sort_by_role_then_number() {
        let mut names = vec![
            "dp10", "cp10", "zed", "dp2", "cp9", "edge", "cp1", "cloud", "dp*",
        ];
        names.sort_by(|a, b| party_order(a, b));
        assert_eq!(
            names,
            [
                "cloud", "edge", "cp1", "cp9", "cp10", "dp2", "dp10", "dp*", "zed"
            ]
        );
    }

    #[test]
    fn matrix_sums_equal_the_totals() {
        let log = log_of(vec![
            message(1.0, "t", "cp10", "cloud", "report", 100),
            message(2.0, "t", "cp9", "cloud", "report", 90),
            message(3.0, "", "cloud", "cp9", "status", 7),
            message(4.0, "t", "dp1", "cloud", "bundle", 1000),
            message(5.0, "t", "dp1", "cloud", "bundle", 1000),
        ]);
        let s = Summary::new(&log);
        assert_eq!(s.matrix.parties, ["cloud", "cp9", "cp10", "dp1"]);
        let cells = s.matrix.cells.iter().flatten();
        assert_eq!(cells.map(|t| t.bytes).sum::<u64>(), 2197);
        assert_eq!(
            s.total,
            Tally {
                messages: 5,
                bytes: 2197
            }
        );
        assert_eq!(
            s.control,
            Tally {
                messages: 1,
                bytes: 7
            }
        );
        assert_eq!(
            s.matrix.cells[3][0],
            Tally {
                messages: 2,
                bytes: 2000
            }
        );
        assert_eq!(s.matrix.max_bytes(), 2000);
        let largest = s.matrix.largest(2);
        assert_eq!(
            largest[0],
            (
                "dp1",
                "cloud",
                Tally {
                    messages: 2,
                    bytes: 2000
                }
            )
        );
        assert_eq!(
            (largest[1].0, largest[1].2.bytes, largest.len()),
            ("cp10", 100, 2)
        );
        let sent: u64 = s.parties.iter().map(|p| p.sent.bytes).sum();
        let received: u64 = s.parties.iter().map(|p| p.received.bytes).sum();
        assert_eq!((sent, received), (2197, 2197));
        assert_eq!(s.kinds[0].kind, "bundle");
        assert_eq!(
            (s.tasks[0].task.as_str(), s.tasks[1].tally.bytes),
            ("", 2190)
        );
        assert_eq!((s.start, s.end, s.folded_dps), (1.0, 5.0, None));
    }

    #[test]
    fn many_data_providers_fold_into_one_party() {
        let mut messages: Vec<Message> = (1..=31)
            .map(|i| message(1.0, "t", &format!("dp{i}"), "cloud", "bundle", 10))
            .collect();
        messages.push(message(2.0, "t", "cloud", "dp3", "ok", 1));
        messages.push(message(2.0, "t", "cloud", "cp1", "deliveries", 50));
        let s = Summary::new(&log_of(messages));
        assert_eq!(s.folded_dps, Some(31));
        assert_eq!(s.matrix.parties, ["cloud", "cp1", ALL_DPS]);
        assert_eq!(
            s.matrix.cells[2][0],
            Tally {
                messages: 31,
                bytes: 310
            }
        );
        assert_eq!(
            s.matrix.cells[0][2],
            Tally {
                messages: 1,
                bytes: 1
            }
        );
        let names: Vec<&str> = s.parties.iter().map(|p| p.party.as_str()).collect();
        assert_eq!(names, ["cloud", "cp1", ALL_DPS]);

        let thirty: Vec<Message> = (1..=30)
            .map(|i| message(1.0, "t", &format!("dp{i}"), "cloud", "bundle", 10))
            .collect();
        let s = Summary::new(&log_of(thirty));
        assert_eq!((s.folded_dps, s.matrix.parties.len()), (None, 31));
        assert_eq!(s.matrix.parties[30], "dp30");
    }

    #[test]
    fn phases_extend_the_time_span() {
        let mut log = log_of(vec![message(10.0, "t", "a", "b", "k", 1)]);
        log.phases.push(Phase {
            ts: 12.0,
            task: "t".into(),
            role: "cp".into(),
            phase: "verify".into(),
            duration: 5.0,
        });
        let s = Summary::new(&log);
        assert_eq!((s.start, s.end), (7.0, 12.0));
        assert_eq!(s.tasks[0].phases, 1);
        let groups = phase_groups(&log);
        assert_eq!(
            (groups[0].count, groups[0].first, groups[0].last),
            (1, 7.0, 12.0)
        );
    }
}
