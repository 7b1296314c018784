//! Detection: is a closed window abnormal, and what does that mean for the incident?
//!
//! Everything viral knows about detectors is here, pure, so the alerter, `viral
//! backtest` and the query API's replays judge alike:
//!
//! - [`config`]: a `[[detectors]]` entry — keys, defaults, validation, and the detector it
//!   builds.
//! - [`Detector`]s judge one topic's windows, in window order, one at a time, and learn
//!   from each: [`threshold`], [`adaptive`] (learns level, rhythm and burstiness) and
//!   [`burst`] (a sudden rise against the last hours).
//! - [`incident`]: turns verdicts into one `firing` and one `resolved` alert per episode,
//!   holding an incident through lulls shorter than the detector's `resolve_after`.
//! - [`judge`]: the detectors and incidents of every topic, and how much history warms
//!   them up after a restart.
//! - [`score`]: alerts scored against labelled periods (`viral backtest --labels`).
//! - `recent`: the last half hour of windows, so short and long windows are judged on the
//!   same span of time.

pub mod adaptive;
pub mod burst;
pub mod config;
pub mod incident;
pub mod judge;
mod recent;
pub mod score;
#[cfg(test)]
mod tests;
pub mod threshold;

pub use adaptive::{AdaptiveDetector, Sensitivity};
pub use burst::BurstDetector;
pub use config::{DetectorConfig, DetectorError};
pub use incident::IncidentTracker;
pub use judge::{Judge, Judgement, WARM_UP_DAYS, WARM_UP_WINDOWS};
pub use threshold::ThresholdDetector;

use crate::model::{Band, WindowCount};

/// A detector's judgement of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    pub anomalous: bool,
    /// How abnormal: comparable across windows of one detector; ≥ 1 means past the bar
    /// for detectors that have a natural scale (floors may still hold it back).
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
