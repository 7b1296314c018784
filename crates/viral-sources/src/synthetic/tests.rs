//! Tests of the synthetic source: the generator is deterministic, has the promised shape
//! (rhythm, spike, noise, duplicates, late posts), its texts really match under the
//! pipeline's matcher, it streams, and the live source sends what `generate` yields.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use viral_core::time::{to_millis, Millis};
use viral_core::{Post, TopicMatcher, TopicSpec};
use viral_runtime::clock::{Clock, SimClock};

use super::texts::Texts;
use super::*;

const START: Millis = 1_600_992_000_000; // 2020-09-25T00:00:00Z
const HOUR: Millis = 3_600_000;

pub(super) fn topics() -> Vec<(String, Vec<String>)> {
    vec![
        (
            "ocean-spray".into(),
            vec!["ocean spray".into(), "oceanspray".into()],
        ),
        (
            "cranberry".into(),
            vec!["cranberry".into(), "cranberries".into()],
        ),
    ]
}

pub(super) fn matcher(topics: &[(String, Vec<String>)]) -> TopicMatcher {
    let specs: Vec<TopicSpec> = topics
        .iter()
        .map(|(name, terms)| TopicSpec {
            name: name.clone(),
            terms: terms.clone(),
        })
        .collect();
    TopicMatcher::new(&specs).unwrap()
}

/// The default configuration with one edit.
fn with(edit: impl FnOnce(&mut SyntheticConfig)) -> SyntheticConfig {
    let mut config = SyntheticConfig::default();
    edit(&mut config);
    config
}

fn posts(config: &SyntheticConfig, hours: Millis) -> Vec<Post> {
    generate(config, &topics(), START, hours * HOUR).collect()
}

#[test]
fn the_same_seed_gives_the_same_posts_and_another_seed_does_not() {
    let config = SyntheticConfig::default();
    let a = posts(&config, 1);
    assert!(a.len() > 500, "only {} posts in an hour", a.len());
    assert_eq!(a, posts(&config, 1));
    let other = SyntheticConfig { seed: 7, ..config };
    assert_ne!(a, posts(&other, 1));
}

#[test]
fn the_spike_topic_goes_viral_on_schedule_and_only_it() {
    let config = SyntheticConfig::default(); // spike from 6h to 8h after the start
    let m = matcher(&topics());
    let mut per_hour: HashMap<(&str, Millis), u64> = HashMap::new();
    for p in &posts(&config, 10) {
        let hour = (p.event_time() - START).div_euclid(HOUR);
        for t in m.find(&p.text) {
            *per_hour.entry((t, hour)).or_default() += 1;
        }
    }
    let count = |topic: &'static str, h: Millis| per_hour.get(&(topic, h)).copied().unwrap_or(0);
    let before = (0..6).map(|h| count("ocean-spray", h)).sum::<u64>() / 6;
    assert!(before > 100, "usual hourly volume {before}");
    for h in [6, 7] {
        let during = count("ocean-spray", h);
        assert!(during >= 5 * before, "hour {h}: {during} vs usual {before}");
    }
    assert!(
        count("ocean-spray", 9) < 3 * before,
        "the spike is over by hour 9"
    );
    let cranberry_before = (0..6).map(|h| count("cranberry", h)).sum::<u64>() / 6;
    assert!(
        count("cranberry", 7) < 3 * cranberry_before,
        "only the spike topic spikes"
    );
}

#[test]
fn spike_topic_selects_which_topic_spikes() {
    let config = with(|c| {
        c.spike_topic = Some("cranberry".into());
        c.spike_after = std::time::Duration::from_secs(3600)
    });
    let m = matcher(&topics());
    let (mut ocean, mut cranberry) = (0u64, 0u64);
    // Hour 1 is the spike's plateau.
    for p in posts(&config, 2)
        .iter()
        .filter(|p| p.event_time() >= START + HOUR)
    {
        for t in m.find(&p.text) {
            match t {
                "ocean-spray" => ocean += 1,
                _ => cranberry += 1,
            }
        }
    }
    assert!(
        cranberry > 5 * ocean,
        "cranberry {cranberry}, ocean-spray {ocean}"
    );
}

