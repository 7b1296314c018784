//! The last few windows of a topic, so that a detector can judge a span of time rather
//! than one window: a burst is "many mentions in half an hour" whatever the window size,
//! so with 5-minute windows the detectors add up the last six, and with 1-minute windows
//! the last thirty. Hopping windows overlap, so only the windows that tile the span
//! (starts one window size apart) are added up: no mention is counted twice.

use std::collections::VecDeque;

use crate::time::Millis;

/// The span short-term detectors judge: half an hour, or one window if windows are longer.
pub const SHORT_SPAN_MS: Millis = 30 * 60_000;

/// One remembered window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub start: Millis,
    pub count: f64,
    /// The detector's expectation for the window (0 where it has none).
    pub expected: f64,
}

/// Sums over the windows of `[start − span, start]` that tile it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Sums {
    pub count: f64,
    pub expected: f64,
    /// Windows added up.
    pub windows: usize,
}

/// Windows of the last `keep` milliseconds, newest last.
#[derive(Debug, Clone)]
pub(crate) struct Recent {
    keep: Millis,
    entries: VecDeque<Entry>,
}

impl Recent {
    pub fn new(keep: Millis) -> Self {
        Self {
            keep: keep.max(1),
            entries: VecDeque::new(),
        }
    }

    /// Remember a window (in window order; a window at or before the newest is ignored).
    pub fn push(&mut self, e: Entry) {
        if self.entries.back().is_some_and(|b| e.start <= b.start) {
            return;
        }
        self.entries.push_back(e);
        while self
            .entries
            .front()
            .is_some_and(|f| f.start <= e.start - self.keep)
        {
            self.entries.pop_front();
        }
    }

    /// Windows whose start lies in `(newest − to, newest − from]` on the grid of window
    /// size `size` that ends at the newest window: `from = 0, to = span` is "the last
    /// `span`", `from = span, to = 7·span` the six spans before it.
    pub fn sums(&self, size: Millis, from: Millis, to: Millis) -> Sums {
        let Some(newest) = self.entries.back().map(|e| e.start) else {
            return Sums::default();
        };
        let size = size.max(1);
        let mut s = Sums::default();
        for e in self.entries.iter().rev() {
            let age = newest - e.start;
            if age >= to {
                break;
            }
            if age >= from && age % size == 0 {
                s.count += e.count;
                s.expected += e.expected;
                s.windows += 1;
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(start_min: i64, count: f64) -> Entry {
        Entry {
            start: start_min * 60_000,
            count,
            expected: 1.0,
        }
    }

    #[test]
    fn tumbling_windows_add_up_over_the_span() {
        let mut r = Recent::new(60 * 60_000);
        for i in 0..20 {
            r.push(entry(i * 5, i as f64));
        }
        // The last 30 minutes of 5-minute windows: windows 14..=19.
        let s = r.sums(5 * 60_000, 0, SHORT_SPAN_MS);
        assert_eq!((s.count, s.windows), ((14..20).sum::<i64>() as f64, 6));
        // The half hour before: windows 8..=13.
        let s = r.sums(5 * 60_000, SHORT_SPAN_MS, 2 * SHORT_SPAN_MS);
        assert_eq!((s.count, s.windows), ((8..14).sum::<i64>() as f64, 6));
    }

    #[test]
    fn hopping_windows_are_added_only_where_they_tile() {
        // 30-minute windows hopping every 10 minutes: of the last hour, only the newest
        // and the one 30 minutes before it tile it.
        let mut r = Recent::new(2 * 60 * 60_000);
        for i in 0..10 {
            r.push(entry(i * 10, 1.0));
        }
        let s = r.sums(30 * 60_000, 0, 60 * 60_000);
        assert_eq!(s.windows, 2);
    }

    #[test]
    fn old_and_repeated_windows_are_dropped() {
        let mut r = Recent::new(30 * 60_000);
        for i in 0..10 {
            r.push(entry(i * 10, 1.0));
        }
        r.push(entry(50, 100.0));
        assert_eq!(r.entries.len(), 3, "keeps (now − 30 min, now]");
        assert_eq!(r.sums(10 * 60_000, 0, SHORT_SPAN_MS).count, 3.0);
    }
}
