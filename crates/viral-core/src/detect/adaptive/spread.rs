//! How far counts stray from what is expected, and how far is unusual for this topic.
//!
//! [`Spread`] models a sum's variance as count data do: Poisson plus overdispersion,
//! `var = poisson + φ·expected²`, and learns φ as a running *median*: it moves φ so that
//! half of the squared standardised residuals fall below 0.455, the median of a
//! chi-square with one degree of freedom. A mean of squares would be dragged up by the
//! very bursts and sustained rises it is meant to measure; a median ignores them unless
//! they are half of all windows.
//!
//! [`Tail`] remembers each clock hour's largest surprise over four weeks and puts the bar
//! where an exponential tail, fitted between the 75th and 95th percentiles of those hourly
//! peaks, would be crossed about once in three months. Both percentiles sit below the
//! rare events a user wants to hear about, so past incidents do not raise the bar, while
//! a topic whose routine holds big bursts in more than one hour in twenty gets a bar above
//! them. Bursts that come every day but in fewer hours than that are caught by a second
//! rule: the bar is also at least `daily` times the median of the topic's daily peaks —
//! what happens on most days is routine; an event is what happens on few.

use std::collections::VecDeque;

use crate::time::Millis;

/// Median of chi-square(1): the median of a standardised residual squared.
const CHI2_MEDIAN: f64 = 0.455;
/// How fast φ moves: a factor e^±3 per week of windows (a week-long memory).
const PHI_RATE_PER_WEEK: f64 = 3.0;
const WEEK_MS: f64 = 7.0 * 24.0 * 3_600_000.0;
const PHI_START: f64 = 0.05;
const PHI_MIN: f64 = 1e-4;
const PHI_MAX: f64 = 4.0;

#[derive(Debug, Clone)]
pub(super) struct Spread {
    phi: f64,
}

impl Spread {
    pub fn new() -> Self {
        Self { phi: PHI_START }
    }

    /// Variance of a sum expected to be `expected`, whose Poisson part is `poisson`
    /// (equal to `expected` for a plain sum).
    pub fn variance(&self, poisson: f64, expected: f64) -> f64 {
        poisson.max(0.0) + self.phi * expected * expected
    }

    /// Standard deviation, never below 1 mention (a sum expected to be near 0 is not
    /// surprising at 1).
    pub fn sd(&self, poisson: f64, expected: f64) -> f64 {
        self.variance(poisson, expected).max(1.0).sqrt()
    }

    /// Learn from one observation of the sum, standing for `step` milliseconds.
    pub fn learn(&mut self, observed: f64, poisson: f64, expected: f64, step: Millis) {
        if expected < 1.0 {
            // Too little expected to tell overdispersion from Poisson noise.
            return;
        }
        let above = (observed - expected).powi(2) > CHI2_MEDIAN * self.variance(poisson, expected);
        let rate = PHI_RATE_PER_WEEK * (step as f64 / WEEK_MS).min(1.0);
        self.phi *= if above { rate.exp() } else { (-rate).exp() };
        self.phi = self.phi.clamp(PHI_MIN, PHI_MAX);
    }
}

/// Hourly peaks kept: four weeks.
const TAIL_HOURS: usize = 28 * 24;
/// Hourly peaks needed before the tail is trusted (two days).
const TAIL_MIN_HOURS: usize = 48;

/// Daily peaks kept: four weeks.
const TAIL_DAYS: usize = 28;

/// The bar for one time scale's surprise, from that topic's own history of it.
#[derive(Debug, Clone)]
pub(super) struct Tail {
    /// How many (95th − 75th percentile) spans above the 95th percentile the bar is.
    reach: f64,
    /// The bar is at least this many times the median daily peak...
    daily: f64,
    /// ...and never below this.
    floor: f64,
    peaks: VecDeque<f32>,
    hour: Option<Millis>,
    hour_max: f64,
    daily_peaks: VecDeque<f32>,
    day: Option<Millis>,
    day_max: f64,
    bar: Option<f64>,
    /// Reused for the percentiles, so a refit allocates nothing.
    scratch: Vec<f32>,
}

impl Tail {
    pub fn new(reach: f64, daily: f64, floor: f64) -> Self {
        Self {
            reach,
            daily,
            floor,
            peaks: VecDeque::with_capacity(TAIL_HOURS),
            hour: None,
            hour_max: f64::NEG_INFINITY,
            daily_peaks: VecDeque::with_capacity(TAIL_DAYS),
            day: None,
            day_max: f64::NEG_INFINITY,
            bar: None,
            scratch: Vec::with_capacity(TAIL_HOURS),
        }
    }

    /// The bar, once there is enough history for it.
    pub fn bar(&self) -> Option<f64> {
        self.bar
    }

