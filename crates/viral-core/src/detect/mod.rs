//! Detection: is a closed window abnormal, and what does that mean for the incident?
//!
//! A [`Detector`] judges one topic's windows, in window order, one at a time; it may learn
//! from each. An [`IncidentTracker`] turns its verdicts into at most one `firing` and one
//! `resolved` alert per episode, so overlapping hopping windows make one incident.

mod adaptive;
mod burst;
mod incident;
#[cfg(test)]
mod tests;
mod threshold;

pub use adaptive::{AdaptiveDetector, Sensitivity};
pub use burst::BurstDetector;
pub use incident::IncidentTracker;
pub use threshold::ThresholdDetector;

use crate::model::{Band, WindowCount};

/// A detector's judgement of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub anomalous: bool,
    /// How abnormal: comparable across windows of one detector; ≥ 1 means anomalous for
    /// detectors that have a natural scale.
    pub score: f64,
    /// The detector's baseline for this window, where it has one.
    pub expected: Option<f64>,
    /// The counts the detector considers normal for this window, where it has a band.
    pub band: Option<Band>,
    /// The detector has too little history for its real rule and applied its stated
    /// cold-start rule instead.
    pub warming_up: bool,
}

/// Judges the closed windows of one topic, in window order.
pub trait Detector: Send {
    /// The name alerts carry (the configured `name`, or the kind).
    fn name(&self) -> &str;
    fn observe(&mut self, window: &WindowCount) -> Verdict;
}
