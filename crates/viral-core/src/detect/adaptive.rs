//! The detector that needs no numbers: it learns each topic's level and its daily and
//! weekly rhythm as windows go by, and fires when a count is far above what that rhythm
//! predicts — far in the sense of count data, where 3 mentions after a usual 1 is noise
//! and 3,000 after a usual 1,000 is news.
//!
//! Model: expected = level × hour-of-day factor × day-of-week factor (UTC). The level is
//! an exponentially weighted average with a one-day time constant, so it follows organic
//! growth (5% a week moves it 0.7% a day) but not a two-hour spike; the factors are
//! averages of count/level per slot, kept at mean 1. The spread is Poisson plus a learned
//! overdispersion (variance = e + φ·e²), because real mention counts are burstier than
//! Poisson. A window is anomalous when its count is above the band `e + z·sd` *and* at
//! least `min_ratio × e` *and* at least `min_excess` mentions above `e`: the first is
//! statistics, the other two keep tiny and huge topics from alerting on what nobody would
//! call a spike. Anomalous counts are learned clipped to the band, so a spike barely
//! moves the baseline, while a lasting step up is absorbed within a day or two.
//!
//! Cold start: until the topic has a day of history there is no rhythm to compare with;
//! the detector then fires only on a count at least 5× the running mean and 3×
//! `min_excess` (30 mentions at `balanced`), and says so in [`Verdict::warming_up`].

use super::{Detector, Verdict};
use crate::model::{Band, WindowCount};
use crate::time::{to_millis, Millis};

const HOUR_MS: Millis = 3_600_000;
const DAY_MS: Millis = 24 * HOUR_MS;
/// Time constant of the level: long against a spike, short against a trend.
const LEVEL_TAU_MS: f64 = DAY_MS as f64;
/// History before the rhythm is trusted.
const WARMUP_MS: Millis = DAY_MS;
/// The cold-start rule: a count this many times the running mean...
const WARMUP_RATIO: f64 = 5.0;
/// ...and this many times `min_excess` above it.
const WARMUP_EXCESS: f64 = 3.0;

/// How readily the detector fires: `balanced` unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sensitivity {
    Sensitive,
    #[default]
    Balanced,
    Strict,
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

    /// (z, min_ratio, min_excess).
    fn params(self) -> (f64, f64, f64) {
        match self {
            Sensitivity::Sensitive => (3.0, 1.5, 8.0),
            Sensitivity::Balanced => (4.0, 2.0, 10.0),
            Sensitivity::Strict => (6.0, 3.0, 25.0),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct AdaptiveDetector {
    name: String,
    z: f64,
    min_ratio: f64,
    min_excess: f64,
    level: f64,
    hour: [f64; 24],
    weekday: [f64; 7],
    /// Overdispersion φ in variance = e + φ·e².
    phi: f64,
    first_start: Option<Millis>,
    last_start: Option<Millis>,
    /// Windows seen during warm-up, for the running mean.
    warm_n: f64,
}

impl AdaptiveDetector {
    pub fn new(name: impl Into<String>, sensitivity: Sensitivity) -> Self {
        let (z, min_ratio, min_excess) = sensitivity.params();
        Self {
            name: name.into(),
            z,
            min_ratio,
            min_excess,
            level: 0.0,
            hour: [1.0; 24],
            weekday: [1.0; 7],
            phi: 0.05,
            first_start: None,
            last_start: None,
            warm_n: 0.0,
        }
    }

    fn slots(start: Millis) -> (usize, usize) {
        let hour = start.div_euclid(HOUR_MS).rem_euclid(24) as usize;
        // 1970-01-01 was a Thursday; any fixed origin works, slots only need to repeat.
        let day = start.div_euclid(DAY_MS).rem_euclid(7) as usize;
        (hour, day)
    }

    /// The count at which a window with expectation `e` becomes anomalous.
    fn bar(&self, e: f64) -> f64 {
        let sd = (e + self.phi * e * e).sqrt();
        (e + self.z * sd)
            .max(e * self.min_ratio)
            .max(e + self.min_excess)
    }

    fn learn(&mut self, x: f64, hour: usize, day: usize, step: Millis, warming: bool) {
        let season = self.hour[hour] * self.weekday[day];
        let deseasonalised = x / season.max(1e-6);
        if warming {
            // A plain running mean: with little data, every window counts the same.
            self.warm_n += 1.0;
            self.level += (deseasonalised - self.level) / self.warm_n;
        } else {
            let alpha = 1.0 - (-(step as f64) / LEVEL_TAU_MS).exp();
            self.level += alpha * (deseasonalised - self.level);
        }
        if self.level > 0.0 {
            // Each hour slot is visited once a day, each weekday once a week; a visit
            // moves the factor a fifth of the way, spread over the windows of the visit.
            let per_hour = (HOUR_MS as f64 / step as f64).max(1.0);
            let a_hour = 0.2 / per_hour;
            let a_day = 0.2 / (24.0 * per_hour);
            let ratio = x / self.level;
            self.hour[hour] += a_hour * (ratio / self.weekday[day] - self.hour[hour]);
            self.weekday[day] += a_day * (ratio / self.hour[hour] - self.weekday[day]);
            normalise(&mut self.hour);
            normalise(&mut self.weekday);
        }
    }
}

/// Keep factors at mean 1 (and positive), so the level stays the average.
fn normalise(f: &mut [f64]) {
    for v in f.iter_mut() {
        *v = v.clamp(0.05, 20.0);
    }
    let mean = f.iter().sum::<f64>() / f.len() as f64;
    if mean > 0.0 {
        for v in f.iter_mut() {
            *v /= mean;
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
        let warming = start - first < WARMUP_MS;
        let (hour, day) = Self::slots(start);
        let c = window.count as f64;

        if warming {
            let mean = self.level;
            let bar = (mean * WARMUP_RATIO).max(mean + WARMUP_EXCESS * self.min_excess);
            let anomalous = self.warm_n > 0.0 && c >= bar;
            let learned = if anomalous { bar } else { c };
            self.learn(learned, hour, day, step, true);
            return Verdict {
                anomalous,
                score: if bar > 0.0 { c / bar } else { 0.0 },
                expected: Some(mean),
                band: Some(Band {
                    low: 0.0,
                    high: bar,
                }),
                warming_up: true,
            };
        }

        let e = (self.level * self.hour[hour] * self.weekday[day]).max(0.0);
        let bar = self.bar(e);
        let low = (e - self.z * (e + self.phi * e * e).sqrt()).max(0.0);
        let anomalous = c >= bar && c > e;
        let score = if bar > e { (c - e) / (bar - e) } else { 0.0 };
        // Learn the spread from normal windows only, clipped so one odd window cannot
        // blow it up: φ estimates (excess variance) / e².
        if !anomalous && e >= 1.0 {
            let excess = ((c - e).powi(2) - e) / (e * e);
            self.phi += 0.02 * (excess.clamp(0.0, 1.0) - self.phi);
        }
        let learned = if anomalous { bar } else { c };
        self.learn(learned, hour, day, step, false);
        Verdict {
            anomalous,
            score,
            expected: Some(e),
            band: Some(Band { low, high: bar }),
            warming_up: false,
        }
    }
}
