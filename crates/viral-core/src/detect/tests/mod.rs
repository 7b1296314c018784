//! Detectors on generated series with a known truth: topics with a daily and weekly
//! rhythm and bursty (negative-binomial) counts, with events injected at known times, at
//! several window sizes. The figures these tests print (`cargo test -p viral-core detect
//! -- --nocapture`) are the ones quoted in docs/DETECTION.md.
//!
//! - `generated`: spikes, a two-day 40× event, organic growth and near-silence.
//! - `behaviour`: cold start, step changes, routine bursts, sustained rises, waves,
//!   hopping windows, and the burst detector.

mod behaviour;
mod generated;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Poisson};

use super::*;
use crate::model::{AlertStatus, WindowCount};
use crate::time::from_millis;

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// Expected mentions per half hour at time `t` (ms) for a topic of average `level` per
/// half hour: busy afternoons, quiet nights, quieter mid-weeks, and `growth` per week
/// compounded.
fn rhythm(t: i64, level: f64, growth: f64) -> f64 {
    let hour = (t.rem_euclid(DAY)) as f64 / HOUR as f64;
    let day = t.div_euclid(DAY).rem_euclid(7);
    let daily = 1.0 + 0.6 * ((hour - 9.0) / 24.0 * std::f64::consts::TAU).sin();
    let weekly = if day == 2 || day == 3 { 0.7 } else { 1.0 };
    let weeks = t as f64 / (7 * DAY) as f64;
    level * daily * weekly * (1.0 + growth).powf(weeks)
}

/// Negative-binomial counts (Poisson with a gamma-distributed rate, 15% extra spread):
/// burstier than Poisson, as real mention counts are.
fn draw(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    let shape = 1.0 / 0.02;
    let rate = Gamma::new(shape, mean / shape).unwrap().sample(rng);
    if rate <= 0.0 {
        return 0;
    }
    Poisson::new(rate).unwrap().sample(rng) as u64
}

/// A generated series: window `i` starts at `i · size` and holds a draw around
/// `mean(t)` mentions per half hour, scaled to the window.
fn series(seed: u64, size: i64, n: usize, mean: impl Fn(i64) -> f64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per_half_hour = size as f64 / (30 * MIN) as f64;
    (0..n)
        .map(|i| draw(&mut rng, mean(i as i64 * size) * per_half_hour))
        .collect()
}

pub(in crate::detect) fn window(i: usize, size: i64, count: u64) -> WindowCount {
    WindowCount {
        topic: "t".into(),
        window_start: from_millis(i as i64 * size),
        window_end: from_millis((i as i64 + 1) * size),
        count,
        samples: vec![],
    }
}

/// Alerts a detector entry raises on a series of windows of `size`, as (index, status).
fn alerts(cfg: &DetectorConfig, size: i64, counts: &[u64]) -> Vec<(usize, AlertStatus)> {
    let mut judge = Judge::new(vec![cfg.clone()]).unwrap();
    counts
        .iter()
        .enumerate()
        .flat_map(|(i, &c)| {
            judge
                .observe(&window(i, size, c))
                .into_iter()
                .map(move |a| (i, a.status))
        })
        .collect()
}

/// Indexes of the windows where incidents opened.
fn firings(cfg: &DetectorConfig, size: i64, counts: &[u64]) -> Vec<usize> {
    alerts(cfg, size, counts)
        .into_iter()
        .filter(|a| a.1 == AlertStatus::Firing)
        .map(|a| a.0)
        .collect()
}

fn adaptive(sensitivity: &str) -> DetectorConfig {
    DetectorConfig::Adaptive {
        sensitivity: Some(sensitivity.into()),
        name: None,
        resolve_after: None,
    }
}
