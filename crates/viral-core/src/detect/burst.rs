//! Rate of change: the last half hour holds several times the average half hour of the
//! three hours before it. Needs almost no history, so it covers new topics and sudden
//! spikes the adaptive detector is still warming up to; it forgets quickly, so a new
//! normal stops firing within hours. Judging half hours rather than single windows makes
//! `factor` and `min_count` mean the same at every window size.

use super::recent::{Entry, Recent, SHORT_SPAN_MS};
use super::{Detector, Verdict};
use crate::model::{Band, WindowCount};
use crate::time::{to_millis, Millis};

/// Half hours of history the burst is measured against.
const HISTORY: i64 = 6;

/// Anomalous when the last half hour (or window, if longer) holds `≥ factor × mean` of
/// the half hours before it, `≥ min_count` mentions, and a rise beyond Poisson noise
/// (`count − mean ≥ 4·√(mean + 1)`).
#[derive(Debug, Clone)]
pub struct BurstDetector {
    name: String,
    factor: f64,
    min_count: u64,
    recent: Recent,
}

impl BurstDetector {
    pub fn new(name: impl Into<String>, factor: f64, min_count: u64) -> Self {
        Self {
            name: name.into(),
            factor: factor.max(1.0),
            min_count,
            // Enough for the span and its history at any window size up to a day.
            recent: Recent::new((HISTORY + 1) * 24 * 3_600_000),
        }
    }
}

impl Detector for BurstDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self, window: &WindowCount) -> Verdict {
        let start = to_millis(&window.window_start);
        let size: Millis = (to_millis(&window.window_end) - start).max(1);
        let span = SHORT_SPAN_MS.max(size);
        let c = window.count as f64;
        self.recent.push(Entry {
            start,
            count: c,
            expected: 0.0,
        });
        let now = self.recent.sums(size, 0, span);
        let before = self.recent.sums(size, span, (HISTORY + 1) * span);
        if before.windows == 0 {
            return Verdict {
                anomalous: false,
                score: 0.0,
                expected: None,
                band: None,
                warming_up: true,
            };
        }
        // Average half hour before, scaled to the windows now in the span.
        let per_window = before.count / before.windows as f64;
        let mean = per_window * now.windows as f64;
        let bar = (self.factor * mean)
            .max(self.min_count as f64 * span as f64 / SHORT_SPAN_MS as f64)
            .max(mean + 4.0 * (mean + 1.0).sqrt());
        let others = now.count - c;
        Verdict {
            anomalous: now.count >= bar,
            score: now.count / bar,
            expected: Some(per_window),
            band: Some(Band {
                low: (per_window - 4.0 * (per_window + 1.0).sqrt()).max(0.0),
                high: (bar - others).max(per_window),
            }),
            warming_up: false,
        }
    }
}
