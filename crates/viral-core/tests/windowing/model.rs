//! The test's view of a mention, the engine driver, and the naive reference model.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use viral_core::time::to_millis;
use viral_core::window::{MentionRef, Outcome, WindowEngine, WindowSpec};
use viral_core::WindowCount;

#[derive(Debug, Clone)]
pub struct M {
    pub topic: &'static str,
    pub id: u8,
    pub t: i64,
    /// `observed_at`, when the mention carries one.
    pub o: Option<i64>,
}

pub fn mention_ref<'a>(m: &'a M, id: &'a str) -> MentionRef<'a> {
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

pub type Row = (String, i64, i64, u64);

pub fn rows(out: &[WindowCount]) -> Vec<Row> {
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
pub fn run(spec: WindowSpec, ms: &[M], chunk: usize) -> (Vec<Row>, Vec<Outcome>) {
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

/// The windowing rules (docs/ARCHITECTURE.md), transcribed as literally as possible, with no attention to cost.
pub fn reference(spec: WindowSpec, ms: &[M]) -> (Vec<Row>, Vec<Outcome>) {
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

pub fn spec(size: i64, hop: i64, lateness: i64) -> WindowSpec {
    WindowSpec::from_millis(size, hop, lateness).unwrap()
}

pub fn m(topic: &'static str, id: u8, t: i64) -> M {
    M {
        topic,
        id,
        t,
        o: None,
    }
}

/// A mention seen at `o` (its event time is the earlier of `t` and `o`).
pub fn seen(topic: &'static str, id: u8, t: i64, o: i64) -> M {
    M {
        topic,
        id,
        t: t.min(o),
        o: Some(o),
    }
}
