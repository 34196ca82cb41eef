//! Small helpers shared by the report's SVG charts: colours, text widths, clipped labels and
//! the time axis.

use super::text::{escape, tick};

/// Average advance of one character of the page's 12px sans-serif font, in pixels.
pub const CHAR_WIDTH: f64 = 7.0;

/// Width in pixels of `text` at 12px.
pub fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR_WIDTH
}

/// `text` cut to `max` characters with an ellipsis, escaped.
pub fn clipped(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return escape(text);
    }
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    escape(&format!("{head}…"))
}

/// Sequential light-to-dark blue ramp, evenly spaced stops.
const BLUES: [(u8, u8, u8); 5] = [
    (0xef, 0xf3, 0xff),
    (0xbd, 0xd7, 0xe7),
    (0x6b, 0xae, 0xd6),
    (0x31, 0x82, 0xbd),
    (0x08, 0x45, 0x94),
];

/// The blue ramp at `t` in [0, 1] as `#rrggbb`.
pub fn blue(t: f64) -> String {
    let t = t.clamp(0.0, 1.0) * (BLUES.len() - 1) as f64;
    let i = (t.floor() as usize).min(BLUES.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let ((r0, g0, b0), (r1, g1, b1)) = (BLUES[i], BLUES[i + 1]);
    format!("#{:02x}{:02x}{:02x}", mix(r0, r1), mix(g0, g1), mix(b0, b1))
}

/// `<stop>`s of a linear gradient that matches [`blue`] exactly.
pub fn blue_stops() -> String {
    let last = (BLUES.len() - 1) as f64;
    (0..BLUES.len())
        .map(|i| {
            let t = i as f64 / last;
            format!(r#"<stop offset="{t}" stop-color="{}"/>"#, blue(t))
        })
        .collect()
}

/// Distinct colours for categories (Tableau 10), repeating after ten.
pub fn category(index: usize) -> &'static str {
    const COLOURS: [&str; 10] = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
        "#9c755f", "#bab0ac",
    ];
    COLOURS[index % COLOURS.len()]
}

/// A 1, 2 or 5 times a power of ten, at least `rough` (which must be positive).
pub fn nice_step(rough: f64) -> f64 {
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|step| *step >= rough * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

/// Maps seconds since `start` to x positions in a plot `left..left + width`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub start: f64,
    pub span: f64,
    pub left: f64,
    pub width: f64,
}

impl TimeAxis {
    /// Shortest span drawn, so that a log of one instant still has an axis.
    const MIN_SPAN: f64 = 1e-3;

    /// An axis from `start` to `end` (Unix seconds) over `left..left + width` pixels.
    pub fn new(start: f64, end: f64, left: f64, width: f64) -> TimeAxis {
        let span = (end - start).max(Self::MIN_SPAN);
        TimeAxis {
            start,
            span,
            left,
            width,
        }
    }

    /// The x position of Unix time `ts`.
    pub fn x(&self, ts: f64) -> f64 {
        self.left + (ts - self.start) / self.span * self.width
    }

    /// Distance between labelled ticks, in seconds: about ten ticks.
    pub fn step(&self) -> f64 {
        nice_step(self.span / 10.0)
    }

    /// Gridlines from `top` to `bottom`, tick labels below `bottom` and the axis title.
    pub fn draw(&self, top: f64, bottom: f64, title: &str) -> String {
        let step = self.step();
        let mut out = format!(
            r##"<line x1="{l}" y1="{bottom}" x2="{r}" y2="{bottom}" stroke="#888"/>"##,
            l = self.left,
            r = self.left + self.width
        );
        let ticks = (self.span / step + 1e-9).floor() as usize;
        for i in 0..=ticks {
            let t = i as f64 * step;
            let x = self.x(self.start + t);
            out += &format!(
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#e3e3e3"/><line x1="{x:.1}" y1="{bottom}" x2="{x:.1}" y2="{}" stroke="#888"/><text x="{x:.1}" y="{}" text-anchor="middle" class="tick">{}</text>"##,
                bottom + 4.0,
                bottom + 17.0,
                tick(t, step)
            );
        }
        out += &format!(
            r#"<text x="{:.1}" y="{}" text-anchor="middle" class="axis">{}</text>"#,
            self.left + self.width / 2.0,
            bottom + 36.0,
            escape(title)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_nice() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.2), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(5.0), 5.0);
        assert_eq!(nice_step(11.0), 20.0);
        assert!((nice_step(0.013) - 0.02).abs() < 1e-12);
    }

    #[test]
    fn the_ramp_runs_light_to_dark() {
        assert_eq!(blue(0.0), "#eff3ff");
        assert_eq!(blue(1.0), "#084594");
        assert_eq!(blue(7.0), "#084594");
        assert_eq!(blue(0.125), "#d6e5f3");
    }

    #[test]
    fn labels_are_clipped_and_escaped() {
        assert_eq!(clipped("<b>", 5), "&lt;b&gt;");
        assert_eq!(clipped("abcdef", 4), "abc…");
    }

    #[test]
    fn the_axis_maps_time_to_pixels() {
        let axis = TimeAxis::new(100.0, 110.0, 50.0, 1000.0);
        assert_eq!(
            (axis.x(100.0), axis.x(105.0), axis.step()),
            (50.0, 550.0, 1.0)
        );
        let instant = TimeAxis::new(5.0, 5.0, 0.0, 100.0);
        assert!(instant.x(5.0).is_finite());
    }
}
