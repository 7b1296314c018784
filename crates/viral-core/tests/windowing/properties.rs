//! The engine equals the naive reference on random streams.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use proptest::prelude::*;
use viral_core::window::{Checkpoint, MentionRef, Outcome, WindowEngine, WindowSpec};
use viral_core::WindowCount;

use super::model::*;

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
