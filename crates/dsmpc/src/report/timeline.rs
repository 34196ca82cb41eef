//! The timeline: a Gantt chart of phases per role, and a strip chart of message counts per kind
//! over time, both on one axis in seconds from the start of the log so that they line up.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::flow::{FlowLog, Message, Phase};
use super::summary::party_order;
use super::svg::{TimeAxis, category, clipped, nice_step, text_width};
use super::text::{duration, escape, grouped, tick};

/// Width of the plotting area of both charts.
const PLOT_WIDTH: f64 = 900.0;
/// Room right of the plot for row totals.
const RIGHT: f64 = 90.0;
/// Longest row label drawn.
const MAX_LABEL: usize = 28;
/// Height of one lane of phase bars, and of one kind's strip.
const LANE: f64 = 22.0;
/// About this many time buckets in the strip chart.
const BUCKETS: f64 = 90.0;
/// Colours of traffic within a task and of control traffic.
const TASK_COLOUR: &str = "#3b75af";
const CONTROL_COLOUR: &str = "#b9b9b9";

/// The time axis both charts share, with room on the left for the longest role or kind.
pub fn axis(log: &FlowLog, start: f64, end: f64) -> TimeAxis {
    let roles = log.phases.iter().map(|p| p.role.as_str());
    let names = roles.chain(log.messages.iter().map(|m| m.kind.as_str()));
    let longest = names.map(|n| n.chars().count().min(MAX_LABEL)).max();
    let left = (longest.unwrap_or(0) as f64 * 7.0 + 24.0).max(90.0);
    TimeAxis::new(start, end, left, PLOT_WIDTH)
}

fn open_svg(axis: &TimeAxis, height: f64, label: &str) -> String {
    let width = axis.left + axis.width + RIGHT;
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}">"#
    )
}

/// Swatches and names in rows from the plot's left edge; returns the SVG and the height used.
fn legend(axis: &TimeAxis, entries: &[(String, &str)]) -> (String, f64) {
    let (mut out, mut x, mut y) = (String::new(), axis.left, 14.0);
    for (name, colour) in entries {
        let advance = 12.0 + 6.0 + text_width(name) + 22.0;
        if x + advance > axis.left + axis.width && x > axis.left {
            (x, y) = (axis.left, y + 20.0);
        }
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{}" width="12" height="12" rx="2" fill="{colour}"/><text x="{}" y="{y}" dominant-baseline="middle" class="label">{}</text>"#,
            y - 6.0,
            x + 18.0,
            escape(name)
        );
        x += advance;
    }
    (out, y + 16.0)
}

/// A row label, right-aligned against the plot.
fn row_label(axis: &TimeAxis, y: f64, name: &str) -> String {
    format!(
        r#"<text x="{}" y="{y}" text-anchor="end" dominant-baseline="middle" class="label"><title>{}</title>{}</text>"#,
        axis.left - 8.0,
        escape(name),
        clipped(name, MAX_LABEL)
    )
}

