//! Times and sizes a stranger can send, and what they may cost.

use std::time::Duration;

use viral_core::time::{from_millis, to_millis};
use viral_core::window::{Checkpoint, MentionRef, Outcome, WindowEngine};
use viral_core::WindowCount;

use super::model::*;

const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;
/// 2026-01-01T00:00:00Z: "now" for the tests below.
const NOW: i64 = 1_767_225_600_000;

#[test]
fn a_backdated_first_post_does_not_open_the_past() {
    // Written (it says) a month ago, seen now: the watermark follows the observation.
    let s = spec(10 * MIN, 10 * MIN, MIN);
    let input = [
        seen("a", 1, NOW - 30 * DAY, NOW),
        seen("a", 2, NOW, NOW + 1),
    ];
    let (out, outcomes) = run(s, &input, 1);
    assert_eq!(outcomes, [Outcome::Late, Outcome::Counted]);
    assert_eq!(out, [("a".to_string(), NOW, NOW + 10 * MIN, 1)]);
    assert_eq!(out, reference(s, &input).0);
}

#[test]
fn a_post_from_the_future_is_counted_when_seen_and_moves_nothing() {
    // created_at a month ahead, observed now: event time is now, and a post a minute
    // later still counts.
    let s = spec(10 * MIN, 10 * MIN, MIN);
    let input = [
        seen("a", 1, NOW + 30 * DAY, NOW),
        seen("a", 2, NOW + MIN, NOW + MIN),
        seen("a", 3, NOW + 11 * MIN, NOW + 11 * MIN),
    ];
    let (out, outcomes) = run(s, &input, 1);
    assert_eq!(outcomes, [Outcome::Counted; 3]);
    assert_eq!(
        out,
        [
            ("a".to_string(), NOW, NOW + 10 * MIN, 2),
            ("a".to_string(), NOW + 10 * MIN, NOW + 20 * MIN, 1)
        ]
    );
}

#[test]
fn a_month_of_windows_closed_at_once_comes_out_one_at_a_time() {
    let s = spec(MIN, MIN, 0);
    let mut e = WindowEngine::new(s);
    e.push(mention_ref(&m("a", 1, NOW), "1"));
    e.push(mention_ref(&m("b", 2, NOW), "2"));
    assert_eq!(
        e.push(mention_ref(&m("a", 3, NOW + 30 * DAY), "3")),
        Outcome::Counted
    );
    // Due: the two counted windows, then 43,199 empty ones per topic, ending before the
    // last mention's window. Until the counted ones are out a checkpoint would lose them.
    assert!(!e.settled());
    let first: Vec<Row> = rows(&[e.pop_closed().unwrap(), e.pop_closed().unwrap()]);
    assert_eq!(
        first,
        [
            ("a".to_string(), NOW, NOW + MIN, 1),
            ("b".to_string(), NOW, NOW + MIN, 1)
        ]
    );
    assert!(e.settled(), "only empty windows are left");
    let (mut n, mut last_end, mut held) = (2u64, NOW + MIN, 0);
    while let Some(w) = e.pop_closed() {
        let end = to_millis(&w.window_end);
        assert!(end >= last_end, "in order of window end");
        assert_eq!(w.count, 0);
        last_end = end;
        n += 1;
        held = held.max(e.open_windows());
    }
    assert_eq!(n, 2 * 30 * 24 * 60);
    assert!(
        held <= 1,
        "the engine holds only the open window, not the closed ones"
    );
    assert_eq!(e.stats().windows, n);
}

#[test]
fn windows_past_the_latest_event_wait_for_it() {
    // A post seen long after it was written moves the watermark past the latest event
    // time (and is itself late); the windows in between are emitted only once an event
    // reaches them.
    let s = spec(10, 10, 0)
        .with_max_delay(Duration::from_millis(5))
        .unwrap();
    let input = [m("a", 1, 3), seen("a", 2, 30, 100), m("a", 3, 85)];
    let (out, outcomes) = run(s, &input, 1);
    assert_eq!(outcomes, [Outcome::Counted, Outcome::Late, Outcome::Late]);
    let starts: Vec<(i64, u64)> = out.iter().map(|r| (r.1, r.3)).collect();
    assert_eq!(
        starts,
        [
            (0, 1),
            (10, 0),
            (20, 0),
            (30, 0),
            (40, 0),
            (50, 0),
            (60, 0),
            (70, 0),
            (80, 0)
        ]
    );
    assert_eq!(out, reference(s, &input).0);
    let mut e = WindowEngine::new(s);
    e.push(mention_ref(&input[0], "1"));
    e.push(mention_ref(&input[1], "2"));
    assert_eq!(e.closed().count(), 4, "up to the latest event time, 30");
}