    /// Note the surprise `z` of a window starting at `start`.
    pub fn note(&mut self, start: Millis, z: f64) {
        let hour = start.div_euclid(3_600_000);
        let day = start.div_euclid(24 * 3_600_000);
        let mut changed = false;
        if self.hour != Some(hour) {
            changed |= close(&mut self.peaks, TAIL_HOURS, self.hour, &mut self.hour_max);
            self.hour = Some(hour);
        }
        if self.day != Some(day) {
            changed |= close(
                &mut self.daily_peaks,
                TAIL_DAYS,
                self.day,
                &mut self.day_max,
            );
            self.day = Some(day);
        }
        if changed {
            self.refit();
        }
        if z.is_finite() {
            self.hour_max = self.hour_max.max(z);
            self.day_max = self.day_max.max(z);
        }
    }

    fn refit(&mut self) {
        if self.peaks.len() < TAIL_MIN_HOURS {
            return;
        }
        self.scratch.clear();
        self.scratch.extend(self.peaks.iter().copied());
        let q75 = quantile(&mut self.scratch, 0.75);
        let q95 = quantile(&mut self.scratch, 0.95);
        self.scratch.clear();
        self.scratch.extend(self.daily_peaks.iter().copied());
        let routine = self.daily * quantile(&mut self.scratch, 0.5);
        self.bar = Some(
            (q95 + self.reach * (q95 - q75).max(0.0))
                .max(routine)
                .max(self.floor),
        );
    }
}

/// Push the finished period's peak (if it saw a finite one) into `peaks`, keeping at most
/// `keep`; reset the running maximum. Whether a peak was pushed.
fn close(peaks: &mut VecDeque<f32>, keep: usize, period: Option<Millis>, max: &mut f64) -> bool {
    let pushed = period.is_some() && max.is_finite();
    if pushed {
        if peaks.len() == keep {
            peaks.pop_front();
        }
        peaks.push_back(*max as f32);
    }
    *max = f64::NEG_INFINITY;
    pushed
}

/// The `q` quantile of `values`, interpolated linearly between order statistics (the
/// usual definition). Reorders `values`; linear time, no allocation.
fn quantile(values: &mut [f32], q: f64) -> f64 {
    let Some(last) = values.len().checked_sub(1) else {
        return 0.0;
    };
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let (_, &mut low, above) = values.select_nth_unstable_by(lo, f32::total_cmp);
    let high = above.iter().copied().min_by(f32::total_cmp).unwrap_or(low);
    let frac = pos - lo as f64;
    low as f64 * (1.0 - frac) + high as f64 * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_the_usual_definition() {
        let mut v: Vec<f32> = (0..=10).rev().map(|i| i as f32).collect();
        assert_eq!(quantile(&mut v, 0.5), 5.0);
        assert!((quantile(&mut v, 0.95) - 9.5).abs() < 1e-9);
        assert_eq!(quantile(&mut v, 1.0), 10.0);
        assert_eq!(quantile(&mut [], 0.5), 0.0);
    }

    #[test]
    fn the_bar_sits_above_routine_peaks_and_ignores_rare_ones() {
        let mut t = Tail::new(3.0, 1.5, 4.0);
        assert_eq!(t.bar(), None);
        // 40 days of hourly peaks between 0 and 3, one hour of 50 each day, and one of
        // 500 every tenth day: the daily burst is routine, the other is not.
        for h in 0..40 * 24 {
            let z = match h % 240 {
                12 => 500.0,
                _ if h % 24 == 12 => 50.0,
                _ => (h % 7) as f64 * 0.5,
            };
            t.note(h * 3_600_000, z);
        }
        let bar = t.bar().unwrap();
        assert!((50.0..500.0).contains(&bar), "{bar}");
        // Without the daily burst the bar fits the hourly tail.
        let mut t = Tail::new(3.0, 1.5, 4.0);
        for h in 0..40 * 24 {
            t.note(
                h * 3_600_000,
                if h % 240 == 12 { 500.0 } else { (h % 7) as f64 },
            );
        }
        let bar = t.bar().unwrap();
        assert!((6.0..20.0).contains(&bar), "{bar}");
        // A quiet topic gets the floor.
        let mut t = Tail::new(3.0, 1.5, 4.0);
        for h in 0..3 * 24 {
            t.note(h * 3_600_000, 0.1);
        }
        assert_eq!(t.bar(), Some(4.0));
    }

    #[test]
    fn phi_tracks_the_median_and_ignores_bursts() {
        let mut s = Spread::new();
        // Residuals of ±0.2·e (φ ≈ 0.04/0.455 ≈ 0.088 puts them at the median), with a
        // tenfold burst one window in five.
        for i in 0..20_000 {
            let e = 100.0;
            let x = if i % 5 == 0 {
                1000.0
            } else if i % 2 == 0 {
                120.0
            } else {
                80.0
            };
            s.learn(x, e, e, 30 * 60_000);
        }
        // The median squared residual is 400 = 0.455·(100 + φ·10⁴) → φ ≈ 0.078.
        assert!((0.05..0.12).contains(&s.phi), "{}", s.phi);
    }
}
