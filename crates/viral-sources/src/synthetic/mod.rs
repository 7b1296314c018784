//! The synthetic source: the built-in demo's live stream of posts.
//!
//! It exists so that a new user sees a real alert within a minute with no API keys and no
//! data: posts about the configured topics with a daily rhythm, then one topic going
//! viral, on an accelerated clock ([`viral_runtime::clock::SimClock`]) that every stage
//! reads, so windows close and alerts fire on simulated time.
//!
//! This file is the async half: every ~100 ms of real time it reads the clock and sends
//! the posts of the simulated time that has passed. What those posts are is decided by
//! the pure [`generator`], which [`generate`] also exposes for offline use.

mod config;
mod generator;
#[cfg(test)]
mod tests;
mod texts;

pub use config::{SyntheticConfig, MAX_RATE_PER_HOUR};
pub use generator::{generate, SLICE_MS};

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use viral_core::time::{format_rfc3339, from_millis, Millis};
use viral_core::Post;
use viral_runtime::clock::SharedClock;

use crate::{send_or_stop, InvalidConfig, Source, SourceError};
use generator::Generator;

const NAME: &str = "synthetic";

/// Real time between two looks at the clock: at the default speed of 600 one tick is one
/// simulated minute, fine-grained enough for windows of minutes and cheap to run.
const TICK: Duration = Duration::from_millis(100);

/// Simulated posts about the configured topics, sent as the shared clock passes them.
///
/// Simulated time zero is a simulated clock's origin, or the wall clock's reading when
/// [`Source::run`] starts: the spike begins `spike_after` later, and the posts are exactly
/// those of [`generate`]`(config, topics, start, …)` for that start.
pub struct SyntheticSource {
    config: SyntheticConfig,
    topics: Vec<(String, Vec<String>)>,
    clock: SharedClock,
}

impl SyntheticSource {
    /// `topics` are the tracked topics as (name, terms): the posts really contain those
    /// terms. The configuration is checked when the source runs.
    pub fn new(
        config: SyntheticConfig,
        topics: Vec<(String, Vec<String>)>,
        clock: SharedClock,
    ) -> Self {
        Self {
            config,
            topics,
            clock,
        }
    }

    fn check(&self) -> Result<(), InvalidConfig> {
        self.config.validate()?;
        self.config.check_topics(&self.topics)
    }
}

#[async_trait::async_trait]
impl Source for SyntheticSource {
    fn name(&self) -> &str {
        NAME
    }

    fn keeps_time(&self) -> bool {
        true
    }

    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError> {
        self.check().map_err(|problem| SourceError::Config {
            source_name: NAME.to_owned(),
            problem,
        })?;
        // On a simulated clock (the demo's) the day starts at its origin, whenever this
        // task got to run: the same seed then gives the same posts, run after run.
        let start = self
            .clock
            .origin_ms()
            .unwrap_or_else(|| self.clock.now_ms());
        let mut generator = Generator::new(&self.config, &self.topics, start);
        let mut spike = SpikeLog::new(&generator);
        tracing::info!(
            start = %format_rfc3339(&from_millis(start)),
            speed = self.config.speed,
            seed = self.config.seed,
            topics = self.topics.len(),
            "synthetic source started"
        );

        let mut tick = tokio::time::interval(TICK);
        // After a stall, catch up once rather than firing a burst of ticks: each tick
        // already fills everything up to the clock.
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut batch = Vec::new();
        let mut sent: u64 = 0;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            // With nothing to send (all rates zero) a closed sink would go unnoticed.
            if sink.is_closed() {
                tracing::info!(sent, "synthetic source: the pipeline is gone; stopping");
                return Ok(());
            }
            let limit = generator.boundary_at_or_before(self.clock.now_ms());
            // One slice at a time, so catching up after a stall never holds more than
            // one slice of posts in memory.
            while generator.next_slice(limit, &mut batch) {
                spike.observe(generator.cursor());
                for post in batch.drain(..) {
                    if !send_or_stop(&sink, &shutdown, post).await {
                        tracing::info!(sent, "synthetic source stopped");
                        return Ok(());
                    }
                    sent += 1;
                }
            }
        }
        tracing::info!(sent, "synthetic source stopped");
        Ok(())
    }
}

/// Announces the spike's start and end in the logs, so that a demo user can tell the
/// alert that follows was caused by the spike and not by something else.
struct SpikeLog {
    spike: Option<(String, Millis, Millis)>,
    started: bool,
    ended: bool,
}

impl SpikeLog {
    fn new(generator: &Generator) -> Self {
        let spike = generator
            .rates()
            .spike()
            .map(|(name, s, e)| (name.to_owned(), s, e));
        if let Some((topic, s, e)) = &spike {
            tracing::info!(
                topic = %topic,
                from = %format_rfc3339(&from_millis(*s)),
                until = %format_rfc3339(&from_millis(*e)),
                "synthetic: a viral spike is scheduled (simulated time)"
            );
        }
        Self {
            spike,
            started: false,
            ended: false,
        }
    }

    /// `now`: simulated time up to which posts have been drawn.
    fn observe(&mut self, now: Millis) {
        let Some((topic, s, e)) = &self.spike else {
            return;
        };
        if !self.started && now > *s {
            self.started = true;
            tracing::info!(topic = %topic, "synthetic: the viral spike begins");
        }
        if !self.ended && now >= *e {
            self.ended = true;
            tracing::info!(topic = %topic, "synthetic: the viral spike is over");
        }
    }
}
