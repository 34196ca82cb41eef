//! A budget for warnings a stranger can provoke at will (refused handshakes, a full connection
//! table, failed accepts): under a flood, one line per connection would fill the disk the logs
//! go to. Each kind gets [`LINES_PER_WINDOW`] lines per [`WINDOW`]; the rest are counted, and the
//! first warning of the next window says how many were left out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Warnings of one kind written in full per window.
pub const LINES_PER_WINDOW: u32 = 10;

/// The window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What to do with one warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it, after saying that `suppressed` warnings of the last window were left out (if
    /// any).
    Write {
        /// Warnings of this kind left out since the last one written.
        suppressed: u64,
    },
    /// Leave it out (counted).
    Suppress,
}

/// One kind of warning's budget.
#[derive(Debug)]
pub struct LogBudget {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    window_start: Instant,
    written: u32,
    suppressed: u64,
}

impl Default for LogBudget {
    fn default() -> Self {
        LogBudget {
            state: Mutex::new(State {
                window_start: Instant::now(),
                written: 0,
                suppressed: 0,
            }),
        }
    }
}

impl LogBudget {
    /// Whether the warning happening `now` is written.
    pub fn verdict(&self, now: Instant) -> Verdict {
        let mut s = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if now.saturating_duration_since(s.window_start) >= WINDOW {
            s.window_start = now;
            s.written = 0;
        }
        if s.written >= LINES_PER_WINDOW {
            s.suppressed += 1;
            return Verdict::Suppress;
        }
        s.written += 1;
        Verdict::Write {
            suppressed: std::mem::take(&mut s.suppressed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_ten_lines_a_window_and_then_says_how_many_it_left_out() {
        let budget = LogBudget::default();
        let start = Instant::now();
        let verdicts: Vec<Verdict> = (0..25).map(|_| budget.verdict(start)).collect();
        let written = verdicts.iter().filter(|v| **v != Verdict::Suppress).count();
        assert_eq!(written, LINES_PER_WINDOW as usize);
        assert!(
            verdicts[..10]
                .iter()
                .all(|v| *v == Verdict::Write { suppressed: 0 })
        );
        assert!(verdicts[10..].iter().all(|v| *v == Verdict::Suppress));
        // The next window's first line reports the 15 left out; its second reports none.
        let later = start + WINDOW;
        assert_eq!(budget.verdict(later), Verdict::Write { suppressed: 15 });
        assert_eq!(budget.verdict(later), Verdict::Write { suppressed: 0 });
    }
}
