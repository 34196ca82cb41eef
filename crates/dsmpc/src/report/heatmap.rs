//! The bytes-between-parties heat map: senders as rows, receivers as columns, each cell coloured
//! by log-scaled bytes, with the exact figures in its tooltip and, where they fit, in the cell.

use std::fmt::Write;

use super::summary::{Matrix, Tally};
use super::svg::{CHAR_WIDTH, blue, blue_stops, clipped, text_width};
use super::text::{bytes, compact, escape, grouped};

/// Longest party label drawn; longer names are cut with an ellipsis.
const MAX_LABEL: usize = 24;
/// Width of the legend's colour bar.
const LEGEND_WIDTH: f64 = 320.0;
/// Room right of the matrix for row totals.
const TOTALS_WIDTH: f64 = 100.0;
/// Advance of one character of a cell's 10px label.
const CELL_CHAR_WIDTH: f64 = 6.0;

/// Where things go.
struct Layout {
    cell: f64,
    /// x of the first column, y of the first row.
    left: f64,
    top: f64,
    size: f64,
}

impl Layout {
    fn new(parties: &[String]) -> Layout {
        let n = parties.len().max(1) as f64;
        let cell = (560.0 / n).clamp(16.0, 48.0).floor();
        let longest = parties.iter().map(|p| p.chars().count().min(MAX_LABEL));
        let label = longest.max().unwrap_or(0) as f64 * CHAR_WIDTH + 14.0;
        // Room for the longest name, and for the two axis titles in the corner.
        Layout {
            cell,
            left: 16.0 + label.max(text_width("receiver →") + 14.0),
            top: 16.0 + label.max(44.0),
            size: n * cell,
        }
    }

    fn width(&self) -> f64 {
        let totals = self.left + self.size + TOTALS_WIDTH;
        totals.max(self.left + LEGEND_WIDTH + 20.0) + 20.0
    }

    fn height(&self) -> f64 {
        self.legend_top() + 44.0
    }

    /// The y of the line of column totals.
    fn totals_row(&self) -> f64 {
        self.top + self.size + 16.0
    }

    fn legend_top(&self) -> f64 {
        self.totals_row() + 44.0
    }
}

/// The heat map of `matrix` as an inline `<svg>`.
pub fn render(matrix: &Matrix) -> String {
    let layout = Layout::new(&matrix.parties);
    let max = matrix.max_bytes();
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="Bytes between parties">"#,
        w = layout.width(),
        h = layout.height()
    );
    out += &axis_titles(&layout);
    out += &labels(&matrix.parties, &layout);
    for (row, cells) in matrix.cells.iter().enumerate() {
        for (column, tally) in cells.iter().enumerate() {
            out += &cell(matrix, &layout, (row, column), *tally, max);
        }
    }
    out += &totals(matrix, &layout);
    out += &legend(&layout, max);
    out += "</svg>";
    out
}

/// "receiver →" and "sender ↓" in the corner above the row labels.
fn axis_titles(layout: &Layout) -> String {
    let (x, y) = (layout.left - 8.0, layout.top - 8.0);
    format!(
        r#"<text x="{x}" y="{}" text-anchor="end" class="axis">receiver →</text><text x="{x}" y="{y}" text-anchor="end" class="axis">sender ↓</text>"#,
        y - 18.0
    )
}

/// Row labels on the left, column labels rotated above.
fn labels(parties: &[String], layout: &Layout) -> String {
    let mut out = String::new();
    for (i, party) in parties.iter().enumerate() {
        let centre = i as f64 * layout.cell + layout.cell / 2.0;
        let label = clipped(party, MAX_LABEL);
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle" class="label">{label}</text>"#,
            layout.left - 6.0,
            layout.top + centre
        );
        let _ = write!(
            out,
            r#"<text transform="translate({} {}) rotate(-90)" dominant-baseline="middle" class="label">{label}</text>"#,
            layout.left + centre,
            layout.top - 6.0
        );
    }
    out
}

/// Bytes each party sent (right of its row) and received (below its column).
fn totals(matrix: &Matrix, layout: &Layout) -> String {
    let n = matrix.parties.len();
    let sent = |row: usize| matrix.cells[row].iter().map(|t| t.bytes).sum::<u64>();
    let received = |column: usize| matrix.cells.iter().map(|r| r[column].bytes).sum::<u64>();
    let (x, y) = (layout.left + layout.size + 8.0, layout.totals_row());
    let mut out = format!(
        r#"<text x="{x}" y="{}" class="axis">sent</text><text x="{}" y="{y}" text-anchor="end" dominant-baseline="central" class="axis">received</text>"#,
        layout.top - 8.0,
        layout.left - 6.0
    );
    for i in 0..n {
        let centre = i as f64 * layout.cell + layout.cell / 2.0;
        let _ = write!(
            out,
            r#"<text x="{x}" y="{}" dominant-baseline="central" class="tick"><title>{} bytes</title>{}</text>"#,
            layout.top + centre,
            grouped(sent(i)),
            grouped(sent(i))
        );
        let column = received(i);
        let _ = write!(
            out,
            r##"<text x="{}" y="{y}" text-anchor="middle" dominant-baseline="central" class="cell" fill="#57606a"><title>{} bytes</title>{}</text>"##,
            layout.left + centre,
            grouped(column),
            cell_text(column, layout.cell).unwrap_or_default()
        );
    }
    out
}

