//! The default adaptive detector on generated series, at several window sizes.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// The synthetic source's spike shape: a rise over the first 10% of the event, a
/// plateau, and a fall over the last 25%.
fn shape(x: f64) -> f64 {
    if !(0.0..1.0).contains(&x) {
        0.0
    } else if x < 0.1 {
        x / 0.1
    } else if x > 0.75 {
        (1.0 - x) / 0.25
    } else {
        1.0
    }
}

struct Spikes {
    recall: f64,
    false_per_month: f64,
}

/// Two weeks of history, then a month with eight two-hour spikes of `factor`× at least
/// two days apart; a spike is caught if an incident opens within its first hour (its
/// first two windows at 30 minutes).
fn month_with_spikes(seed: u64, size: i64, level: f64, factor: f64) -> Spikes {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5b1e);
    let history = 14 * DAY;
    let month = 30 * DAY;
    let starts: Vec<i64> = (0..8)
        .map(|k| {
            let t = history + k * (month / 8) + rng.random_range(0..DAY);
            t - t.rem_euclid(size)
        })
        .collect();
    let spiking = |t: i64| starts.iter().any(|&s| (s..s + 2 * HOUR).contains(&t));
    let n = ((history + month) / size) as usize;
    let counts = series(seed, size, n, |t| {
        rhythm(t, level, 0.0) * if spiking(t) { factor } else { 1.0 }
    });
    let fired: Vec<i64> = firings(&adaptive("balanced"), size, &counts)
        .into_iter()
        .map(|i| i as i64 * size)
        .collect();
    let within = HOUR.max(2 * size);
    let caught = starts
        .iter()
        .filter(|&&s| fired.iter().any(|&f| (s..s + within).contains(&f)))
        .count();
    let false_alarms = fired
        .iter()
        .filter(|&&f| f >= history && !spiking(f))
        .count();
    Spikes {
        recall: caught as f64 / starts.len() as f64,
        false_per_month: false_alarms as f64,
    }
}

fn spikes_at(size: i64, levels: &[f64], seeds: u64) {
    for &level in levels {
        for factor in [3.0, 10.0] {
            let (mut recall, mut false_alarms) = (0.0, 0.0);
            for seed in 0..seeds {
                let o = month_with_spikes(seed, size, level, factor);
                recall += o.recall / seeds as f64;
                false_alarms += o.false_per_month / seeds as f64;
            }
            let minutes = size / MIN;
            println!(
                "adaptive/balanced, {minutes}-minute windows, {level}/half hour, {factor}x spikes: \
                 caught within an hour {:.0}%, {false_alarms:.1} false incidents per month",
                recall * 100.0
            );
            assert!(
                recall >= 0.95,
                "{minutes}m {level} {factor}x: recall {recall}"
            );
            assert!(
                false_alarms <= 1.0,
                "{minutes}m {level} {factor}x: {false_alarms} false per month"
            );
        }
    }
}

#[test]
fn spikes_of_3x_and_10x_are_caught_within_two_30_minute_windows() {
    spikes_at(30 * MIN, &[20.0, 200.0, 2000.0], 5);
}

#[test]
fn spikes_are_caught_within_an_hour_with_5_minute_windows() {
    spikes_at(5 * MIN, &[20.0, 200.0, 2000.0], 3);
}

#[test]
fn spikes_are_caught_within_an_hour_with_1_minute_windows() {
    spikes_at(MIN, &[200.0], 2);
}

/// Two weeks of history, then a rise to 40× that lasts two days (the synthetic source's
/// shape: 4.8 hours up, a plateau, 12 hours down), then a day of normal.
fn forty_times_for_two_days(size: i64, level: f64, seed: u64) -> Vec<(usize, AlertStatus)> {
    let start = 14 * DAY;
    let n = ((start + 3 * DAY) / size) as usize;
    let counts = series(seed, size, n, |t| {
        rhythm(t, level, 0.0) * (1.0 + 39.0 * shape((t - start) as f64 / (2 * DAY) as f64))
    });
    alerts(&adaptive("balanced"), size, &counts)
}

#[test]
fn a_40x_rise_over_two_days_is_caught_at_its_start_and_pages_once() {
    // Caught when a window ending within an hour of the start fires: the first two
    // windows at 30 minutes, the first twelve at 5.
    for size in [30 * MIN, 5 * MIN, MIN] {
        for level in [20.0, 200.0] {
            for seed in 0..3 {
                let got = forty_times_for_two_days(size, level, seed);
                let start = 14 * DAY;
                let firing: Vec<i64> = got
                    .iter()
                    .filter(|a| a.1 == AlertStatus::Firing)
                    .map(|a| a.0 as i64 * size)
                    .collect();
                let minutes = size / MIN;
                assert_eq!(
                    firing.len(),
                    1,
                    "{minutes}m, {level}/half hour, seed {seed}: one incident, at the rise: {got:?}"
                );
                let detected = firing[0] + size - start;
                println!(
                    "{minutes}-minute windows, {level}/half hour, seed {seed}: a 40x rise over two \
                     days paged once, {} minutes after it began",
                    detected / MIN
                );
                assert!(
                    (0..=HOUR).contains(&detected),
                    "{minutes}m, {level}/half hour, seed {seed}: caught {} minutes after the start",
                    detected / MIN
                );
            }
        }
    }
}

#[test]
fn steady_organic_growth_opens_no_incident() {
    // 5% a week for three months, rhythm and noise included.
    for size in [30 * MIN, 5 * MIN] {
        let n = (90 * DAY / size) as usize;
        let counts = series(7, size, n, |t| rhythm(t, 100.0, 0.05));
        let fired = firings(&adaptive("balanced"), size, &counts);
        assert!(fired.is_empty(), "{}m: incidents at {fired:?}", size / MIN);
    }
}

#[test]
fn near_silent_topics_are_noise_not_incidents() {
    // About one mention a half hour: 3 after a usual 1 happens every day and means nothing.
    let mut sensitive = 0;
    for seed in 0..5 {
        for size in [30 * MIN, 5 * MIN] {
            let counts = series(seed, size, (60 * DAY / size) as usize, |t| {
                rhythm(t, 1.0, 0.0)
            });
            for s in ["balanced", "strict"] {
                let fired = firings(&adaptive(s), size, &counts);
                assert!(
                    fired.is_empty(),
                    "{s} {}m seed {seed}: incidents at {fired:?}",
                    size / MIN
                );
            }
            if size == 30 * MIN {
                assert!(counts.iter().any(|&c| c >= 4), "the series has its moments");
                sensitive += firings(&adaptive("sensitive"), size, &counts).len();
            }
        }
    }
    println!("adaptive/sensitive at ~1 mention a half hour: {sensitive} incidents in 300 days");
    assert!(sensitive <= 1, "{sensitive}");
}