/// Gantt chart of phases, one row per role, overlapping phases in lanes; `None` without phases.
pub fn phases(log: &FlowLog, axis: &TimeAxis) -> Option<String> {
    if log.phases.is_empty() {
        return None;
    }
    let mut names: Vec<&str> = log.phases.iter().map(|p| p.phase.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let colour = |phase: &str| category(names.binary_search(&phase).unwrap_or(0));
    let entries: Vec<(String, &str)> = names.iter().map(|n| (n.to_string(), colour(n))).collect();
    let (mut body, mut y) = legend(axis, &entries);
    y += 6.0;
    let top = y;
    for (i, (role, lanes)) in by_role(&log.phases, axis).into_iter().enumerate() {
        let height = lanes.len() as f64 * LANE + 8.0;
        body += &band(axis, y, height, i);
        body += &row_label(axis, y + height / 2.0, role);
        // Outside its bar, each phase of a role is labelled once; the legend names the rest.
        let mut labelled = BTreeSet::new();
        for (lane, bars) in lanes.iter().enumerate() {
            let lane_y = y + 4.0 + lane as f64 * LANE;
            for (k, phase) in bars.iter().enumerate() {
                // A label that does not fit in its bar may use the room up to the next bar.
                let room = match bars.get(k + 1) {
                    _ if labelled.contains(&phase.phase) => 0.0,
                    Some(next) => bar_extent(axis, next).0,
                    None => axis.left + axis.width,
                };
                let label = label_place(axis, phase, room);
                if label.is_some_and(|(_, class)| class == "label") {
                    labelled.insert(&phase.phase);
                }
                body += &phase_bar(axis, lane_y, phase, colour(&phase.phase), label);
            }
        }
        y += height;
    }
    let mut out = open_svg(axis, y + 48.0, "Phases per role over time");
    out += &axis.draw(top, y, "seconds from the start of the log");
    Some(out + &body + "</svg>")
}

/// A light background for every other row.
fn band(axis: &TimeAxis, y: f64, height: f64, index: usize) -> String {
    let fill = if index.is_multiple_of(2) {
        "#f4f7fb"
    } else {
        "#ffffff"
    };
    format!(
        r#"<rect x="{}" y="{y}" width="{}" height="{height}" fill="{fill}" fill-opacity="0.7"/>"#,
        axis.left, axis.width
    )
}

/// Phases grouped by role (in party order), each role's phases packed into non-overlapping lanes.
fn by_role<'a>(phases: &'a [Phase], axis: &TimeAxis) -> Vec<(&'a str, Vec<Vec<&'a Phase>>)> {
    let mut roles: BTreeMap<&str, Vec<&Phase>> = BTreeMap::new();
    for p in phases {
        roles.entry(&p.role).or_default().push(p);
    }
    let mut rows: Vec<_> = roles
        .into_iter()
        .map(|(role, list)| (role, lanes(list, axis)))
        .collect();
    rows.sort_by(|a, b| party_order(a.0, b.0));
    rows
}

/// Packs phases into lanes: each goes into the first lane free at its start (greedy by start).
fn lanes<'a>(mut phases: Vec<&'a Phase>, axis: &TimeAxis) -> Vec<Vec<&'a Phase>> {
    phases.sort_by(|a, b| a.start().total_cmp(&b.start()).then(a.ts.total_cmp(&b.ts)));
    let mut ends: Vec<f64> = Vec::new();
    let mut lanes: Vec<Vec<&Phase>> = Vec::new();
    for phase in phases {
        let (x0, x1) = bar_extent(axis, phase);
        let free = ends.iter().position(|end| end + 1.0 <= x0);
        let lane = free.unwrap_or_else(|| {
            lanes.push(Vec::new());
            ends.push(x1);
            lanes.len() - 1
        });
        ends[lane] = x1;
        lanes[lane].push(phase);
    }
    lanes
}

/// Left and right x of a phase's bar, at least 3 pixels wide so that short phases show.
fn bar_extent(axis: &TimeAxis, phase: &Phase) -> (f64, f64) {
    let x0 = axis.x(phase.start());
    (x0, axis.x(phase.ts).max(x0 + 3.0))
}

/// Where a phase's name goes: inside its bar if it fits, else right of it if there is room
/// before x = `room`; the x and the text's class.
fn label_place(axis: &TimeAxis, phase: &Phase, room: f64) -> Option<(f64, &'static str)> {
    let (x0, x1) = bar_extent(axis, phase);
    let width = text_width(&phase.phase);
    if x1 - x0 >= width + 10.0 {
        Some((x0 + 5.0, "barlabel"))
    } else if x1 + width + 10.0 <= room {
        Some((x1 + 4.0, "label"))
    } else {
        None
    }
}

