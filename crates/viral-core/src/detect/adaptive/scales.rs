//! The time scales the adaptive detector judges: a burst within half an hour or an hour,
//! and rises sustained over hours and over a day.
//!
//! Each scale compares an observed sum with its expected sum and turns the difference
//! into a surprise `z = (observed − expected) / sd`, with its own learned spread (sums
//! over longer spans stray less, relatively, than single windows).
//!
//! - The short scales add up the last half hour and the last hour (or one window, if
//!   windows are longer), so a 5-minute and a 30-minute window see the same bursts, and
//!   two busy half hours on a quiet topic count together. Their bars come from the
//!   topic's own history of surprise ([`Tail`]): routine bursts do not page.
//! - The long scales add up every window with exponentially fading weights (time
//!   constants 3 and 12 hours: they answer "has it been high since this morning?" and
//!   "since yesterday?"), which needs no memory of past windows. Each window adds at most
//!   4 sd above its expectation, so one burst cannot pass for a sustained rise; their bar
//!   is fixed, because their spread is learned from the same sums and a sustained rise is
//!   rare on any topic.

use super::spread::{Spread, Tail};
use crate::detect::recent::{Recent, Sums, SHORT_SPAN_MS};
use crate::time::Millis;

/// A scale's judgement of the current window.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Judged {
    pub z: f64,
    /// `z / bar` (0 without a bar yet).
    pub score: f64,
    pub anomalous: bool,
}

/// What a scale needs to know besides the window itself.
#[derive(Debug, Clone, Copy)]
pub(super) struct Floors {
    /// Mentions above expected, per half hour of span.
    pub min_excess: f64,
    /// Observed / expected.
    pub min_ratio: f64,
}

impl Floors {
    fn pass(&self, observed: f64, expected: f64, span: Millis) -> bool {
        let halves = span as f64 / SHORT_SPAN_MS as f64;
        observed - expected >= self.min_excess * halves && observed >= self.min_ratio * expected
    }
}

/// Half an hour of windows, judged against the topic's own tail of surprise.
#[derive(Debug, Clone)]
pub(super) struct Short {
    /// The span judged (at least one window).
    span: Millis,
    recent: Recent,
    spread: Spread,
    pub tail: Tail,
    floors: Floors,
    /// The bar before the tail has two days of history.
    fallback: f64,
}

impl Short {
    pub fn new(
        span: Millis,
        reach: f64,
        daily: f64,
        floor: f64,
        floors: Floors,
        fallback: f64,
    ) -> Self {
        Self {
            span,
            // Windows longer than the span still need the newest one.
            recent: Recent::new(span * 2),
            spread: Spread::new(),
            tail: Tail::new(reach, daily, floor),
            floors,
            fallback,
        }
    }

    pub fn span(&self, size: Millis) -> Millis {
        self.span.max(size)
    }

    /// Remember the window and sum the span that ends with it.
    pub fn add(&mut self, start: Millis, size: Millis, count: f64, expected: f64) -> Sums {
        self.recent.push(crate::detect::recent::Entry {
            start,
            count,
            expected,
        });
        self.recent.sums(size, 0, self.span(size))
    }

    /// Judge the span's sums (after warm-up) and learn from them.
    pub fn judge(&mut self, s: Sums, start: Millis, size: Millis, step: Millis) -> Judged {
        let sd = self.spread.sd(s.expected, s.expected);
        let z = (s.count - s.expected) / sd;
        let bar = self.tail.bar().unwrap_or(self.fallback);
        let anomalous = z >= bar && self.floors.pass(s.count, s.expected, self.span(size));
        self.spread.learn(s.count, s.expected, s.expected, step);
        self.tail.note(start, z);
        Judged {
            z,
            score: z / bar,
            anomalous,
        }
    }

    /// Windows per span (at least 1).
    fn windows(&self, size: Millis) -> f64 {
        (self.span(size) as f64 / size.max(1) as f64).max(1.0)
    }

    /// One window's share of the span's standard deviation, for a window expected to
    /// hold `e`: a burst spread over the span's windows adds up to `k` shares, so caps of
    /// `k` shares per window allow the same excess per half hour at every window size.
    pub fn share(&self, e: f64, size: Millis) -> f64 {
        let k = self.windows(size);
        self.spread.sd(e * k, e * k) / k
    }

    /// The standard deviation of one window expected to hold `e`, under the span's
    /// spread: for drawing the band.
    pub fn window_sd(&self, e: f64, size: Millis) -> f64 {
        self.share(e, size) * self.windows(size).sqrt()
    }

    /// The count the newest window would have needed to be judged anomalous, given the
    /// other windows of its span: the band's upper edge.
    pub fn bar_for_window(&self, s: Sums, count: f64, size: Millis) -> f64 {
        let bar = self.tail.bar().unwrap_or(self.fallback);
        let halves = self.span(size) as f64 / SHORT_SPAN_MS as f64;
        let needed = (s.expected + bar * self.spread.sd(s.expected, s.expected))
            .max(s.expected + self.floors.min_excess * halves)
            .max(s.expected * self.floors.min_ratio);
        needed - (s.count - count)
    }
}

/// An exponentially weighted sum over hours, for sustained rises.
#[derive(Debug, Clone)]
pub(super) struct Long {
    tau: Millis,
    bar: f64,
    floors: Floors,
    observed: f64,
    expected: f64,
    /// Σ weight² · expected: the Poisson part of the sum's variance.
    poisson: f64,
    spread: Spread,
}

impl Long {
    pub fn new(tau: Millis, bar: f64, floors: Floors) -> Self {
        Self {
            tau,
            bar,
            floors,
            observed: 0.0,
            expected: 0.0,
            poisson: 0.0,
            spread: Spread::new(),
        }
    }

    /// Add a window (its count already capped by the caller) and judge the sum.
    pub fn judge(&mut self, capped: f64, expected: f64, step: Millis, warming: bool) -> Judged {
        let decay = (-(step as f64) / self.tau as f64).exp();
        self.observed = self.observed * decay + capped;
        self.expected = self.expected * decay + expected;
        self.poisson = self.poisson * decay * decay + expected;
        let sd = self.spread.sd(self.poisson, self.expected);
        let z = (self.observed - self.expected) / sd;
        if warming {
            return Judged {
                z,
                score: 0.0,
                anomalous: false,
            };
        }
        // The sum stands for about `tau` of windows: its floors are those of a `tau` span.
        let anomalous = z >= self.bar && self.floors.pass(self.observed, self.expected, self.tau);
        self.spread
            .learn(self.observed, self.poisson, self.expected, step);
        Judged {
            z,
            score: z / self.bar,
            anomalous,
        }
    }
}
