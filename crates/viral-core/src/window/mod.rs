//! Event-time windows: tumbling and hopping, epoch-aligned, with a watermark of bounded
//! lateness, per-window de-duplication and zero-count windows (DESIGN.md, "Windowing").
//!
//! [`WindowEngine`] is incremental: each mention may close windows, which come back at
//! once. Memory is bounded by the open windows; nothing is kept for a closed one.

mod engine;
mod spec;

pub use engine::{Checkpoint, MentionRef, Outcome, WindowEngine, WindowStats};
pub use spec::{SpecError, WindowSpec};
