//! The report page: one self-contained HTML file with inline CSS and SVG, and no scripts.
//!
//! Every string that came from the log goes through [`escape`]; a Content-Security-Policy
//! forbids scripts and any network fetch, as a second line of defence.

use std::fmt::Write;

use super::flow::FlowLog;
use super::summary::{ALL_DPS, Summary, Tally, phase_groups};
use super::text::{bytes, duration, escape, grouped, utc};
use super::{heatmap, timeline};

/// What the page is about.
#[derive(Debug, Clone, Copy)]
pub struct PageInput<'a> {
    pub title: &'a str,
    /// The log's path, as given.
    pub file: &'a str,
    /// The task the log was cut to, if it was.
    pub task: Option<&'a str>,
    pub log: &'a FlowLog,
}

/// Rows of the table of largest flows beside the heat map.
const LARGEST_FLOWS: usize = 12;

const CSS: &str = r#"
:root { color-scheme: light; }
body { margin: 0; background: #f3f5f8; color: #1f2328;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1260px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 0 0 12px; }
h3 { font-size: 15px; margin: 20px 0 6px; }
.sub, .caption, footer { color: #57606a; }
.sub { margin: 0; overflow-wrap: anywhere; }
.caption { font-size: 13px; margin: 2px 0 10px; max-width: 980px; }
section { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 18px 22px; margin: 18px 0; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 18px; }
.card { flex: 1 1 150px; border: 1px solid #e1e4e8; border-radius: 6px; padding: 10px 14px; background: #fafbfc; }
.card .k { color: #57606a; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .v { font-size: 21px; font-weight: 600; }
.card .d { color: #57606a; font-size: 12px; }
.tables { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
.tables > div { flex: 1 1 480px; min-width: 0; overflow-x: auto; }
.scroll { overflow-x: auto; }
.tables > .heat { flex: 0 1 auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eaeef2; text-align: left; white-space: nowrap; }
th { background: #f6f8fa; font-weight: 600; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
.c { text-align: center; }
tfoot td { font-weight: 600; border-top: 2px solid #d0d7de; border-bottom: 0; }
.share { display: inline-block; height: 8px; background: #6baed6; border-radius: 2px; margin-right: 6px; }
.note { background: #fff8e1; border-left: 3px solid #e0a800; padding: 6px 10px; margin: 8px 0; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
svg.chart { display: block; font-family: inherit; }
svg .label { font-size: 12px; fill: #24292f; }
svg .tick { font-size: 11px; fill: #57606a; }
svg .axis { font-size: 12px; fill: #57606a; font-weight: 600; }
svg .cell { font-size: 10px; }
svg .barlabel { font-size: 11px; fill: #ffffff; }
footer { font-size: 12px; text-align: center; }
"#;

/// The whole page.
pub fn page(input: &PageInput) -> String {
    let summary = Summary::new(input.log);
    let title = escape(input.title);
    let mut out = format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{CSS}</style>
</head>
<body>
<main>
"#
    );
    out += &header(input, &summary);
    out += &totals(&summary, input.log.phases.len());
    out += &matrix(&summary);
    out += &timeline_section(input.log, &summary);
    let lines = input.log.messages.len() + input.log.phases.len();
    let _ = write!(
        out,
        "<footer>Made by <code>dsmpc report</code> {} from {} lines.</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        grouped(lines as u64)
    );
    out
}

fn header(input: &PageInput, summary: &Summary) -> String {
    let scope = match input.task {
        Some(task) => format!("task <code>{}</code> only", escape(task)),
        None => "all tasks and control traffic".to_string(),
    };
    format!(
        "<header><h1>{}</h1><p class=\"sub\"><code>{}</code> · {scope} · {} to {}</p></header>\n",
        escape(input.title),
        escape(input.file),
        utc(summary.start),
        utc(summary.end)
    )
}

fn card(key: &str, value: &str, detail: &str) -> String {
    format!(
        r#"<div class="card"><div class="k">{key}</div><div class="v">{value}</div><div class="d">{detail}</div></div>"#
    )
}

fn totals(s: &Summary, phases: usize) -> String {
    let span = s.end - s.start;
    let parties = match s.folded_dps {
        Some(dps) => format!("{} data providers as {ALL_DPS}", grouped(dps as u64)),
        None => "senders and receivers".to_string(),
    };
    let tasks = s.tasks.iter().filter(|t| !t.task.is_empty()).count();
    let cards = [
        card(
            "Messages",
            &grouped(s.total.messages),
            &control_line(s.control),
        ),
        card(
            "Bytes",
            &bytes(s.total.bytes),
            &format!("{} bytes", grouped(s.total.bytes)),
        ),
        card("Parties", &grouped(s.parties.len() as u64), &parties),
        card("Time span", &duration(span), "first line to last"),
        card(
            "Tasks",
            &grouped(tasks as u64),
            &plural(phases as u64, "phase line"),
        ),
    ];
    format!(
        "<section id=\"totals\"><h2>1. Totals</h2>\n<div class=\"cards\">{}</div>\n<div class=\"tables\"><div><h3>Per message kind</h3>{}</div><div><h3>Per party</h3>{}<h3>Per task</h3>{}</div></div></section>\n",
        cards.concat(),
        kind_table(s),
        party_table(s),
        task_table(s)
    )
}

/// `1 thing`, `2 things`.
fn plural(n: u64, thing: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{} {thing}{s}", grouped(n))
}

fn control_line(control: Tally) -> String {
    format!(
        "{} control ({}), no task",
        grouped(control.messages),
        bytes(control.bytes)
    )
}

fn kind_table(s: &Summary) -> String {
    let mut rows = String::new();
    for k in &s.kinds {
        let share = k.tally.bytes as f64 / s.total.bytes.max(1) as f64 * 100.0;
        let mean = k.tally.bytes / k.tally.messages.max(1);
        let _ = write!(
            rows,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td><span class="share" style="width:{:.0}px"></span>{share:.1}%</td><td class="n">{}</td></tr>"#,
            escape(&k.kind),
            grouped(k.tally.messages),
            grouped(k.tally.bytes),
            share.max(0.5),
            grouped(mean)
        );
    }
    format!(
        r#"<table><thead><tr><th>kind</th><th class="n">messages</th><th class="n">bytes</th><th>share of bytes</th><th class="n">mean bytes</th></tr></thead><tbody>{rows}</tbody><tfoot><tr><td>total</td><td class="n">{}</td><td class="n">{}</td><td></td><td></td></tr></tfoot></table>"#,
        grouped(s.total.messages),
        grouped(s.total.bytes)
    )
}

fn party_table(s: &Summary) -> String {
    let mut rows = String::new();
    for p in &s.parties {
        let _ = write!(
            rows,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(&p.party),
            grouped(p.sent.messages),
            grouped(p.sent.bytes),
            grouped(p.received.messages),
            grouped(p.received.bytes)
        );
    }
    format!(
        r#"<table><thead><tr><th rowspan="2">party</th><th class="c" colspan="2">sent</th><th class="c" colspan="2">received</th></tr><tr><th class="n">messages</th><th class="n">bytes</th><th class="n">messages</th><th class="n">bytes</th></tr></thead><tbody>{rows}</tbody></table>"#
    )
}

fn task_table(s: &Summary) -> String {
    let mut rows = String::new();
    for t in &s.tasks {
        let task = if t.task.is_empty() {
            "none: control traffic".to_string()
        } else {
            format!("<code>{}</code>", escape(&t.task))
        };
        let _ = write!(
            rows,
            r#"<tr><td>{task}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            grouped(t.tally.messages),
            grouped(t.tally.bytes),
            grouped(t.phases as u64)
        );
    }
    format!(
        r#"<table><thead><tr><th>task</th><th class="n">messages</th><th class="n">bytes</th><th class="n">phase lines</th></tr></thead><tbody>{rows}</tbody></table>"#
    )
}

fn matrix(s: &Summary) -> String {
    let folded = match s.folded_dps {
        Some(dps) => format!(
            "<p class=\"note\">This log has {} data providers, more than fit as rows: they are shown together as one party <code>{ALL_DPS}</code>, here and in the party table.</p>",
            grouped(dps as u64)
        ),
        None => String::new(),
    };
    format!(
        "<section id=\"matrix\"><h2>2. Bytes between parties</h2>\n<p class=\"caption\">Each row is a sender, each column a receiver. Colour shows bytes on a log scale; a cell prints its bytes when they fit (k = thousand, M = million), and hovering it shows the exact bytes and messages. Empty cells carried nothing.</p>{folded}\n<div class=\"tables\"><div class=\"scroll heat\">{}</div><div><h3>Largest flows</h3>{}</div></div></section>\n",
        heatmap::render(&s.matrix),
        flow_table(s)
    )
}

/// The busiest sender → receiver pairs.
fn flow_table(s: &Summary) -> String {
    let mut rows = String::new();
    for (src, dst, tally) in s.matrix.largest(LARGEST_FLOWS) {
        let _ = write!(
            rows,
            r#"<tr><td>{} → {}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            escape(src),
            escape(dst),
            grouped(tally.messages),
            grouped(tally.bytes)
        );
    }
    format!(
        r#"<table><thead><tr><th>sender → receiver</th><th class="n">messages</th><th class="n">bytes</th></tr></thead><tbody>{rows}</tbody></table>"#
    )
}

fn timeline_section(log: &FlowLog, s: &Summary) -> String {
    let axis = timeline::axis(log, s.start, s.end);
    let gantt = timeline::phases(log, &axis).map_or_else(
        || "<p class=\"caption\">This log has no phase lines.</p>".to_string(),
        |svg| {
            format!(
                "<div class=\"scroll\">{svg}</div>{}",
                phase_table(log, s.start)
            )
        },
    );
    let strips = timeline::messages(log, &axis).map_or_else(
        || "<p class=\"caption\">This log has no message lines.</p>".to_string(),
        |svg| format!("<div class=\"scroll\">{svg}</div>"),
    );
    format!(
        "<section id=\"timeline\"><h2>3. Timeline</h2>\n<h3>Phases per role</h3><p class=\"caption\">A bar runs from <code>ts − duration</code> to <code>ts</code> of a phase line; overlapping phases of one role are stacked. Bars are drawn at least 3 px wide so that short phases stay visible; hover a bar for its exact times.</p>{gantt}\n<h3>Messages over time</h3><p class=\"caption\">One row per message kind, in order of first appearance, counting messages per time bucket. Each row is scaled to its own busiest bucket; the column on the right gives the row's total; hover a bar for its counts.</p>{strips}</section>\n"
    )
}

/// Count, total and longest duration, first start and last end of each role's phases.
fn phase_table(log: &FlowLog, start: f64) -> String {
    let mut rows = String::new();
    for g in phase_groups(log) {
        let _ = write!(
            rows,
            r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.3}</td><td class="n">{:.3}</td></tr>"#,
            escape(g.role),
            escape(g.phase),
            grouped(g.count),
            duration(g.total),
            duration(g.longest),
            g.first - start,
            g.last - start
        );
    }
    format!(
        r#"<div class="scroll"><table><thead><tr><th>role</th><th>phase</th><th class="n">count</th><th class="n">total time</th><th class="n">longest</th><th class="n">first start (s)</th><th class="n">last end (s)</th></tr></thead><tbody>{rows}</tbody></table></div>"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = concat!(
        r#"{"ts":100,"task":"","src":"cp1","dst":"cloud","kind":"get-status","bytes":23}"#,
        "\n",
        r#"{"ts":101,"task":"t1","src":"dp1","dst":"cloud","kind":"<script>alert(1)</script>","bytes":5000}"#,
        "\n",
        r#"{"ts":102,"task":"t1","src":"cloud","dst":"<img src=x onerror=y>","kind":"ok","bytes":40}"#,
        "\n",
        r#"{"ts":103,"task":"t1","role":"cp","phase":"verify & \"sum\"","duration":1.5}"#,
        "\n",
    );

    fn render(text: &str) -> String {
        let log = FlowLog::parse(text.as_bytes(), "f").unwrap();
        page(&PageInput {
            title: "T <b>",
            file: "f",
            task: None,
            log: &log,
        })
    }

    #[test]
    fn strings_from_the_log_are_escaped() {
        let html = render(LOG);
        assert!(!html.contains("<script"), "a kind became markup");
        assert!(!html.contains("<img"), "a party became markup");
        assert!(!html.contains("<b>"), "the title became markup");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=y&gt;"));
        assert!(html.contains("verify &amp; &quot;sum&quot;"));
    }

    #[test]
    fn the_page_is_deterministic_and_self_contained() {
        let html = render(LOG);
        assert_eq!(html, render(LOG));
        assert!(html.contains("<svg") && html.contains("5,063 bytes"));
        for remote in ["http:", "https:", "src=\"", "<link", "@import", "url(http"] {
            let outside_svg_namespace = html.replace("http://www.w3.org/2000/svg", "");
            assert!(!outside_svg_namespace.contains(remote), "{remote}");
        }
    }

    #[test]
    fn a_log_without_phases_says_so() {
        let html = render(&LOG.lines().take(2).collect::<Vec<_>>().join("\n"));
        assert!(html.contains("This log has no phase lines."));
    }
}
