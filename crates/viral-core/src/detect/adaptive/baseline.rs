//! What a topic's window "should" hold: level × hour-of-day factor × day-of-week factor
//! (UTC), learned robustly, so that the windows of an event do not become the normal
//! they are judged against.

use crate::time::Millis;

pub(super) const HOUR_MS: Millis = 3_600_000;
pub(super) const DAY_MS: Millis = 24 * HOUR_MS;

/// Time constant of the level: three days. Long against a day-long event (it moves a
/// third of the way in a day), short against organic growth (5% a week leaves it ~2%
/// behind).
const LEVEL_TAU_MS: f64 = 3.0 * DAY_MS as f64;
/// Share of the way an hour-of-day factor moves per daily visit (a ~10-day memory), and
/// a weekday factor per weekly visit (~5 weeks). Until a slot has had that many visits
/// it takes their plain average instead, so a new topic's rhythm forms within days.
const HOUR_RATE: f64 = 0.1;
const WEEKDAY_RATE: f64 = 0.2;
/// Factors stay within these bounds of the average (mean 1).
const FACTOR_MIN: f64 = 0.05;
const FACTOR_MAX: f64 = 20.0;

#[derive(Debug, Clone)]
pub(super) struct Baseline {
    level: f64,
    hour: [f64; 24],
    weekday: [f64; 7],
    /// Visits of each slot (in windows' worth of an hour, a day), for the plain average
    /// while a slot is new.
    hour_visits: [f64; 24],
    weekday_visits: [f64; 7],
    /// Windows seen during the cold start, for the running mean.
    warm_n: f64,
}

/// A window's hour-of-day and day-of-week slot (UTC). 1970-01-01 was a Thursday; any
/// fixed origin works, slots only need to repeat.
pub(super) fn slots(start: Millis) -> (usize, usize) {
    let hour = start.div_euclid(HOUR_MS).rem_euclid(24) as usize;
    let day = start.div_euclid(DAY_MS).rem_euclid(7) as usize;
    (hour, day)
}

impl Baseline {
    pub fn new() -> Self {
        Self {
            level: 0.0,
            hour: [1.0; 24],
            weekday: [1.0; 7],
            hour_visits: [0.0; 24],
            weekday_visits: [0.0; 7],
            warm_n: 0.0,
        }
    }

    /// The running mean of the cold start.
    pub fn mean(&self) -> f64 {
        self.level
    }

    /// Whether any window has been learned yet.
    pub fn is_empty(&self) -> bool {
        self.warm_n == 0.0
    }

    /// Expected count of a window starting at `start`.
    pub fn expected(&self, start: Millis) -> f64 {
        let (h, d) = slots(start);
        (self.level * self.hour[h] * self.weekday[d]).max(0.0)
    }

    /// Learn from a window of `step` milliseconds holding `x` (already clipped by the
    /// caller).
    pub fn learn(&mut self, start: Millis, x: f64, step: Millis, warming: bool) {
        let (h, d) = slots(start);
        let season = (self.hour[h] * self.weekday[d]).max(1e-6);
        let deseasonalised = x / season;
        if warming {
            // With little data every window counts the same: a plain running mean.
            self.warm_n += 1.0;
            self.level += (deseasonalised - self.level) / self.warm_n;
        } else {
            let alpha = 1.0 - (-(step as f64) / LEVEL_TAU_MS).exp();
            self.level += alpha * (deseasonalised - self.level);
        }
        if !(self.level > 0.0 && self.level.is_finite()) {
            self.level = self.level.max(0.0);
            return;
        }
        // A visit to an hour slot lasts an hour: spread its move over the windows in it.
        let per_hour = (HOUR_MS as f64 / step.max(1) as f64).max(1.0);
        self.hour_visits[h] += 1.0 / per_hour;
        self.weekday_visits[d] += 1.0 / (24.0 * per_hour);
        let hour_rate = HOUR_RATE.max(1.0 / self.hour_visits[h].max(1.0));
        let day_rate = WEEKDAY_RATE.max(1.0 / self.weekday_visits[d].max(1.0));
        let ratio = x / self.level;
        self.hour[h] += hour_rate / per_hour * (ratio / self.weekday[d] - self.hour[h]);
        self.weekday[d] += day_rate / (24.0 * per_hour) * (ratio / self.hour[h] - self.weekday[d]);
        normalise(&mut self.hour);
        normalise(&mut self.weekday);
    }
}

/// Keep factors at mean 1 (and within bounds), so the level stays the average.
fn normalise(f: &mut [f64]) {
    for v in f.iter_mut() {
        *v = if v.is_finite() {
            v.clamp(FACTOR_MIN, FACTOR_MAX)
        } else {
            1.0
        };
    }
    let mean = f.iter().sum::<f64>() / f.len() as f64;
    if mean > 0.0 {
        for v in f.iter_mut() {
            *v /= mean;
        }
    }
}