#[test]
fn the_daily_rhythm_peaks_in_the_afternoon() {
    let config = with(|c| c.spike_duration = std::time::Duration::ZERO);
    let all = posts(&config, 24);
    let in_hour = |h: Millis| {
        all.iter()
            .filter(|p| (p.event_time() - START).div_euclid(HOUR) == h)
            .count()
    };
    // ±50% around the mean: ~1.5× at 15:00 UTC, ~0.5× at 03:00 UTC.
    assert!(
        in_hour(15) > 2 * in_hour(3),
        "{} vs {}",
        in_hour(15),
        in_hour(3)
    );
}

#[test]
fn noise_is_present_and_matches_no_topic() {
    let m = matcher(&topics());
    let all = posts(&SyntheticConfig::default(), 2);
    let noise = all.iter().filter(|p| m.find(&p.text).is_empty()).count();
    // About 200 noise posts per hour against 800 topic posts.
    assert!(
        noise > 200 && noise < all.len() / 2,
        "{noise} of {}",
        all.len()
    );
    let texts = Texts::new(&topics());
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..500 {
        let text = texts.noise_text(&mut rng);
        assert!(!text.is_empty());
        assert!(m.find(&text).is_empty(), "noise {text:?} matches");
    }
}

#[test]
fn a_topic_without_usable_terms_gets_no_posts_and_nothing_panics() {
    let topics = vec![
        ("empty".to_owned(), vec![]),
        ("punct".to_owned(), vec!["?!".to_owned()]),
        ("ok".to_owned(), vec!["cranberry".to_owned()]),
    ];
    let all: Vec<Post> = generate(&SyntheticConfig::default(), &topics, START, HOUR).collect();
    assert!(all.iter().any(|p| p.text.contains("ranberr")));
    assert!(all
        .iter()
        .all(|p| !p.text.contains("?!") && !p.text.is_empty()));
    // No topics at all: noise only.
    let noise: Vec<Post> = generate(&SyntheticConfig::default(), &[], START, HOUR).collect();
    assert!(!noise.is_empty());
}

#[test]
fn duplicates_are_the_same_record_and_ids_are_otherwise_unique() {
    let config = with(|c| c.duplicate_ratio = 0.2);
    let all = posts(&config, 1);
    let mut by_id: HashMap<&str, Vec<&Post>> = HashMap::new();
    for p in &all {
        by_id.entry(p.id.as_str()).or_default().push(p);
    }
    let dups: Vec<&Vec<&Post>> = by_id.values().filter(|v| v.len() > 1).collect();
    assert!(
        dups.len() > all.len() / 10,
        "{} duplicated of {}",
        dups.len(),
        all.len()
    );
    for copies in dups {
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[0], copies[1]);
    }
    let p = all[0].clone();
    let n = p.id.strip_prefix("synthetic:").unwrap();
    assert_eq!(
        p.url.as_deref(),
        Some(format!("https://example.com/synthetic/{n}").as_str())
    );
    assert_eq!(
        (p.source.as_str(), p.lang.as_deref()),
        ("synthetic", Some("en"))
    );
    assert!(p.author.as_deref().unwrap().starts_with("synthetic:user"));
}

#[test]
fn posts_arrive_in_event_time_order_except_the_late_ones() {
    let config = with(|c| c.late_ratio = 0.1);
    let all = posts(&config, 1);
    let delay = |p: &Post| to_millis(p.observed_at.as_ref().unwrap()) - to_millis(&p.created_at);
    let (late, on_time): (Vec<&Post>, Vec<&Post>) = all.iter().partition(|p| delay(p) > 60_000);
    assert!(
        late.len() > all.len() / 20,
        "{} late of {}",
        late.len(),
        all.len()
    );
    assert!(late.iter().all(|p| delay(p) < 11 * 60_000));
    assert!(on_time.iter().all(|p| (100..900).contains(&delay(p))));
    assert!(on_time
        .windows(2)
        .all(|w| w[0].created_at <= w[1].created_at));
    assert!(all.iter().all(|p| p.event_time() >= START - 10 * 60_000));
}

