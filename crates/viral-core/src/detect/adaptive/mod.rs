//! The detector that needs no numbers: it learns each topic's level, its daily and weekly
//! rhythm and how bursty it normally is, and fires when mentions are more surprising than
//! the topic's routine — a burst within half an hour, or a rise sustained over hours.
//!
//! Why it is built this way (measured on real tweet volume, docs/DETECTION.md):
//!
//! - **Expected counts** ([`baseline`]): level × hour-of-day × day-of-week (UTC), learned
//!   from counts clipped at 3 sd above expected and with a three-day level, so a burst
//!   barely moves it and a day-long event moves it a third of the way, not all of it.
//! - **Surprise per time scale** ([`scales`]): the last half hour and the last hour
//!   (whatever the window size, so floors and noise mean the same at 1 and at 60
//!   minutes), and exponentially weighted sums over hours and over a day for sustained
//!   rises that no single window shows.
//! - **The bar comes from the topic itself** ([`spread`]): its hourly peaks of surprise
//!   over four weeks, and its typical daily peak, set the bursts' bars, so a topic that
//!   bursts daily is not paged daily, and a quiet one is still paged on a modest burst.
//! - **Floors** keep what nobody would call news out: a burst must be `min_excess`
//!   mentions per half hour above expected and 1.5× it; a sustained rise 1.25×.
//!
//! Cold start: during a topic's first day there is no rhythm to compare with; the
//! detector then fires only when the last half hour holds at least 5× the running mean
//! and 3× `min_excess` above it, and says so in [`Verdict::warming_up`].

mod baseline;
mod scales;
mod spread;

use crate::detect::recent::SHORT_SPAN_MS;
use baseline::{Baseline, DAY_MS};
use scales::{Floors, Long, Short};

use super::{Detector, Verdict};
use crate::model::{Band, WindowCount};
use crate::time::{to_millis, Millis};

/// History before the rhythm is trusted.
const WARMUP_MS: Millis = DAY_MS;
/// The cold-start rule: the last half hour at this many times the running mean...
const WARMUP_RATIO: f64 = 5.0;
/// ...and this many times `min_excess` above it.
const WARMUP_EXCESS: f64 = 3.0;
/// Until the short scale has two days of hourly peaks, its bar is this surprise.
const SHORT_FALLBACK: f64 = 8.0;
/// Time constants of the sustained-rise scales.
const LONG_TAUS: [Millis; 2] = [3 * 3_600_000, 12 * 3_600_000];
/// A half hour adds at most this many of its sd above its expectation to the long
/// scales (each window its share)...
const LONG_CAP_SD: f64 = 4.0;
/// ...and is learned at most this many above it.
const LEARN_CAP_SD: f64 = 3.0;
const SHORT_MIN_RATIO: f64 = 1.5;
const LONG_MIN_RATIO: f64 = 1.25;

/// How readily the detector fires: `balanced` unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sensitivity {
    Sensitive,
    #[default]
    Balanced,
    Strict,
}

/// The numbers behind a sensitivity.
#[derive(Debug, Clone, Copy)]
struct Params {
    /// The short scale's bar: (95th − 75th percentile) spans above the 95th percentile
    /// of its hourly peaks...
    reach: f64,
    /// ...at least this many times its median daily peak...
    daily: f64,
    /// ...and never below this surprise.
    short_floor: f64,
    /// The sustained-rise scales' bar.
    long_bar: f64,
    /// Mentions above expected per half hour.
    min_excess: f64,
}

