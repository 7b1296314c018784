//! The windowing engine against DESIGN.md's rules: hand-worked examples, and properties
//! checked on random streams against a deliberately naive model of the pinned rules.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use viral_core::time::{from_millis, to_millis};
use viral_core::window::{Checkpoint, MentionRef, Outcome, WindowEngine, WindowSpec};
use viral_core::WindowCount;

#[derive(Debug, Clone)]
struct M {
    topic: &'static str,
    id: u8,
    t: i64,
    /// `observed_at`, when the mention carries one.
    o: Option<i64>,
}

fn mention_ref<'a>(m: &'a M, id: &'a str) -> MentionRef<'a> {
    MentionRef {
        topic: m.topic,
        id,
        event_time: m.t,
        observed_at: m.o,
        text: "",
        url: None,
        seq: 0,
    }
}

type Row = (String, i64, i64, u64);

fn rows(out: &[WindowCount]) -> Vec<Row> {
    out.iter()
        .map(|w| {
            (
                w.topic.clone(),
                to_millis(&w.window_start),
                to_millis(&w.window_end),
                w.count,
            )
        })
        .collect()
}

/// Feed `ms`, taking the due windows out after every `chunk` mentions, then flush.
fn run(spec: WindowSpec, ms: &[M], chunk: usize) -> (Vec<Row>, Vec<Outcome>) {
    let mut e = WindowEngine::new(spec);
    let (mut all, mut outcomes) = (Vec::new(), Vec::new());
    for c in ms.chunks(chunk.max(1)) {
        for m in c {
            let id = m.id.to_string();
            outcomes.push(e.push(mention_ref(m, &id)));
        }
        all.extend(rows(&e.closed().collect::<Vec<_>>()));
    }
    e.flush();
    all.extend(rows(&e.closed().collect::<Vec<_>>()));
    (all, outcomes)
}

