//! Keys of `[sources.synthetic]`.
//!
//! Every key has a default tuned for the demo: a 30-minute window passes in 3 s of real
//! time, each topic sees about 200 mentions per window, and six simulated hours (36 s)
//! after the start one topic goes viral at about 15× its usual rate for two hours, so a
//! new user sees a real alert within a minute without writing any configuration.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{BuildContext, CheckContext, InvalidConfig, Source, SourceConfig};

/// Upper bound on any rate, in posts per simulated hour. A 10-second slice at this rate
/// holds ~280k posts, which is as much as one slice should keep in memory at once.
pub const MAX_RATE_PER_HOUR: f64 = 1e8;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Simulated time runs this many times faster than real time (600: 30 min in 3 s).
    pub speed: f64,
    /// Same seed, same topics, same start: the same posts, live or offline.
    pub seed: u64,
    /// Mentions per simulated hour per topic, at the daily average.
    pub base_rate: f64,
    /// How far the rate swings over the day, 0..=1 (0.5: ±50%, peak at 15:00 UTC).
    pub daily_amplitude: f64,
    /// Simulated time from the start of the source to the start of the spike.
    #[serde(with = "humantime_serde")]
    pub spike_after: Duration,
    /// Simulated length of the spike (zero: no spike).
    #[serde(with = "humantime_serde")]
    pub spike_duration: Duration,
    /// At the spike's peak the topic gets `spike_factor × base_rate` mentions per hour
    /// (plus its daily rhythm's deviation from the average). At least 1.
    pub spike_factor: f64,
    /// Which topic goes viral; default: the first.
    pub spike_topic: Option<String>,
    /// Posts per simulated hour that mention no topic, at the daily average.
    pub noise_rate: f64,
    /// Fraction of posts delivered a second time with the same id, as a reconnecting
    /// stream would, so that deduplication has something to do.
    pub duplicate_ratio: f64,
    /// Fraction of posts whose `created_at` lies a few simulated minutes before they are
    /// delivered, so that lateness handling has something to do.
    pub late_ratio: f64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            speed: 600.0,
            seed: 42,
            base_rate: 400.0,
            daily_amplitude: 0.5,
            spike_after: Duration::from_secs(6 * 3600),
            spike_duration: Duration::from_secs(2 * 3600),
            spike_factor: 15.0,
            spike_topic: None,
            noise_rate: 200.0,
            duplicate_ratio: 0.02,
            late_ratio: 0.01,
        }
    }
}

impl SyntheticConfig {
    /// Check the values on their own; the keys named are relative to `sources.synthetic`.
    ///
    /// Whether `spike_topic` names a configured topic is checked against the topics
    /// ([`check_topics`](Self::check_topics)).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        if !(self.speed.is_finite() && self.speed > 0.0) {
            return Err(InvalidConfig::new(
                "speed",
                format!("must be a positive number, got {}", self.speed),
            ));
        }
        for (key, rate) in [
            ("base_rate", self.base_rate),
            ("noise_rate", self.noise_rate),
        ] {
            if !(rate.is_finite() && (0.0..=MAX_RATE_PER_HOUR).contains(&rate)) {
                return Err(InvalidConfig::new(
                    key,
                    format!(
                        "must be between 0 and {MAX_RATE_PER_HOUR:e} posts per hour, got {rate}"
                    ),
                ));
            }
        }
        for (key, v) in [
            ("daily_amplitude", self.daily_amplitude),
            ("duplicate_ratio", self.duplicate_ratio),
            ("late_ratio", self.late_ratio),
        ] {
            // `contains` is false for NaN, so NaN is rejected too.
            if !(0.0..=1.0).contains(&v) {
                return Err(InvalidConfig::new(
                    key,
                    format!("must be between 0 and 1, got {v}"),
                ));
            }
        }
        if !(self.spike_factor.is_finite() && self.spike_factor >= 1.0) {
            return Err(InvalidConfig::new(
                "spike_factor",
                format!("must be at least 1, got {}", self.spike_factor),
            ));
        }
        if self.base_rate * self.spike_factor > MAX_RATE_PER_HOUR {
            return Err(InvalidConfig::new(
                "spike_factor",
                format!(
                    "base_rate × spike_factor = {} exceeds {MAX_RATE_PER_HOUR:e} posts per hour",
                    self.base_rate * self.spike_factor
                ),
            ));
        }
        Ok(())
    }

    /// `spike_topic`, if set, is one of `topics` (name, terms).
    pub(crate) fn check_topics(
        &self,
        topics: &[(String, Vec<String>)],
    ) -> Result<(), InvalidConfig> {
        match &self.spike_topic {
            Some(name) if !topics.iter().any(|(n, _)| n == name) => Err(InvalidConfig::new(
                "spike_topic",
                format!("{name:?} is not one of the configured topics"),
            )),
            _ => Ok(()),
        }
    }
}

impl SourceConfig for SyntheticConfig {
    fn check(&self, ctx: &CheckContext<'_>) -> Result<(), InvalidConfig> {
        self.validate()?;
        self.check_topics(ctx.topics)
    }

    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Source>, InvalidConfig> {
        let source =
            super::SyntheticSource::new(self.clone(), ctx.topics.clone(), ctx.clock.clone());
        Ok(Box::new(source))
    }
}