impl Sensitivity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sensitive" => Some(Self::Sensitive),
            "balanced" => Some(Self::Balanced),
            "strict" => Some(Self::Strict),
            _ => None,
        }
    }

    fn params(self) -> Params {
        match self {
            Sensitivity::Sensitive => Params {
                reach: 2.0,
                daily: 1.25,
                short_floor: 3.5,
                long_bar: 4.0,
                min_excess: 8.0,
            },
            Sensitivity::Balanced => Params {
                reach: 3.0,
                daily: 2.0,
                short_floor: 4.0,
                long_bar: 5.0,
                min_excess: 10.0,
            },
            Sensitivity::Strict => Params {
                reach: 4.5,
                daily: 2.5,
                short_floor: 5.0,
                long_bar: 6.5,
                min_excess: 25.0,
            },
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct AdaptiveDetector {
    name: String,
    min_excess: f64,
    baseline: Baseline,
    short: Short,
    /// The last hour, judged like the half hour: two windows at 3× on a quiet topic are
    /// a burst even if neither alone is.
    hour: Short,
    long: [Long; 2],
    first_start: Option<Millis>,
    last_start: Option<Millis>,
    /// Hopping windows overlap: the long scales add up only the windows that tile time
    /// (every `size / hop`-th), the newest of which started here, and the others reuse
    /// their judgement.
    last_tile: Option<Millis>,
    last_long: [scales::Judged; 2],
}

impl AdaptiveDetector {
    pub fn new(name: impl Into<String>, sensitivity: Sensitivity) -> Self {
        let p = sensitivity.params();
        let short = Floors {
            min_excess: p.min_excess,
            min_ratio: SHORT_MIN_RATIO,
        };
        let long = Floors {
            min_excess: p.min_excess,
            min_ratio: LONG_MIN_RATIO,
        };
        Self {
            name: name.into(),
            min_excess: p.min_excess,
            baseline: Baseline::new(),
            short: Short::new(
                SHORT_SPAN_MS,
                p.reach,
                p.daily,
                p.short_floor,
                short,
                SHORT_FALLBACK.max(p.short_floor),
            ),
            hour: Short::new(
                2 * SHORT_SPAN_MS,
                p.reach,
                p.daily,
                p.short_floor,
                short,
                SHORT_FALLBACK.max(p.short_floor),
            ),
            long: LONG_TAUS.map(|tau| Long::new(tau, p.long_bar, long)),
            first_start: None,
            last_start: None,
            last_tile: None,
            last_long: [scales::Judged::default(); 2],
        }
    }

    fn short_halves(&self, size: Millis) -> f64 {
        self.short.span(size) as f64 / SHORT_SPAN_MS as f64
    }

    /// Whether the window tiles time with the earlier ones the long scales added up; if
    /// so, the time since the last of those.
    fn tile(&mut self, start: Millis, size: Millis, first: Millis) -> Option<Millis> {
        if (start - first).rem_euclid(size) != 0 {
            return None;
        }
        let step = self
            .last_tile
            .map_or(size, |l| (start - l).clamp(1, 7 * DAY_MS));
        self.last_tile = Some(start);
        Some(step)
    }

    /// The cold-start rule on the last half hour; learns the window into the running mean.
    fn cold_start(&mut self, start: Millis, size: Millis, step: Millis, c: f64) -> Verdict {
        let mean = self.baseline.mean();
        let sums = self.short.add(start, size, c, mean);
        let bar = (sums.expected * WARMUP_RATIO)
            .max(sums.expected + WARMUP_EXCESS * self.min_excess * self.short_halves(size));
        let anomalous = !self.baseline.is_empty() && sums.count >= bar;
        let first = self.first_start.unwrap_or(start);
        if let Some(tile_step) = self.tile(start, size, first) {
            for l in &mut self.long {
                l.judge(c, mean, tile_step, true);
            }
        }
        // The bar for this window's own count, given the rest of the half hour. A burst
        // says nothing about the topic's level: it is learned as the mean.
        let high = bar - (sums.count - c);
        let learned = if anomalous { mean } else { c };
        self.baseline.learn(start, learned, step, true);
        Verdict {
            anomalous,
            score: if bar > 0.0 { sums.count / bar } else { 0.0 },
            expected: Some(mean),
            band: Some(Band {
                low: 0.0,
                high: high.max(mean),
            }),
            warming_up: true,
        }
    }
}

impl Detector for AdaptiveDetector {
    fn name(&self) -> &str {
        &self.name
    }

    fn observe(&mut self, window: &WindowCount) -> Verdict {
        let start = to_millis(&window.window_start);
        let size = (to_millis(&window.window_end) - start).max(1);
        // The time a window stands for is the step since the previous one (the hop, for
        // hopping windows; longer across a gap).
        let step = self
            .last_start
            .map_or(size, |l| (start - l).clamp(1, 7 * DAY_MS));
        self.last_start = Some(start);
        let first = *self.first_start.get_or_insert(start);
        let c = window.count as f64;
        if start - first < WARMUP_MS {
            return self.cold_start(start, size, step, c);
        }

        let e = self.baseline.expected(start);
        let share = self.short.share(e, size);
        let sums = self.short.add(start, size, c, e);
        let short = self.short.judge(sums, start, size, step);
        let hour_sums = self.hour.add(start, size, c, e);
        let hour = if size < 2 * SHORT_SPAN_MS {
            self.hour.judge(hour_sums, start, size, step)
        } else {
            scales::Judged::default()
        };
        let capped = c.min(e + LONG_CAP_SD * share);
        if let Some(tile_step) = self.tile(start, size, first) {
            self.last_long = [
                self.long[0].judge(capped, e, tile_step, false),
                self.long[1].judge(capped, e, tile_step, false),
            ];
        }
        let long = self.last_long;

        // A burst barely moves the baseline; a rise that lasts is learned at the level's
        // pace (a third of the way in a day), so a new normal stops paging within days.
        self.baseline
            .learn(start, c.clamp(0.0, e + LEARN_CAP_SD * share), step, false);

        let anomalous = short.anomalous || hour.anomalous || long.iter().any(|l| l.anomalous);
        let score = long
            .iter()
            .map(|l| l.score)
            .fold(short.score.max(hour.score), f64::max)
            .max(0.0);
        let high = self.short.bar_for_window(sums, c, size).max(e);
        Verdict {
            anomalous,
            score,
            expected: Some(e),
            band: Some(Band {
                low: (e - 2.0 * self.short.window_sd(e, size)).max(0.0),
                high,
            }),
            warming_up: false,
        }
    }
}
