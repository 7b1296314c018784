//! How the detectors behave in the situations their design is about.

use super::*;

const HALF_HOUR: i64 = 30 * MIN;

#[test]
fn cold_start_applies_its_stated_rule_and_says_so() {
    let mut d = AdaptiveDetector::new("adaptive", Sensitivity::Balanced);
    let mut verdicts = Vec::new();
    // A brand-new topic at ~50 a half hour: a 3× window is not enough without a rhythm
    // to compare with, a 10× one is.
    let counts = [50, 48, 55, 150, 52, 49, 500, 51];
    for (i, &c) in counts.iter().enumerate() {
        verdicts.push(d.observe(&window(i, HALF_HOUR, c)));
    }
    assert!(verdicts.iter().all(|v| v.warming_up));
    let fired: Vec<usize> = (0..counts.len())
        .filter(|&i| verdicts[i].anomalous)
        .collect();
    assert_eq!(fired, [6]);
    // After a day of history the real rule takes over.
    for i in counts.len()..49 {
        d.observe(&window(i, HALF_HOUR, 50));
    }
    let v = d.observe(&window(49, HALF_HOUR, 50));
    assert!(!v.warming_up && !v.anomalous);
    let e = v.expected.unwrap();
    assert!((40.0..60.0).contains(&e), "expected {e}");
    let band = v.band.unwrap();
    assert!(band.low < e && e < band.high, "{band:?}");
}

#[test]
fn the_cold_start_rule_judges_half_hours_at_any_window_size() {
    // Five-minute windows of 8 (48 a half hour); 70 a window for half an hour (nearly 9×)
    // fires, while one odd window of 30 (nearly 4×) does not.
    let mut counts = vec![8; 40];
    counts[10] = 30;
    for c in &mut counts[25..31] {
        *c = 70;
    }
    let fired = firings(&DetectorConfig::adaptive(), 5 * MIN, &counts);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!((25..31).contains(&fired[0]), "{fired:?}");
}

#[test]
fn a_lasting_step_up_resolves_once_it_is_the_new_normal() {
    // Three weeks at 100, then 4× for good.
    let step = 21 * DAY;
    let counts = series(3, HALF_HOUR, (35 * DAY / HALF_HOUR) as usize, |t| {
        rhythm(t, if t < step { 100.0 } else { 400.0 }, 0.0)
    });
    let got = alerts(&DetectorConfig::adaptive(), HALF_HOUR, &counts);
    let at = (step / HALF_HOUR) as usize;
    println!(
        "a lasting 4x step: {:?} (days after the step)",
        got.iter()
            .map(|&(i, s)| ((i as f64 - at as f64) / 48.0, s))
            .collect::<Vec<_>>()
    );
    assert!(
        matches!(got.first(), Some(&(i, AlertStatus::Firing)) if (at..at + 2).contains(&i)),
        "{got:?}"
    );
    assert!(
        matches!(got.last(), Some(&(i, AlertStatus::Resolved)) if i < at + (7 * DAY / HALF_HOUR) as usize),
        "still firing a week later: {got:?}"
    );
    assert_eq!(got.len(), 2, "one incident: {got:?}");
}

/// Four weeks of a topic at `level` a half hour that bursts to `routine`× for half an
/// hour every afternoon, then a week with one burst of `big`× on its fourth day.
fn routine_bursts(size: i64, routine: f64, big: f64) -> (Vec<u64>, i64) {
    let weeks = 4 * 7 * DAY;
    let big_at = weeks + 3 * DAY + 15 * HOUR;
    let counts = series(11, size, ((weeks + 7 * DAY) / size) as usize, |t| {
        let base = rhythm(t, 100.0, 0.0);
        let afternoon = t.rem_euclid(DAY);
        let burst = (14 * HOUR..14 * HOUR + HALF_HOUR).contains(&afternoon);
        if (big_at..big_at + HALF_HOUR).contains(&t) {
            base * big
        } else if burst {
            base * routine
        } else {
            base
        }
    });
    (counts, big_at)
}

#[test]
fn routine_bursts_stop_paging_and_bigger_ones_still_page() {
    for size in [HALF_HOUR, 5 * MIN] {
        let (counts, big_at) = routine_bursts(size, 6.0, 30.0);
        let fired = firings(&DetectorConfig::adaptive(), size, &counts);
        let later: Vec<i64> = fired
            .iter()
            .map(|&i| i as i64 * size)
            .filter(|&t| t >= 14 * DAY)
            .collect();
        println!(
            "{}-minute windows, a daily 6x burst: incidents on days {:?}",
            size / MIN,
            fired
                .iter()
                .map(|&i| i as i64 * size / DAY)
                .collect::<Vec<_>>()
        );
        // Learned within two weeks: afterwards only the 30× burst pages.
        assert_eq!(later.len(), 1, "{}m: {later:?}", size / MIN);
        assert!((big_at..big_at + HOUR).contains(&later[0]), "{later:?}");
    }
}