#[test]
fn generate_streams_instead_of_building_everything() {
    // A year at 100× the default rates is ~10^9 posts: only a lazy iterator returns.
    let config = with(|c| c.base_rate = 40_000.0);
    let first: Vec<Post> = generate(&config, &topics(), START, 365 * 24 * HOUR)
        .take(1000)
        .collect();
    assert_eq!(first.len(), 1000);
    assert!(first.last().unwrap().event_time() < START + HOUR);
    assert_eq!(generate(&config, &topics(), START, -HOUR).count(), 0);
}

#[test]
fn unvalidated_nonsense_is_clamped_not_panicked_on() {
    let config = with(|c| {
        c.base_rate = f64::NAN;
        c.noise_rate = f64::INFINITY;
        c.daily_amplitude = 7.0;
        c.duplicate_ratio = -1.0;
        c.late_ratio = f64::NAN;
        c.spike_factor = -3.0;
        c.spike_topic = Some("nope".into())
    });
    assert_eq!(generate(&config, &topics(), START, HOUR).count(), 0);
    assert_eq!(
        generate(&config, &topics(), Millis::MAX - 5, HOUR).count(),
        0
    );
    // Valid rates at the ends of time: posts, and no overflow.
    let config = with(|c| c.late_ratio = 0.5);
    assert!(generate(&config, &topics(), Millis::MAX - HOUR, 2 * HOUR).count() > 100);
    assert!(generate(&config, &topics(), Millis::MIN, HOUR).count() > 100);
}