/// One phase's bar with its tooltip and, if placed, its name.
fn phase_bar(
    axis: &TimeAxis,
    y: f64,
    phase: &Phase,
    colour: &str,
    label: Option<(f64, &str)>,
) -> String {
    let (x0, x1) = bar_extent(axis, phase);
    let step = axis.step() / 10.0;
    let (from, to) = (phase.start() - axis.start, phase.ts - axis.start);
    let task = if phase.task.is_empty() {
        String::new()
    } else {
        format!(", task {}", escape(&phase.task))
    };
    let mut out = format!(
        r#"<g><title>{} · {}: {} (from {} s to {} s{task})</title><rect x="{x0:.2}" y="{y}" width="{:.2}" height="{}" rx="2" fill="{colour}"/>"#,
        escape(&phase.role),
        escape(&phase.phase),
        duration(phase.duration),
        tick(from, step),
        tick(to, step),
        x1 - x0,
        LANE - 6.0
    );
    if let Some((x, class)) = label {
        let _ = write!(
            out,
            r#"<text x="{x:.2}" y="{}" dominant-baseline="middle" class="{class}">{}</text>"#,
            y + (LANE - 6.0) / 2.0,
            escape(&phase.phase)
        );
    }
    out + "</g>"
}

/// Message counts per bucket of time: within a task, and control traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Bucket {
    task: u64,
    control: u64,
}

impl Bucket {
    fn total(self) -> u64 {
        self.task + self.control
    }
}

/// Every kind's buckets, kinds in order of first appearance.
fn buckets<'a>(
    messages: &'a [Message],
    axis: &TimeAxis,
    width: f64,
) -> Vec<(&'a str, Vec<Bucket>)> {
    let count = ((axis.span / width).ceil() as usize).max(1);
    let mut kinds: BTreeMap<&str, (f64, Vec<Bucket>)> = BTreeMap::new();
    for m in messages {
        let index = (((m.ts - axis.start) / width).floor().max(0.0) as usize).min(count - 1);
        let (first, row) = kinds
            .entry(&m.kind)
            .or_insert_with(|| (m.ts, vec![Bucket::default(); count]));
        *first = first.min(m.ts);
        let bucket = &mut row[index];
        if m.task.is_empty() {
            bucket.control += 1;
        } else {
            bucket.task += 1;
        }
    }
    let mut rows: Vec<_> = kinds.into_iter().collect();
    rows.sort_by(|a, b| (a.1).0.total_cmp(&(b.1).0).then(a.0.cmp(b.0)));
    rows.into_iter()
        .map(|(kind, (_, row))| (kind, row))
        .collect()
}

/// Strip chart of message counts per kind over time; `None` without messages.
pub fn messages(log: &FlowLog, axis: &TimeAxis) -> Option<String> {
    if log.messages.is_empty() {
        return None;
    }
    let width = nice_step(axis.span / BUCKETS);
    let entries = [
        ("messages of a task".to_string(), TASK_COLOUR),
        ("control traffic (no task)".to_string(), CONTROL_COLOUR),
    ];
    let (mut body, mut y) = legend(axis, &entries);
    let _ = write!(
        body,
        r#"<text x="{}" y="{}" text-anchor="end" class="axis">messages</text>"#,
        axis.left + axis.width + RIGHT - 8.0,
        y + 2.0
    );
    y += 8.0;
    let top = y;
    for (i, (kind, row)) in buckets(&log.messages, axis, width).into_iter().enumerate() {
        body += &band(axis, y, LANE, i);
        body += &row_label(axis, y + LANE / 2.0, kind);
        body += &strip(axis, y, kind, &row, width);
        y += LANE;
    }
    let title = format!(
        "seconds from the start of the log (one bar = {} s)",
        tick(width, width)
    );
    let mut out = open_svg(axis, y + 48.0, "Messages per kind over time");
    out += &axis.draw(top, y, &title);
    Some(out + &body + "</svg>")
}

