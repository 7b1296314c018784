//! The pure domain of viral: everything that decides *what* is counted and *when* an owner
//! is told, with no async and no I/O, so that `viral replay`, `viral backtest`, the
//! standalone mode and the three services give identical answers on identical input.
//!
//! # Layout
//!
//! The modules follow the data path:
//!
//! - [`model`]: the messages that cross the bus and land in the store (`Post`, `Mention`,
//!   `WindowCount`, `Alert`), with their serde shapes in docs/ARCHITECTURE.md and `schemas/`.
//! - [`time`]: millisecond timestamps, RFC 3339 parsing and printing, event-time rule and
//!   the one-day limit on dates ahead of the clock.
//! - [`matcher`]: decides which tracked topics a post mentions (NFKC, lower-case, word runs).
//! - [`window`]: the incremental windowing engine: feed one mention, take out the windows
//!   it closed.
//! - [`detect`]: detectors (is this window abnormal?), their `[[detectors]]` config, and
//!   incidents (one `firing`, one `resolved` per episode).
//! - [`lines`]: bounded line splitting for JSONL inputs (replay, the file source).
//! - [`limits`]: size bounds on what is carried about a post (mention text, samples), so
//!   no message outgrows the bus.
//! - [`link`]: which post URLs may become links (web addresses only).

pub mod detect;
pub mod limits;
pub mod lines;
pub mod link;
pub mod matcher;
pub mod model;
pub mod time;
pub mod window;

pub use detect::{
    AdaptiveDetector, BurstDetector, Detector, DetectorConfig, IncidentTracker, Judge, Sensitivity,
    ThresholdDetector, Verdict,
};
pub use matcher::{TopicMatcher, TopicSpec};
pub use model::{Alert, AlertStatus, Band, Mention, Post, Sample, WindowCount};
pub use window::{Outcome, WindowEngine, WindowSpec, WindowStats};
