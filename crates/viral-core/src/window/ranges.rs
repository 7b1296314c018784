//! The window starts one post id was counted in, per topic, for hopping windows: a
//! mention costs one map operation however many windows contain it, and an id is
//! forgotten once the last window it was counted in closes (see the engine's doc).

use crate::time::Millis;

/// Inclusive ranges of window starts (step `hop`). Almost always one range; several only
/// when a post id recurs with event times more than a window apart.
#[derive(Debug, Clone)]
pub(super) enum Ranges {
    One(Millis, Millis),
    Many(Vec<(Millis, Millis)>),
}

impl Ranges {
    pub(super) fn covers(&self, s: Millis) -> bool {
        match self {
            Ranges::One(a, b) => (*a..=*b).contains(&s),
            Ranges::Many(v) => v.iter().any(|(a, b)| (*a..=*b).contains(&s)),
        }
    }

    pub(super) fn max_hi(&self) -> Millis {
        match self {
            Ranges::One(_, b) => *b,
            Ranges::Many(v) => v.iter().map(|r| r.1).max().unwrap_or(Millis::MIN),
        }
    }

    /// Add `[a, b]`, merging ranges that touch (step `hop`).
    pub(super) fn add(&mut self, a: Millis, b: Millis, hop: Millis) {
        let mut v = match std::mem::replace(self, Ranges::Many(Vec::new())) {
            Ranges::One(x, y) => vec![(x, y)],
            Ranges::Many(v) => v,
        };
        v.push((a, b));
        v.sort_unstable();
        let mut merged: Vec<(Millis, Millis)> = Vec::with_capacity(v.len());
        for (x, y) in v {
            match merged.last_mut() {
                Some(last) if x <= last.1 + hop => last.1 = last.1.max(y),
                _ => merged.push((x, y)),
            }
        }
        *self = match merged.as_slice() {
            [(x, y)] => Ranges::One(*x, *y),
            _ => Ranges::Many(merged),
        };
    }
}