/// One kind's bars, scaled to its own busiest bucket, and its total on the right.
fn strip(axis: &TimeAxis, y: f64, kind: &str, row: &[Bucket], width: f64) -> String {
    let peak = row.iter().map(|b| b.total()).max().unwrap_or(0).max(1) as f64;
    let full = LANE - 6.0;
    let mut out = String::new();
    for (i, bucket) in row.iter().enumerate().filter(|(_, b)| b.total() > 0) {
        let from = i as f64 * width;
        let x0 = axis.x(axis.start + from);
        let x1 = axis
            .x(axis.start + from + width)
            .min(axis.left + axis.width);
        let w = if x1 - x0 > 3.0 {
            x1 - x0 - 1.0
        } else {
            (x1 - x0).max(1.0)
        };
        let height = |n: u64| {
            if n == 0 {
                0.0
            } else {
                (n as f64 / peak * full).max(1.5)
            }
        };
        let (task_h, control_h) = (height(bucket.task), height(bucket.control));
        let bottom = y + 3.0 + full;
        let _ = write!(
            out,
            r#"<g><title>{}, {}–{} s: {} message{} ({} control)</title><rect x="{x0:.2}" y="{:.2}" width="{w:.2}" height="{task_h:.2}" fill="{TASK_COLOUR}"/><rect x="{x0:.2}" y="{:.2}" width="{w:.2}" height="{control_h:.2}" fill="{CONTROL_COLOUR}"/></g>"#,
            escape(kind),
            tick(from, width),
            tick(from + width, width),
            grouped(bucket.total()),
            if bucket.total() == 1 { "" } else { "s" },
            grouped(bucket.control),
            bottom - task_h,
            bottom - task_h - control_h,
        );
    }
    let total: u64 = row.iter().map(|b| b.total()).sum();
    let _ = write!(
        out,
        r#"<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle" class="label">{}</text>"#,
        axis.left + axis.width + RIGHT - 8.0,
        y + LANE / 2.0,
        grouped(total)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(role: &str, name: &str, ts: f64, duration: f64) -> Phase {
        Phase {
            ts,
            task: "t".into(),
            role: role.into(),
            phase: name.into(),
            duration,
        }
    }

    #[test]
    fn overlapping_phases_take_separate_lanes() {
        let phases = vec![
            phase("cp", "verify", 5.0, 4.0),
            phase("cp", "verify", 6.0, 4.0),
            phase("cp", "send", 9.0, 2.0),
            phase("cloud", "input-set", 3.0, 1.0),
        ];
        let axis = TimeAxis::new(0.0, 10.0, 100.0, 1000.0);
        let rows = by_role(&phases, &axis);
        assert_eq!((rows[0].0, rows[0].1.len()), ("cloud", 1));
        let cp: Vec<Vec<f64>> = rows[1]
            .1
            .iter()
            .map(|l| l.iter().map(|p| p.ts).collect())
            .collect();
        assert_eq!(cp, [vec![5.0, 9.0], vec![6.0]]);
    }

    #[test]
    fn buckets_split_task_and_control_traffic() {
        let m = |ts: f64, task: &str, kind: &str| Message {
            ts,
            task: task.into(),
            src: "a".into(),
            dst: "b".into(),
            kind: kind.into(),
            bytes: 1,
        };
        let messages = vec![
            m(1.0, "", "poll"),
            m(0.0, "t", "bundle"),
            m(10.0, "t", "poll"),
        ];
        let axis = TimeAxis::new(0.0, 10.0, 0.0, 100.0);
        let rows = buckets(&messages, &axis, 1.0);
        assert_eq!(rows[0].0, "bundle");
        assert_eq!(rows[1].1.len(), 10);
        assert_eq!(
            rows[1].1[1],
            Bucket {
                task: 0,
                control: 1
            }
        );
        assert_eq!(
            rows[1].1[9],
            Bucket {
                task: 1,
                control: 0
            },
            "the last instant is in the last bucket"
        );
    }

    #[test]
    fn no_phases_no_gantt() {
        let axis = TimeAxis::new(0.0, 1.0, 0.0, 100.0);
        assert!(phases(&FlowLog::default(), &axis).is_none());
        assert!(messages(&FlowLog::default(), &axis).is_none());
    }
}