#[test]
fn a_sustained_rise_no_window_shows_is_caught() {
    // A quiet topic (~15 a half hour) at 2.5× for eight hours: no single half hour is a
    // spike against its noise, the hours together are.
    for size in [HALF_HOUR, 5 * MIN] {
        let rise = 21 * DAY + 13 * HOUR;
        let counts = series(5, size, ((rise + 2 * DAY) / size) as usize, |t| {
            rhythm(t, 15.0, 0.0)
                * if (rise..rise + 8 * HOUR).contains(&t) {
                    2.5
                } else {
                    1.0
                }
        });
        let got = alerts(&DetectorConfig::adaptive(), size, &counts);
        let fired: Vec<i64> = got
            .iter()
            .filter(|a| a.1 == AlertStatus::Firing)
            .map(|a| a.0 as i64 * size)
            .collect();
        assert_eq!(fired.len(), 1, "{}m: {got:?}", size / MIN);
        assert!(
            (rise..rise + 8 * HOUR).contains(&fired[0]),
            "{}m: caught {} h after the rise began",
            size / MIN,
            (fired[0] - rise) / HOUR
        );
    }
}

#[test]
fn an_event_in_waves_is_one_incident() {
    // Three 10× half hours, two hours apart: one page, and one resolution once the topic
    // has been normal for three hours (the last hour still holds the last wave for half
    // an hour after it).
    let day = 14 * DAY + 12 * HOUR;
    let waves = [day, day + 2 * HOUR, day + 4 * HOUR];
    let counts = series(9, HALF_HOUR, ((day + DAY) / HALF_HOUR) as usize, |t| {
        rhythm(t, 100.0, 0.0)
            * if waves.iter().any(|&w| (w..w + HALF_HOUR).contains(&t)) {
                10.0
            } else {
                1.0
            }
    });
    let got = alerts(&DetectorConfig::adaptive(), HALF_HOUR, &counts);
    let i = |t: i64| (t / HALF_HOUR) as usize;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], (i(day), AlertStatus::Firing));
    assert_eq!(got[1].1, AlertStatus::Resolved);
    assert!(
        (i(day + 7 * HOUR)..=i(day + 8 * HOUR)).contains(&got[1].0),
        "{got:?}"
    );
}

#[test]
fn hopping_windows_count_each_mention_once_and_page_once() {
    // 30-minute windows hopping every 10 minutes, from a series of 10-minute counts: a
    // 10× half hour after two weeks.
    let tenth = 10 * MIN;
    let spike = 14 * DAY + 15 * HOUR;
    let base = series(4, tenth, (15 * DAY / tenth) as usize, |t| {
        rhythm(t, 100.0, 0.0)
            * if (spike..spike + HALF_HOUR).contains(&t) {
                10.0
            } else {
                1.0
            }
    });
    let mut judge = Judge::new(vec![DetectorConfig::adaptive()]).unwrap();
    let mut got = Vec::new();
    for i in 2..base.len() {
        let w = WindowCount {
            topic: "t".into(),
            window_start: from_millis((i as i64 - 2) * tenth),
            window_end: from_millis((i as i64 + 1) * tenth),
            count: base[i - 2] + base[i - 1] + base[i],
            samples: vec![],
        };
        got.extend(
            judge
                .observe(&w)
                .into_iter()
                .map(|a| (a.window_start, a.status)),
        );
    }
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].1, AlertStatus::Firing);
    let at = crate::time::to_millis(&got[0].0);
    assert!(
        (spike - 2 * tenth..spike + HALF_HOUR).contains(&at),
        "{got:?}"
    );
}

#[test]
fn burst_fires_on_a_sudden_rise_and_forgets_quickly() {
    let mut d = BurstDetector::new("burst", 4.0, 20);
    let counts = [5, 6, 4, 5, 40, 45, 42, 44, 41, 43, 40, 44, 3];
    let fired: Vec<usize> = counts
        .iter()
        .enumerate()
        .filter(|&(i, &c)| d.observe(&window(i, HALF_HOUR, c)).anomalous)
        .map(|(i, _)| i)
        .collect();
    // Fires at the jump; it measures change, so the next window — already within 4× of
    // a history that holds the jump — is normal again.
    assert_eq!(fired, [4]);
    // Small numbers never burst, whatever the ratio.
    let mut d = BurstDetector::new("burst", 4.0, 20);
    for (i, c) in [1, 0, 1, 12, 1].into_iter().enumerate() {
        assert!(!d.observe(&window(i, HALF_HOUR, c)).anomalous);
    }
}

#[test]
fn burst_judges_half_hours_whatever_the_window_size() {
    // The same half-hourly series as above, as six 5-minute windows per half hour: the
    // same burst, found in the half hour it starts.
    let half_hours = [5u64, 6, 4, 5, 40, 45, 42, 44];
    let counts: Vec<u64> = half_hours
        .iter()
        .flat_map(|&c| (0..6).map(move |k| c / 6 + u64::from(k < c % 6)))
        .collect();
    let mut d = BurstDetector::new("burst", 4.0, 20);
    let fired: Vec<usize> = counts
        .iter()
        .enumerate()
        .filter(|&(i, &c)| d.observe(&window(i, 5 * MIN, c)).anomalous)
        .map(|(i, _)| i / 6)
        .collect();
    // It fires as the rolling half hour fills with the new level and stops once the
    // rise is in its history, half an hour later.
    assert_eq!(fired.first(), Some(&4), "{fired:?}");
    assert!(fired.iter().all(|&h| h <= 5), "{fired:?}");
}
