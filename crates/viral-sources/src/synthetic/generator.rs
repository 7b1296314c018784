//! The pure half of the synthetic source: given a seeded RNG and a rate function of
//! simulated time, the posts of a span of that time. No clock and no I/O, so the live
//! demo, `viral generate`, tests and benchmarks all get the same posts for the same seed.
//!
//! Time is cut into slices of [`SLICE_MS`] aligned to the start, and each slice is drawn
//! whole. Because every caller cuts at the same boundaries, the live source (which draws
//! a slice once the clock has passed its end) yields exactly what [`generate`] yields
//! offline, and any span streams in the memory of one slice.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use viral_core::time::{from_millis, Millis};
use viral_core::Post;

use super::config::MAX_RATE_PER_HOUR;
use super::texts::Texts;
use super::SyntheticConfig;

/// Length of a slice of simulated time. Short enough that the live source lags the clock
/// by at most 10 simulated seconds (17 ms of real time at the default speed), long
/// enough that drawing an empty slice costs next to nothing offline.
pub const SLICE_MS: Millis = 10_000;

const MINUTE: Millis = 60_000;
const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;
const HOUR: f64 = HOUR_MS as f64;
/// Hour of the day (UTC) at which the daily rhythm peaks: mid-afternoon.
const PEAK_HOUR: f64 = 15.0;
/// Fractions of the spike spent rising to its peak and falling back: viral attention
/// arrives within minutes and fades over the better part of an hour.
const SPIKE_RISE: f64 = 0.1;
const SPIKE_FALL: f64 = 0.25;
/// Distinct simulated authors.
const AUTHORS: u32 = 5_000;
/// Marks a noise post in the draw list (topic indices are small).
const NOISE: usize = usize::MAX;

/// Draws the posts of consecutive slices of simulated time.
pub(crate) struct Generator {
    rates: Rates,
    texts: Texts,
    rng: ChaCha8Rng,
    duplicate_ratio: f64,
    late_ratio: f64,
    start: Millis,
    /// Start of the next slice to draw.
    cursor: Millis,
    next_id: u64,
    /// Reused between slices: (arrival time, topic index or [`NOISE`]).
    draws: Vec<(Millis, usize)>,
}

impl Generator {
    /// `start` is simulated time zero: slices are aligned to it and the spike begins
    /// `spike_after` later. Out-of-range values of an unvalidated `config` are clamped
    /// rather than trusted, because this must never panic.
    pub(crate) fn new(
        config: &SyntheticConfig,
        topics: &[(String, Vec<String>)],
        start: Millis,
    ) -> Self {
        Self {
            rates: Rates::new(config, topics, start),
            texts: Texts::new(topics),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            duplicate_ratio: unit(config.duplicate_ratio),
            late_ratio: unit(config.late_ratio),
            start,
            cursor: start,
            next_id: 0,
            draws: Vec::new(),
        }
    }

    pub(crate) fn rates(&self) -> &Rates {
        &self.rates
    }

    /// Start of the next slice to draw.
    pub(crate) fn cursor(&self) -> Millis {
        self.cursor
    }

    /// The latest slice boundary at or before `t`: everything before it can be drawn.
    pub(crate) fn boundary_at_or_before(&self, t: Millis) -> Millis {
        let offset = t.saturating_sub(self.start).max(0);
        self.start
            .saturating_add(offset - offset.rem_euclid(SLICE_MS))
    }

    /// Draw the next slice, cut short at `limit`, appending its posts to `out` in arrival
    /// order. Returns false, drawing nothing, once the cursor has reached `limit`.
    pub(crate) fn next_slice(&mut self, limit: Millis, out: &mut Vec<Post>) -> bool {
        if self.cursor >= limit {
            return false;
        }
        let t0 = self.cursor;
        let t1 = self
            .boundary_at_or_before(t0)
            .saturating_add(SLICE_MS)
            .min(limit);
        if t1 <= t0 {
            // Only at the very end of the i64 range; stop rather than spin.
            self.cursor = limit;
            return false;
        }
        self.fill(t0, t1, out);
        self.cursor = t1;
        true
    }

