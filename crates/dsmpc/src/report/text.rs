//! Text for the page: HTML escaping, grouped numbers, byte sizes, durations and dates.

use std::fmt::Write;

/// `text` safe inside HTML or SVG element content and quoted attributes: the five special
/// characters become entities and control characters become U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `n` with thousands separated by commas: `1,234,567`.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `n` bytes in SI units with three significant digits: `950 B`, `12.3 kB`, `1.05 MB`.
pub fn bytes(n: u64) -> String {
    match si(n) {
        (value, "") => format!("{value} B"),
        (value, prefix) => format!("{value} {prefix}B"),
    }
}

/// `n` in at most four characters where possible: `950`, `12.3k`, `105M`.
pub fn compact(n: u64) -> String {
    let (value, prefix) = si(n);
    format!("{value}{prefix}")
}

/// `n` as a value with three significant digits and its SI prefix.
fn si(n: u64) -> (String, &'static str) {
    const PREFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut value = n as f64;
    let mut prefix = 0;
    while value >= 999.5 && prefix + 1 < PREFIXES.len() {
        value /= 1000.0;
        prefix += 1;
    }
    let text = match (prefix, value) {
        (0, _) => n.to_string(),
        (_, v) if v < 9.995 => format!("{v:.2}"),
        (_, v) if v < 99.95 => format!("{v:.1}"),
        (_, v) => format!("{v:.0}"),
    };
    (text, PREFIXES[prefix])
}

/// A duration in seconds with a unit that suits it: `850 µs`, `12.3 ms`, `4.20 s`, `2 min 5 s`.
pub fn duration(seconds: f64) -> String {
    match seconds {
        s if s < 1e-3 => format!("{:.0} µs", s * 1e6),
        s if s < 1.0 => format!("{:.1} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.2} s"),
        s if s < 7200.0 => format!("{:.0} min {:.0} s", (s / 60.0).floor(), s % 60.0),
        s => format!("{:.1} h", s / 3600.0),
    }
}

/// A time axis label: `t` seconds with as many decimals as `step` needs.
pub fn tick(t: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{t:.decimals$}")
}

/// Unix time `ts` as a UTC date and time to the millisecond, e.g. `2026-11-22 12:05:17.752 UTC`.
pub fn utc(ts: f64) -> String {
    // Years 1970 to 9999; anything else is shown as the raw number.
    if !(0.0..253_402_300_800.0).contains(&ts) {
        return format!("{ts} (Unix time)");
    }
    let millis = (ts * 1000.0).round() as i64;
    let (days, ms_of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    let mut out = format!("{y:04}-{m:02}-{d:02} ");
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}.{:03} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    );
    out
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
        assert_eq!(escape("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(bytes(950), "950 B");
        assert_eq!(bytes(12_345), "12.3 kB");
        assert_eq!(bytes(999_999), "1.00 MB");
        assert_eq!(bytes(1_050_000), "1.05 MB");
        assert_eq!(compact(104_600_000), "105M");
        assert_eq!(compact(u64::MAX), "18.4E");
    }

    #[test]
    fn durations_and_ticks() {
        assert_eq!(duration(0.000_85), "850 µs");
        assert_eq!(duration(0.012_34), "12.3 ms");
        assert_eq!(duration(4.2), "4.20 s");
        assert_eq!(duration(125.0), "2 min 5 s");
        assert_eq!(tick(2.0, 1.0), "2");
        assert_eq!(tick(0.4, 0.2), "0.4");
        assert_eq!(tick(0.05, 0.05), "0.05");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(951_782_400.5), "2000-02-29 00:00:00.500 UTC");
        assert_eq!(utc(1_795_418_717.752), "2026-11-23 07:25:17.752 UTC");
        assert_eq!(utc(-1.0), "-1 (Unix time)");
    }
}
