//! The original rule of the AWS pipeline: fire when a window's count reaches a number.

use super::{Detector, Verdict};
use crate::model::WindowCount;

/// `count >= threshold` is anomalous; the score is `count / threshold`.
#[derive(Debug, Clone)]
pub struct ThresholdDetector {
    name: String,
    threshold: u64,
}

impl ThresholdDetector {
    /// `threshold` must be at least 1 (a threshold of 0 would fire on silence).
    pub fn new(name: impl Into<String>, threshold: u64) -> Self {
        Self {
            name: name.into(),
            threshold: threshold.max(1),
        }
    }
}

impl Detector for ThresholdDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self, window: &WindowCount) -> Verdict {
        Verdict {
            anomalous: window.count >= self.threshold,
            score: window.count as f64 / self.threshold as f64,
            expected: None,
            band: None,
            warming_up: false,
        }
    }
}
