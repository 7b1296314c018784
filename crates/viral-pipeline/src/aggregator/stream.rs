//! One owned partition of the mentions topic: its windowing engine, what waits for the
//! next commit, and the checkpoint that lets a successor carry on exactly where it was.

use std::time::Instant;

use viral_bus::{Assignment, Progress, Record};
use viral_core::window::{Checkpoint, WindowEngine};
use viral_core::WindowCount;

use super::Settings;

/// One owned partition's stream.
pub(super) struct Stream {
    pub(super) engine: WindowEngine,
    /// Offset after the last message read.
    pub(super) next_offset: i64,
    /// The resume offset last committed.
    pub(super) committed: i64,
    /// Closed windows and dead letters waiting for the next commit.
    pub(super) pending: Vec<WindowCount>,
    pub(super) letters: Vec<Record>,
    /// Offset after the last poison message dead-lettered: a re-read after a restart
    /// (from an open window's first offset, often before it) must not send it again.
    pub(super) lettered_to: i64,
    /// Since when the partition has delivered no mention (or since it was assigned).
    pub(super) quiet_since: Instant,
}

/// What a partition's commit carries as its checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    #[serde(flatten)]
    engine: Checkpoint,
    #[serde(default)]
    lettered_to: i64,
}

impl Stream {
    pub(super) fn fresh(settings: &Settings, offset: i64) -> Self {
        Self {
            engine: WindowEngine::new(settings.spec).with_samples(settings.samples),
            next_offset: offset,
            committed: offset,
            pending: Vec::new(),
            letters: Vec::new(),
            lettered_to: 0,
            quiet_since: Instant::now(),
        }
    }

    /// Rebuild from what the previous owner committed.
    pub(super) fn resume(settings: &Settings, a: &Assignment) -> Self {
        let offset = a.offset.unwrap_or(0);
        let Some(text) = &a.checkpoint else {
            return Self::fresh(settings, offset);
        };
        match serde_json::from_str::<Saved>(text) {
            Ok(saved) => Self {
                engine: WindowEngine::restore(settings.spec, &saved.engine)
                    .with_samples(settings.samples),
                lettered_to: saved.lettered_to,
                ..Self::fresh(settings, offset)
            },
            Err(e) => {
                // Not ours (another tool committed for this group) or from an
                // incompatible version: count on, but say that windows may repeat.
                tracing::error!(partition = a.partition, error = %e, "unreadable checkpoint; starting the partition's windows afresh");
                Self::fresh(settings, offset)
            }
        }
    }

    /// Where a restart must resume: the first offset an open window depends on, or after
    /// the last message read when no open window holds one.
    pub(super) fn resume_offset(&self) -> i64 {
        self.engine.resume_seq().map_or(self.next_offset, |s| {
            i64::try_from(s).unwrap_or(self.next_offset)
        })
    }

    pub(super) fn progress(&self, partition: i32) -> Progress {
        debug_assert!(self.engine.settled(), "a checkpoint would lose due windows");
        Progress {
            partition,
            offset: self.resume_offset(),
            checkpoint: serde_json::to_string(&Saved {
                engine: self.engine.checkpoint(),
                lettered_to: self.lettered_to,
            })
            .ok(),
        }
    }

    pub(super) fn dirty(&self) -> bool {
        !self.pending.is_empty()
            || !self.letters.is_empty()
            || self.resume_offset() != self.committed
    }
}