#[test]
fn config_has_defaults_humantime_durations_and_no_unknown_keys() {
    let c: SyntheticConfig = serde_json::from_str("{}").unwrap();
    assert_eq!(c, SyntheticConfig::default());
    assert_eq!(c.speed, 600.0);
    let c: SyntheticConfig =
        serde_json::from_str(r#"{"spike_after":"90m","spike_duration":"1h 30m","seed":1}"#)
            .unwrap();
    assert_eq!(c.spike_after.as_secs(), 5400);
    assert_eq!(c.spike_duration.as_secs(), 5400);
    assert!(serde_json::from_str::<SyntheticConfig>(r#"{"sped":1}"#).is_err());
    SyntheticConfig::default().validate().unwrap();
}

#[test]
fn validation_names_the_bad_key() {
    type Edit = fn(&mut SyntheticConfig);
    let cases: [(&str, Edit); 9] = [
        ("speed", |c| c.speed = 0.0),
        ("speed", |c| c.speed = f64::NAN),
        ("base_rate", |c| c.base_rate = -1.0),
        ("noise_rate", |c| c.noise_rate = 1e12),
        ("daily_amplitude", |c| c.daily_amplitude = 1.5),
        ("duplicate_ratio", |c| c.duplicate_ratio = f64::NAN),
        ("late_ratio", |c| c.late_ratio = -0.1),
        ("spike_factor", |c| c.spike_factor = 0.5),
        ("spike_factor", |c| c.base_rate = 1e8),
    ];
    for (key, edit) in cases {
        let mut config = SyntheticConfig::default();
        edit(&mut config);
        let err = config.validate().unwrap_err();
        assert_eq!(err.key, key, "{err}");
        let message: String = err.into();
        assert!(message.starts_with(key), "{message}");
    }
}

/// A clock that returns scripted readings, then repeats the last one forever: the test
/// decides exactly which simulated time the source sees, with no real waiting.
struct ScriptedClock(Mutex<VecDeque<Millis>>);

impl Clock for ScriptedClock {
    fn now_ms(&self) -> Millis {
        let Ok(mut q) = self.0.lock() else { return 0 };
        if q.len() > 1 {
            q.pop_front().unwrap_or(0)
        } else {
            q.front().copied().unwrap_or(0)
        }
    }
}

#[tokio::test]
async fn the_live_source_sends_exactly_what_generate_yields() {
    let config = SyntheticConfig::default();
    // First reading: the start. Then the clock stands one hour later.
    let clock = Arc::new(ScriptedClock(Mutex::new(VecDeque::from([
        START,
        START + HOUR,
    ]))));
    let source = Box::new(SyntheticSource::new(config.clone(), topics(), clock));
    let expected: Vec<Post> = generate(&config, &topics(), START, HOUR).collect();
    let (tx, mut rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    let task = tokio::spawn(source.run(tx, stop.clone()));
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.push(rx.recv().await.unwrap());
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    // Nothing beyond the hour the clock reached.
    assert!(rx.recv().await.is_none());
    assert_eq!(got, expected);
}

/// A simulated clock whose first reading comes some way past its origin, as when
/// start-up takes a while at 600×: the source still starts at the origin.
struct LateClock(ScriptedClock);

impl Clock for LateClock {
    fn now_ms(&self) -> Millis {
        self.0.now_ms()
    }

    fn origin_ms(&self) -> Option<Millis> {
        Some(START)
    }
}

#[tokio::test]
async fn on_a_simulated_clock_the_posts_start_at_its_origin_whenever_the_source_runs() {
    let config = SyntheticConfig::default();
    let expected: Vec<Post> = generate(&config, &topics(), START, HOUR).collect();
    for late in [0, 7 * 60_000, 29 * 60_000] {
        let clock = Arc::new(LateClock(ScriptedClock(Mutex::new(VecDeque::from([
            START + late,
            START + HOUR,
        ])))));
        let source = Box::new(SyntheticSource::new(config.clone(), topics(), clock));
        let (tx, mut rx) = mpsc::channel(64);
        let stop = CancellationToken::new();
        let task = tokio::spawn(source.run(tx, stop.clone()));
        let mut got = Vec::new();
        while got.len() < expected.len() {
            got.push(rx.recv().await.unwrap());
        }
        stop.cancel();
        task.await.unwrap().unwrap();
        assert_eq!(got, expected, "first reading {late} ms past the origin");
    }
}

#[tokio::test]
async fn the_live_source_streams_on_a_fast_clock_until_cancelled() {
    let clock = Arc::new(SimClock::new(START, 1_000_000.0));
    let source = Box::new(SyntheticSource::new(
        SyntheticConfig::default(),
        topics(),
        clock,
    ));
    assert_eq!(source.name(), "synthetic");
    let (tx, mut rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let task = tokio::spawn(source.run(tx, stop.clone()));
    let mut last = Millis::MIN;
    for _ in 0..200 {
        let p = rx.recv().await.unwrap();
        assert_eq!(p.source, "synthetic");
        last = last.max(p.event_time());
    }
    assert!(last >= START);
    stop.cancel();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_live_source_stops_when_the_pipeline_is_gone() {
    let clock = Arc::new(SimClock::new(START, 1_000_000.0));
    let source = Box::new(SyntheticSource::new(
        SyntheticConfig::default(),
        topics(),
        clock,
    ));
    let (tx, rx) = mpsc::channel(1);
    drop(rx);
    // Never cancelled: returning at all proves the closed sink was noticed.
    source.run(tx, CancellationToken::new()).await.unwrap();
}

#[tokio::test]
async fn the_live_source_refuses_a_bad_configuration() {
    let clock = Arc::new(SimClock::new(START, 600.0));
    let cases = [
        with(|c| c.speed = -1.0),
        with(|c| c.spike_topic = Some("unknown".into())),
    ];
    for config in cases {
        let source = Box::new(SyntheticSource::new(config, topics(), clock.clone()));
        let (tx, _rx) = mpsc::channel(1);
        let err = source.run(tx, CancellationToken::new()).await.unwrap_err();
        assert!(matches!(err, SourceError::Config { .. }), "{err:?}");
    }
}

/// The built-in demo (an alert within a minute, as the README promises) relies on these numbers: with the
/// defaults, 30-minute windows of the spike topic stay far below the demo configuration's
/// threshold of 2000 until the spike, then the first three spike windows pass it.
#[test]
fn the_default_demo_crosses_its_threshold_only_during_the_spike() {
    let m = matcher(&topics());
    let mut counts: HashMap<Millis, u64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    for p in posts(&SyntheticConfig::default(), 10) {
        if m.find(&p.text).contains(&"ocean-spray") && seen.insert(p.id.clone()) {
            *counts
                .entry((p.event_time() - START).div_euclid(HOUR / 2))
                .or_default() += 1;
        }
    }
    let window = |w: Millis| counts.get(&w).copied().unwrap_or(0);
    for w in (0..12).chain(16..20) {
        assert!(window(w) < 500, "window {w}: {}", window(w));
    }
    for w in 12..15 {
        assert!(window(w) >= 2000, "window {w}: {}", window(w));
    }
}