    /// The posts arriving in `[t0, t1)`: a Poisson count per topic and for noise at the
    /// rates of the interval's midpoint, arrival times uniform within it.
    fn fill(&mut self, t0: Millis, t1: Millis, out: &mut Vec<Post>) {
        let span = t1 - t0;
        let hours = span as f64 / HOUR;
        let mid = t0 + span / 2;
        self.draws.clear();
        for topic in 0..self.texts.topic_count() {
            if !self.texts.has_topic(topic) {
                continue;
            }
            let n = poisson(&mut self.rng, self.rates.topic(topic, mid) * hours);
            for _ in 0..n {
                let at = t0 + self.rng.random_range(0..span);
                self.draws.push((at, topic));
            }
        }
        if self.texts.has_noise() {
            let n = poisson(&mut self.rng, self.rates.noise(mid) * hours);
            for _ in 0..n {
                let at = t0 + self.rng.random_range(0..span);
                self.draws.push((at, NOISE));
            }
        }
        // Stable sort: ties keep their (deterministic) draw order.
        self.draws.sort_by_key(|&(at, _)| at);
        let spiking = self.rates.spike_shape(mid) > 0.0;
        let draws = std::mem::take(&mut self.draws);
        for &(at, topic) in &draws {
            self.push_post(at, topic, spiking, out);
        }
        self.draws = draws;
    }

    fn push_post(&mut self, at: Millis, topic: usize, spiking: bool, out: &mut Vec<Post>) {
        let text = if topic == NOISE {
            self.texts.noise_text(&mut self.rng)
        } else {
            let spiking = spiking && self.rates.is_spike_topic(topic);
            self.texts.topic_text(topic, spiking, &mut self.rng)
        };
        let created = if self.rng.random_bool(self.late_ratio) {
            at.saturating_sub(self.rng.random_range(2 * MINUTE..10 * MINUTE))
        } else {
            at
        };
        let observed = at.saturating_add(self.rng.random_range(100..900));
        let author = self.rng.random_range(0..AUTHORS);
        let n = self.next_id;
        self.next_id += 1;
        let post = Post {
            id: format!("synthetic:{n}"),
            source: "synthetic".to_owned(),
            text,
            created_at: from_millis(created),
            observed_at: Some(from_millis(observed)),
            author: Some(format!("synthetic:user{author}")),
            url: Some(format!("https://example.com/synthetic/{n}")),
            lang: Some("en".to_owned()),
        };
        if self.rng.random_bool(self.duplicate_ratio) {
            // The very same record again, as a stream re-delivers after a reconnect.
            out.push(post.clone());
        }
        out.push(post);
    }
}

/// A Poisson draw; zero for a mean that is not a positive finite number, since a rate
/// function may legitimately be zero and must never make the generator fail.
fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if !(mean.is_finite() && mean > 0.0) {
        return 0;
    }
    match Poisson::new(mean) {
        // Poisson samples are whole numbers; `as` saturates, so no overflow either.
        Ok(d) => d.sample(rng) as u64,
        Err(_) => 0,
    }
}

/// Clamp to a probability; NaN counts as 0.
fn unit(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, 1.0)
    }
}

/// The posts of `[start, start + duration)` of simulated time, drawn lazily a slice at a
/// time: memory does not grow with `duration`.
struct Posts {
    generator: Generator,
    end: Millis,
    /// The current slice in reverse, so `pop` yields arrival order and the allocation
    /// is reused from slice to slice.
    buffer: Vec<Post>,
}

impl Iterator for Posts {
    type Item = Post;

    fn next(&mut self) -> Option<Post> {
        loop {
            if let Some(p) = self.buffer.pop() {
                return Some(p);
            }
            if !self.generator.next_slice(self.end, &mut self.buffer) {
                return None;
            }
            self.buffer.reverse();
        }
    }
}

/// The synthetic posts of `duration` ms of simulated time from `start` (epoch ms), in
/// arrival order, exactly as a live [`super::SyntheticSource`] started at `start` would
/// send them. `topics` are (name, terms) pairs. A negative duration yields nothing.
///
/// The configuration is not validated here (see [`SyntheticConfig::validate`]); values
/// out of range are clamped. An unknown `spike_topic` means no topic spikes.
pub fn generate(
    config: &SyntheticConfig,
    topics: &[(String, Vec<String>)],
    start: Millis,
    duration: Millis,
) -> impl Iterator<Item = Post> + Send + 'static {
    Posts {
        generator: Generator::new(config, topics, start),
        end: start.saturating_add(duration.max(0)),
        buffer: Vec::new(),
    }
}