#[test]
fn restored_watermark_treats_older_windows_as_emitted() {
    let cp = Checkpoint {
        watermark: Some(20),
        max_event: None,
        topics: vec![],
    };
    let mut e = WindowEngine::restore(spec(10, 10, 0), &cp);
    assert_eq!(e.push(mention_ref(&m("a", 1, 15), "1")), Outcome::Late);
    assert_eq!(e.push(mention_ref(&m("a", 2, 25), "2")), Outcome::Counted);
}

#[test]
fn samples_are_kept_per_window_up_to_the_limit() {
    let mut e = WindowEngine::new(spec(10, 10, 0)).with_samples(2);
    let mut out = Vec::new();
    for (i, t) in [1, 2, 3, 11].into_iter().enumerate() {
        let id = i.to_string();
        let text = format!("post {i}");
        e.push(MentionRef {
            topic: "a",
            id: &id,
            event_time: t,
            observed_at: None,
            text: &text,
            url: Some("https://x"),
            seq: i as u64,
        });
        out.extend(e.closed());
    }
    assert_eq!(out.len(), 1);
    let texts: Vec<&str> = out[0].samples.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["post 0", "post 1"]);
    assert_eq!(out[0].count, 3);
}

/// Five posts of ~205 KB made one window's count over the bus's 1,000,000-byte limit:
/// samples are cut to 1 KiB (on a char boundary), their number and URLs bounded.
#[test]
fn samples_are_bounded_in_size_and_number() {
    use viral_core::limits::{MAX_SAMPLES, MAX_URL_BYTES, SAMPLE_TEXT_BYTES};
    let mut e = WindowEngine::new(spec(10, 10, 0)).with_samples(1000);
    let text = "é".repeat(205_000 / 2);
    let long_url = format!("https://x/{}", "u".repeat(MAX_URL_BYTES));
    for i in 0..50u64 {
        let id = i.to_string();
        let url = if i % 2 == 0 {
            "https://x/ok"
        } else {
            &long_url
        };
        e.push(MentionRef {
            topic: "a",
            id: &id,
            event_time: 1,
            observed_at: None,
            text: &text,
            url: Some(url),
            seq: i,
        });
    }
    e.flush();
    let out: Vec<_> = e.closed().collect();
    assert_eq!(out.len(), 1);
    let w = &out[0];
    assert_eq!(w.count, 50);
    assert_eq!(w.samples.len(), MAX_SAMPLES);
    for (i, s) in w.samples.iter().enumerate() {
        assert!(s.text.len() <= SAMPLE_TEXT_BYTES, "{}", s.text.len());
        assert!(s.text.starts_with("éé") && s.text.ends_with('…'));
        let want = (i % 2 == 0).then_some("https://x/ok");
        assert_eq!(s.url.as_deref(), want);
    }
    let bytes = serde_json::to_vec(w).unwrap().len();
    assert!(bytes < 64 * 1024, "{bytes}");
}

#[test]
fn memory_is_bounded_by_open_windows() {
    for (size, hop) in [(10, 10), (30, 10)] {
        let mut e = WindowEngine::new(spec(size, hop, 0));
        let mut closed = 0;
        for i in 0..100_000i64 {
            let id = i.to_string();
            e.push(mention_ref(&m("a", 0, i), &id));
            closed += e.closed().count();
            assert!(e.open_windows() <= 3);
            assert!(e.tracked_ids() <= 30, "ids of closed windows are forgotten");
        }
        assert!(closed >= 9_997, "{closed}");
    }
}

#[test]
fn window_times_are_rfc3339() {
    let (_, _) = run(spec(10, 10, 0), &[], 1);
    let w = WindowCount {
        topic: "x".into(),
        window_start: from_millis(1_601_056_800_000),
        window_end: from_millis(1_601_058_600_000),
        count: 123,
        samples: vec![],
    };
    assert_eq!(
        serde_json::to_string(&w).unwrap(),
        r#"{"topic":"x","window_start":"2020-09-25T18:00:00Z","window_end":"2020-09-25T18:30:00Z","count":123}"#
    );
}
