//! Where a recording lands in time, and when each of its posts is sent.
//!
//! A live pipeline judges lateness against its own clock: its aggregator closes windows
//! during silence by that clock. A recording from 2020 fed to it as it is would be late
//! the moment the clock moved (and the silence between 2020 and today would be filled
//! with empty windows). So by default ([`FileTime::Rebase`]) the recording is moved
//! forward by whole days — the time of day, the windows' alignment and the daily rhythm
//! stay as recorded — until its first post falls within the day before the source
//! starts, and each post is sent when the pipeline's clock reaches its moved time: what is
//! already past at once, the rest as it happens, as a live stream would deliver it. A
//! pause (a restart) then costs what it would cost a live source, not the rest of the
//! file. [`FileTime::Recorded`] keeps the recorded times, for files that are current.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use viral_core::time::{format_rfc3339, from_millis, to_millis, Millis};
use viral_core::Post;
use viral_runtime::clock::SharedClock;

const DAY: Millis = 24 * 3600 * 1000;

/// How the file source places a recording in time (`sources.file.time`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileTime {
    /// Moved forward by whole days to just before now, each post sent when the
    /// pipeline's clock reaches it (see the module's doc).
    #[default]
    Rebase,
    /// The times as recorded; sent as fast as possible, or paced by `created_at` gaps.
    Recorded,
}

/// The instant a post stands for in a recording: when it was seen, if the recording says,
/// else when it was written.
fn recorded_at(post: &Post) -> Millis {
    to_millis(post.observed_at.as_ref().unwrap_or(&post.created_at))
}

/// [`FileTime::Rebase`]: moves posts by a whole number of days fixed by the first one,
/// and waits for the clock to reach each.
pub(super) struct Rebase {
    clock: SharedClock,
    /// How many times faster than real time the clock runs.
    speed: f64,
    shift: Option<Millis>,
    /// The latest moved time sent so far: a post older than it is sent at once.
    latest: Millis,
}

impl Rebase {
    pub(super) fn new(clock: SharedClock, speed: f64) -> Self {
        Self {
            clock,
            speed,
            shift: None,
            latest: Millis::MIN,
        }
    }

    /// Move `post` (both its times) and return when it is due on the clock.
    pub(super) fn place(&mut self, post: &mut Post) -> Millis {
        let at = recorded_at(post);
        let shift = *self.shift.get_or_insert_with(|| {
            let now = self.clock.now_ms();
            let shift = now.saturating_sub(at).div_euclid(DAY).saturating_mul(DAY);
            tracing::info!(
                first_post = %format_rfc3339(&from_millis(at)),
                placed_at = %format_rfc3339(&from_millis(at.saturating_add(shift))),
                days = shift / DAY,
                "file source: the recording is moved onto the present"
            );
            shift
        });
        let moved = |t: &mut chrono::DateTime<chrono::Utc>| {
            *t = from_millis(to_millis(t).saturating_add(shift));
        };
        moved(&mut post.created_at);
        if let Some(o) = post.observed_at.as_mut() {
            moved(o);
        }
        self.latest = self.latest.max(at.saturating_add(shift));
        self.latest
    }

    /// Wait until the clock reaches `due`; false if shutdown came first.
    pub(super) async fn wait(&self, due: Millis, shutdown: &CancellationToken) -> bool {
        let mut announced = false;
        loop {
            let now = self.clock.now_ms();
            if now >= due {
                return !shutdown.is_cancelled();
            }
            let real = (due - now) as f64 / 1000.0 / self.speed;
            if real > 60.0 && !announced {
                announced = true;
                tracing::info!(due = %format_rfc3339(&from_millis(due)), "file source: waiting for the next post's time");
            }
            // In steps of at most an hour, reading the clock again after each.
            let step = Duration::try_from_secs_f64(real.min(3600.0))
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(1));
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(step) => {}
            }
        }
    }
}

/// [`FileTime::Recorded`] with a `speed`: post i is sent `(max created_at so far − first
/// created_at) / speed` after the first. Measuring from one anchor rather than sleeping
/// gap by gap keeps the error from accumulating; using the running maximum means a post
/// older than its predecessor is sent at once instead of waiting a negative gap.
pub(super) struct Pacer {
    speed: f64,
    anchor: Option<(Millis, Instant)>,
    latest: Millis,
}

impl Pacer {
    pub(super) fn new(speed: f64) -> Self {
        Self {
            speed,
            anchor: None,
            latest: Millis::MIN,
        }
    }

    /// Wait until the post created at `created` is due; false if shutdown came first.
    pub(super) async fn wait(&mut self, created: Millis, shutdown: &CancellationToken) -> bool {
        let (first, anchor) = *self.anchor.get_or_insert((created, Instant::now()));
        self.latest = self.latest.max(created);
        let offset_s = self.latest.saturating_sub(first) as f64 / 1000.0 / self.speed;
        let deadline = Duration::try_from_secs_f64(offset_s)
            .ok()
            .and_then(|d| anchor.checked_add(d));
        match deadline {
            Some(deadline) if deadline <= Instant::now() => !shutdown.is_cancelled(),
            Some(deadline) => tokio::select! {
                biased;
                _ = shutdown.cancelled() => false,
                _ = tokio::time::sleep_until(deadline) => true,
            },
            // Due beyond what the clock can represent: in effect never.
            None => {
                shutdown.cancelled().await;
                false
            }
        }
    }
}
