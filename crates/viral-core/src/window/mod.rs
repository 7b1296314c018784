//! Event-time windows: tumbling and hopping, epoch-aligned, with a watermark of bounded
//! lateness and delivery delay, per-window de-duplication and zero-count windows
//! (docs/ARCHITECTURE.md, "Windowing").
//!
//! [`WindowEngine`] is incremental: each mention may close windows, which the caller then
//! takes out one at a time ([`WindowEngine::pop_closed`]). Memory is bounded by the open
//! windows, however far one mention moves the watermark; nothing is kept for a closed one.

mod engine;
mod ranges;
mod slots;
mod spec;

pub use engine::{Checkpoint, Closed, MentionRef, Outcome, WindowEngine, WindowStats};
pub use spec::{SpecError, WindowSpec, DEFAULT_MAX_DELAY};