/// Position of `bytes` on the log colour scale, 0 to 1.
fn scale(bytes: u64, max: u64) -> f64 {
    if max == 0 {
        return 0.0;
    }
    (bytes as f64).ln_1p() / (max as f64).ln_1p()
}

fn cell(matrix: &Matrix, layout: &Layout, at: (usize, usize), tally: Tally, max: u64) -> String {
    let (x, y) = (
        layout.left + at.1 as f64 * layout.cell,
        layout.top + at.0 as f64 * layout.cell,
    );
    let c = layout.cell;
    if tally.messages == 0 {
        return format!(
            r##"<rect x="{x}" y="{y}" width="{c}" height="{c}" fill="#fafafa" stroke="#e6e6e6"/>"##
        );
    }
    let t = scale(tally.bytes, max);
    let title = format!(
        "{} → {}: {} bytes ({}) in {} message{}",
        escape(&matrix.parties[at.0]),
        escape(&matrix.parties[at.1]),
        grouped(tally.bytes),
        bytes(tally.bytes),
        grouped(tally.messages),
        if tally.messages == 1 { "" } else { "s" }
    );
    let mut out = format!(
        r##"<g><title>{title}</title><rect x="{x}" y="{y}" width="{c}" height="{c}" fill="{}" stroke="#ffffff"/>"##,
        blue(t)
    );
    if let Some(text) = cell_text(tally.bytes, c) {
        let ink = if t > 0.55 { "#ffffff" } else { "#1a1a1a" };
        let _ = write!(
            out,
            r#"<text x="{}" y="{}" text-anchor="middle" dominant-baseline="central" class="cell" fill="{ink}">{text}</text>"#,
            x + c / 2.0,
            y + c / 2.0
        );
    }
    out + "</g>"
}

/// The exact byte count if it fits in a cell `width` wide, else a compact form, else nothing.
fn cell_text(n: u64, width: f64) -> Option<String> {
    let fits = |s: &String| s.chars().count() as f64 * CELL_CHAR_WIDTH + 4.0 <= width;
    [grouped(n), compact(n)].into_iter().find(fits)
}

/// A colour bar with ticks at powers of ten, below the matrix.
fn legend(layout: &Layout, max: u64) -> String {
    let (x, y) = (layout.left, layout.legend_top());
    let mut out = format!(
        r##"<defs><linearGradient id="heat-ramp">{}</linearGradient></defs><text x="{x}" y="{}" class="label">bytes sent (log scale); hover a cell for exact figures</text><rect x="{x}" y="{y}" width="{LEGEND_WIDTH}" height="12" fill="url(#heat-ramp)" stroke="#cccccc"/>"##,
        blue_stops(),
        y - 8.0
    );
    let mut last_x = f64::NEG_INFINITY;
    for power in (0..20).take_while(|k| 10u64.pow(*k) <= max) {
        let tick_x = x + scale(10u64.pow(power), max) * LEGEND_WIDTH;
        let label = power_of_ten(power);
        if tick_x - last_x < text_width(&label) + 8.0 {
            continue;
        }
        last_x = tick_x;
        let _ = write!(
            out,
            r##"<line x1="{tick_x:.1}" y1="{}" x2="{tick_x:.1}" y2="{}" stroke="#555"/><text x="{tick_x:.1}" y="{}" text-anchor="middle" class="tick">{label}</text>"##,
            y + 12.0,
            y + 16.0,
            y + 29.0
        );
    }
    out
}

/// 10^`power` as `1`, `10`, `100`, `1k`, `10k`, … `10E`.
fn power_of_ten(power: u32) -> String {
    const PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let digits = 10u64.pow(power % 3);
    format!(
        "{digits}{}",
        PREFIXES[(power / 3) as usize % PREFIXES.len()]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(parties: &[&str], cells: Vec<Vec<u64>>) -> Matrix {
        let tally = |bytes| Tally {
            messages: u64::from(bytes > 0),
            bytes,
        };
        Matrix {
            parties: parties.iter().map(|p| p.to_string()).collect(),
            cells: cells
                .into_iter()
                .map(|row| row.into_iter().map(tally).collect())
                .collect(),
        }
    }

    #[test]
    fn cells_carry_exact_bytes_and_escaped_names() {
        let m = matrix(
            &["cloud", "<script>x</script>"],
            vec![vec![0, 5], vec![123_456, 0]],
        );
        let svg = render(&m);
        assert!(svg.contains("&lt;script&gt;x&lt;/script&gt; → cloud: 123,456 bytes"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains(">123,456</text>"), "{svg}");
        assert!(svg.contains("#084594"), "the largest cell is darkest");
    }

    #[test]
    fn cell_text_falls_back_to_compact_then_nothing() {
        assert_eq!(cell_text(123_456, 60.0).as_deref(), Some("123,456"));
        assert_eq!(cell_text(123_456, 30.0).as_deref(), Some("123k"));
        assert_eq!(cell_text(123_456, 16.0), None);
    }

    #[test]
    fn legend_ticks_are_round() {
        let labels: Vec<String> = [0, 1, 3, 5, 6, 19].into_iter().map(power_of_ten).collect();
        assert_eq!(labels, ["1", "10", "1k", "100k", "1M", "10E"]);
    }

    #[test]
    fn an_all_zero_matrix_draws() {
        let svg = render(&matrix(&["a"], vec![vec![0]]));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}
