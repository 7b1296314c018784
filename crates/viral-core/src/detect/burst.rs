//! Rate of change: a count several times the last few windows' average. Needs almost no
//! history, so it covers new topics and sudden spikes the adaptive detector is still
//! warming up to; it forgets quickly, so a new normal stops firing after a few windows.

use std::collections::VecDeque;

use super::{Detector, Verdict};
use crate::model::{Band, WindowCount};

/// Windows of history the burst is measured against.
const HISTORY: usize = 6;

/// Anomalous when `count ≥ factor × mean` of the previous windows, `count ≥ min_count`,
/// and the rise is beyond Poisson noise (`count − mean ≥ 4·√(mean + 1)`).
#[derive(Debug, Clone)]
pub struct BurstDetector {
    name: String,
    factor: f64,
    min_count: u64,
    history: VecDeque<u64>,
}

impl BurstDetector {
    pub fn new(name: impl Into<String>, factor: f64, min_count: u64) -> Self {
        Self {
            name: name.into(),
            factor: factor.max(1.0),
            min_count,
            history: VecDeque::with_capacity(HISTORY),
        }
    }
}

impl Detector for BurstDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self, window: &WindowCount) -> Verdict {
        let c = window.count as f64;
        let verdict = if self.history.is_empty() {
            Verdict {
                anomalous: false,
                score: 0.0,
                expected: None,
                band: None,
                warming_up: true,
            }
        } else {
            let mean = self.history.iter().sum::<u64>() as f64 / self.history.len() as f64;
            let bar = (self.factor * mean)
                .max(self.min_count as f64)
                .max(mean + 4.0 * (mean + 1.0).sqrt());
            Verdict {
                anomalous: c >= bar,
                score: c / bar,
                expected: Some(mean),
                band: Some(Band {
                    low: (mean - 4.0 * (mean + 1.0).sqrt()).max(0.0),
                    high: bar,
                }),
                warming_up: false,
            }
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(window.count);
        verdict
    }
}
