//! Hand-worked cases of the basic rules.

use viral_core::window::{Outcome, WindowEngine};

use super::model::*;

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