/// DESIGN.md's rules, transcribed as literally as possible, with no attention to cost.
fn reference(spec: WindowSpec, ms: &[M]) -> (Vec<Row>, Vec<Outcome>) {
    let (size, hop, late, max_delay) = (spec.size(), spec.hop(), spec.lateness(), spec.max_delay());
    let mut w: Option<i64> = None;
    let mut max_et: Option<i64> = None;
    let mut counted: BTreeMap<(&str, i64), (u64, HashSet<u8>)> = BTreeMap::new();
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    let mut emitted: BTreeSet<(&str, i64)> = BTreeSet::new();
    let (mut out, mut outcomes) = (Vec::new(), Vec::new());

    let close = |w: i64,
                 max_et: i64,
                 first: &BTreeMap<&'static str, i64>,
                 counted: &BTreeMap<(&str, i64), (u64, HashSet<u8>)>,
                 emitted: &mut BTreeSet<(&'static str, i64)>,
                 out: &mut Vec<Row>| {
        let mut now = Vec::new();
        for (&topic, &f) in first {
            let mut s = f;
            while s <= max_et {
                if s + size <= w && emitted.insert((topic, s)) {
                    let c = counted.get(&(topic, s)).map_or(0, |x| x.0);
                    now.push((s + size, topic.to_string(), s, c));
                }
                s += hop;
            }
        }
        now.sort();
        out.extend(now.into_iter().map(|(e, t, s, c)| (t, s, e, c)));
    };

    for m in ms {
        max_et = Some(max_et.map_or(m.t, |x: i64| x.max(m.t)));
        w = Some(w.map_or(m.t - late, |x| x.max(m.t - late)));
        if let Some(o) = m.o {
            w = w.map(|x| x.max(o - max_delay));
        }
        let wv = w.unwrap();
        close(
            wv,
            max_et.unwrap(),
            &first,
            &counted,
            &mut emitted,
            &mut out,
        );
        let mut open = 0;
        let mut added = false;
        let mut s = m.t.div_euclid(hop) * hop - size + hop;
        while s <= m.t {
            if s + size > wv {
                open += 1;
                let e = counted.entry((m.topic, s)).or_default();
                if e.1.insert(m.id) {
                    e.0 += 1;
                    added = true;
                    let f = first.entry(m.topic).or_insert(s);
                    *f = (*f).min(s);
                }
            }
            s += hop;
        }
        outcomes.push(match (open, added) {
            (0, _) => Outcome::Late,
            (_, true) => Outcome::Counted,
            _ => Outcome::Duplicate,
        });
    }
    if let Some(max_et) = max_et {
        close(i64::MAX, max_et, &first, &counted, &mut emitted, &mut out);
    }
    (out, outcomes)
}

fn spec(size: i64, hop: i64, lateness: i64) -> WindowSpec {
    WindowSpec::from_millis(size, hop, lateness).unwrap()
}

fn m(topic: &'static str, id: u8, t: i64) -> M {
    M {
        topic,
        id,
        t,
        o: None,
    }
}

/// A mention seen at `o` (its event time is the earlier of `t` and `o`).
fn seen(topic: &'static str, id: u8, t: i64, o: i64) -> M {
    M {
        topic,
        id,
        t: t.min(o),
        o: Some(o),
    }
}

#[test]
fn tumbling_with_late_duplicate_and_zero_windows() {
    let s = spec(10, 10, 5);
    let input = [
        m("a", 1, 3),  // window [0,10)
        m("a", 1, 4),  // duplicate
        m("a", 2, 16), // W=11: closes [0,10)
        m("a", 3, 8),  // late: [0,10) closed
        m("b", 4, 41), // W=36: closes [10,20) [20,30) for a
        m("a", 5, 39), // still open: [30,40) ends after W
    ];
    let (out, outcomes) = run(s, &input, 1);
    use Outcome::*;
    assert_eq!(
        outcomes,
        [Counted, Duplicate, Counted, Late, Counted, Counted]
    );
    let r = |t: &str, s: i64, c: u64| (t.to_string(), s, s + 10, c);
    assert_eq!(
        out,
        [
            r("a", 0, 1),
            r("a", 10, 1),
            r("a", 20, 0),
            // flush: everything up to the latest event time (41)
            r("a", 30, 1),
            r("a", 40, 0),
            r("b", 40, 1),
        ]
    );
    assert_eq!(out, reference(s, &input).0);
}

#[test]
fn epoch_alignment_holds_before_1970() {
    let (out, _) = run(spec(10, 10, 0), &[m("a", 1, -3)], 1);
    assert_eq!(out, [("a".to_string(), -10, 0, 1)]);
}

#[test]
fn one_mention_lands_in_size_over_hop_hopping_windows() {
    let (out, _) = run(spec(30, 10, 0), &[m("a", 1, 25)], 1);
    let starts: Vec<i64> = out.iter().map(|r| r.1).collect();
    assert_eq!(starts, [0, 10, 20]);
    assert!(out.iter().all(|r| r.3 == 1));
}

#[test]
fn an_id_is_remembered_until_the_last_window_it_was_counted_in_closes() {
    // size 20, hop 10: each instant is in two windows.
    let s = spec(20, 10, 100);
    let input = [
        m("a", 1, 5),   // windows -10, 0
        m("a", 1, 15),  // 0 already has it; counted in 10
        m("b", 9, 120), // W = 20: windows -10 and 0 close
        m("a", 1, 25),  // 10 (still open) already has it; counted in 20
    ];
    let (out, outcomes) = run(s, &input, 1);
    use Outcome::*;
    assert_eq!(outcomes, [Counted, Counted, Counted, Counted]);
    let a: Vec<(i64, u64)> = out
        .iter()
        .filter(|r| r.0 == "a")
        .map(|r| (r.1, r.3))
        .collect();
    assert_eq!(
        a,
        [
            (-10, 1),
            (0, 1),
            (10, 1),
            (20, 1),
            (30, 0),
            (40, 0),
            (50, 0),
            (60, 0),
            (70, 0),
            (80, 0),
            (90, 0),
            (100, 0),
            (110, 0),
            (120, 0)
        ]
    );
    assert_eq!(out, reference(s, &input).0);
}

#[test]
fn out_of_order_mention_extends_a_topic_backwards() {
    let s = spec(10, 10, 30);
    let input = [m("a", 1, 25), m("a", 2, 3)];
    let (out, _) = run(s, &input, 1);
    let starts: Vec<(i64, u64)> = out.iter().map(|r| (r.1, r.3)).collect();
    assert_eq!(starts, [(0, 1), (10, 0), (20, 1)]);
}

#[test]
fn idle_advance_closes_windows_during_silence() {
    let mut e = WindowEngine::new(spec(10, 10, 2));
    e.push(mention_ref(&m("a", 1, 5), "1"));
    assert_eq!(e.pop_closed(), None);
    e.advance_to(35);
    assert_eq!(
        rows(&e.closed().collect::<Vec<_>>()),
        [
            ("a".to_string(), 0, 10, 1),
            ("a".to_string(), 10, 20, 0),
            ("a".to_string(), 20, 30, 0)
        ]
    );
    assert_eq!(e.stats().windows, 3);
}

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

fn arb_spec() -> impl Strategy<Value = WindowSpec> {
    (
        1i64..=4,
        prop::sample::select(vec![5i64, 10, 20]),
        0i64..40,
        1u64..50,
    )
        .prop_map(|(k, hop, late, max_delay)| {
            spec(k * hop, hop, late)
                .with_max_delay(Duration::from_millis(max_delay))
                .unwrap()
        })
}

fn arb_stream() -> impl Strategy<Value = Vec<M>> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["a", "b", "c"]),
            0u8..12,
            -30i64..150,
            prop::option::of(0i64..60),
        ),
        0..60,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(topic, id, t, delay)| match delay {
                // Seen `delay` after it was written, or, past 40, a client clock running
                // that far ahead (the event time is then the observation).
                Some(d) if d > 40 => seen(topic, id, t + d - 40, t),
                Some(d) => seen(topic, id, t, t + d),
                None => m(topic, id, t),
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn engine_matches_the_literal_rules(s in arb_spec(), input in arb_stream()) {
        prop_assert_eq!(run(s, &input, 1), reference(s, &input));
    }

    #[test]
    fn output_does_not_depend_on_chunking(s in arb_spec(), input in arb_stream(), chunk in 1usize..20) {
        prop_assert_eq!(run(s, &input, chunk), run(s, &input, input.len().max(1)));
    }

    #[test]
    fn tumbling_equals_brute_force_when_nothing_is_late(
        size in prop::sample::select(vec![5i64, 10, 30]),
        mut input in arb_stream(),
    ) {
        input.sort_by_key(|m| m.t);
        let (out, outcomes) = run(spec(size, size, 0), &input, 7);
        prop_assert!(!outcomes.contains(&Outcome::Late));
        let mut brute: BTreeMap<(&str, i64), HashSet<u8>> = BTreeMap::new();
        for m in &input {
            brute.entry((m.topic, m.t.div_euclid(size) * size)).or_default().insert(m.id);
        }
        for (topic, start, _, count) in &out {
            let want = brute.get(&(topic.as_str(), *start)).map_or(0, |ids| ids.len() as u64);
            prop_assert_eq!(*count, want);
        }
        let emitted: HashSet<(String, i64)> = out.iter().map(|r| (r.0.clone(), r.1)).collect();
        prop_assert_eq!(emitted.len(), out.len(), "a window was emitted twice");
        for key in brute.keys() {
            prop_assert!(emitted.contains(&(key.0.to_string(), key.1)));
        }
    }

    #[test]
    fn hopping_counts_each_mention_in_size_over_hop_windows(
        k in 1i64..=5,
        mut input in arb_stream(),
    ) {
        input.sort_by_key(|m| m.t);
        // Distinct ids per topic, so nothing is a duplicate.
        let input: Vec<M> = input.into_iter().enumerate().map(|(i, m)| M { id: i as u8, ..m }).collect();
        let (out, outcomes) = run(spec(10 * k, 10, 0), &input, 3);
        prop_assert!(outcomes.iter().all(|o| *o == Outcome::Counted));
        let total: u64 = out.iter().map(|r| r.3).sum();
        prop_assert_eq!(total, k as u64 * input.len() as u64);
    }

    /// Crash in the middle of taking out the windows one mention closed, once the engine
    /// is settled (as the aggregator commits a long run of empty windows in batches):
    /// the successor emits exactly the rest.
    #[test]
    fn a_checkpoint_taken_mid_drain_once_settled_is_exact(
        s in arb_spec(),
        input in arb_stream(),
        crash_at in 1usize..60,
        taken in 0usize..40,
    ) {
        let uninterrupted = run(s, &input, 1).0;
        let crash_at = crash_at.min(input.len());
        let mut before = Vec::new();
        let mut e = WindowEngine::new(s);
        for (i, m) in input.iter().enumerate().take(crash_at) {
            let id = m.id.to_string();
            e.push(MentionRef { seq: i as u64, ..mention_ref(m, &id) });
            if i + 1 < crash_at {
                before.extend(e.closed());
            }
        }
        before.extend(std::iter::from_fn(|| e.pop_closed()).take(taken));
        while !e.settled() {
            before.extend(e.pop_closed());
        }
        let cp = e.checkpoint();
        let resume = e.resume_seq().map_or(crash_at, |q| q as usize);
        drop(e);

        let mut after = Vec::new();
        let mut r = WindowEngine::restore(s, &cp);
        for (i, m) in input.iter().enumerate().skip(resume) {
            let id = m.id.to_string();
            r.push(MentionRef { seq: i as u64, ..mention_ref(m, &id) });
            after.extend(r.closed());
        }
        r.flush();
        after.extend(r.closed());
        let mut all = rows(&before);
        all.extend(rows(&after));
        prop_assert_eq!(all, uninterrupted);
    }

    /// Crash anywhere, restart from the checkpoint taken at that point, re-read the input
    /// from `resume_seq`: the counts are exactly those of the uninterrupted run — nothing
    /// lost, nothing emitted twice, quiet topics' zero windows included.
    #[test]
    fn restoring_a_checkpoint_and_rereading_from_resume_seq_is_exact(
        s in arb_spec(),
        input in arb_stream(),
        crash_at in 0usize..60,
    ) {
        let uninterrupted = run(s, &input, 1).0;
        let crash_at = crash_at.min(input.len());
        let feed = |e: &mut WindowEngine, from: usize, to: usize, out: &mut Vec<WindowCount>| {
            for (i, m) in input.iter().enumerate().take(to).skip(from) {
                let id = m.id.to_string();
                e.push(MentionRef { seq: i as u64, ..mention_ref(m, &id) });
                out.extend(e.closed());
            }
        };
        let mut before = Vec::new();
        let mut e = WindowEngine::new(s);
        feed(&mut e, 0, crash_at, &mut before);
        let cp: Checkpoint = e.checkpoint();
        let resume = e.resume_seq().map_or(crash_at, |q| q as usize);
        prop_assert!(resume <= crash_at);
        // The checkpoint survives a round trip through its stored form.
        let cp: Checkpoint = serde_json::from_str(&serde_json::to_string(&cp).unwrap()).unwrap();
        drop(e);

        let mut after = Vec::new();
        let mut r = WindowEngine::restore(s, &cp);
        feed(&mut r, resume, input.len(), &mut after);
        r.flush();
        after.extend(r.closed());
        let mut all = rows(&before);
        all.extend(rows(&after));
        prop_assert_eq!(all, uninterrupted);
    }
}