/// Expected posts per simulated hour as a function of simulated time: the rate function
/// the generator draws from.
#[derive(Debug, Clone)]
pub(crate) struct Rates {
    base: f64,
    amplitude: f64,
    noise: f64,
    spike_topic: Option<usize>,
    spike_topic_name: Option<String>,
    spike_start: Millis,
    spike_len: Millis,
    /// Added to the spike topic's rate at the spike's peak.
    spike_extra: f64,
}

impl Rates {
    pub(crate) fn new(
        config: &SyntheticConfig,
        topics: &[(String, Vec<String>)],
        start: Millis,
    ) -> Self {
        let spike_topic = match &config.spike_topic {
            None if topics.is_empty() => None,
            None => Some(0),
            Some(name) => {
                let found = topics.iter().position(|(n, _)| n == name);
                if found.is_none() {
                    tracing::warn!(spike_topic = %name, "synthetic: spike_topic is not a configured topic; nothing will spike");
                }
                found
            }
        };
        let base = rate(config.base_rate);
        let factor = if config.spike_factor.is_finite() {
            config.spike_factor.max(1.0)
        } else {
            1.0
        };
        Self {
            base,
            amplitude: unit(config.daily_amplitude),
            noise: rate(config.noise_rate),
            spike_topic_name: spike_topic
                .and_then(|i| topics.get(i))
                .map(|(n, _)| n.clone()),
            spike_topic,
            spike_start: start.saturating_add(millis(config.spike_after)),
            spike_len: millis(config.spike_duration),
            spike_extra: (base * (factor - 1.0)).min(MAX_RATE_PER_HOUR),
        }
    }

    /// 1 on average over a day, `1 ± amplitude` at the extremes, highest at
    /// [`PEAK_HOUR`] UTC, because people post in their waking hours.
    pub(crate) fn rhythm(&self, t: Millis) -> f64 {
        let hour = t.rem_euclid(DAY_MS) as f64 / HOUR;
        let phase = (hour - PEAK_HOUR) / 24.0 * std::f64::consts::TAU;
        1.0 + self.amplitude * phase.cos()
    }

    /// Between 0 (outside the spike) and 1 (its plateau): a fast rise, a plateau and a
    /// slower fall, so incidents both open and resolve on their own.
    pub(crate) fn spike_shape(&self, t: Millis) -> f64 {
        if self.spike_topic.is_none() || self.spike_len <= 0 {
            return 0.0;
        }
        let x = (t.saturating_sub(self.spike_start)) as f64 / self.spike_len as f64;
        if !(0.0..1.0).contains(&x) {
            0.0
        } else if x < SPIKE_RISE {
            x / SPIKE_RISE
        } else if x > 1.0 - SPIKE_FALL {
            (1.0 - x) / SPIKE_FALL
        } else {
            1.0
        }
    }

    pub(crate) fn is_spike_topic(&self, topic: usize) -> bool {
        self.spike_topic == Some(topic)
    }

    /// The spike topic and the simulated span `[start, end)` of its spike, if any.
    pub(crate) fn spike(&self) -> Option<(&str, Millis, Millis)> {
        let name = self.spike_topic_name.as_deref()?;
        (self.spike_len > 0).then(|| {
            (
                name,
                self.spike_start,
                self.spike_start.saturating_add(self.spike_len),
            )
        })
    }

    /// Mentions of `topic` per simulated hour at `t`.
    pub(crate) fn topic(&self, topic: usize, t: Millis) -> f64 {
        let mut r = self.base * self.rhythm(t);
        if self.is_spike_topic(topic) {
            r += self.spike_extra * self.spike_shape(t);
        }
        r
    }

    /// Posts mentioning no topic per simulated hour at `t`.
    pub(crate) fn noise(&self, t: Millis) -> f64 {
        self.noise * self.rhythm(t)
    }
}

/// A rate from the configuration, made safe to draw from.
fn rate(r: f64) -> f64 {
    if r.is_finite() {
        r.clamp(0.0, MAX_RATE_PER_HOUR)
    } else {
        0.0
    }
}

fn millis(d: std::time::Duration) -> Millis {
    Millis::try_from(d.as_millis()).unwrap_or(Millis::MAX)
}
