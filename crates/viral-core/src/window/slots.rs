//! A topic's windows that hold something, keyed by start: only windows a mention was
//! counted in have a slot, so a run of empty windows — a quiet night, or a month that
//! one mention jumped over — costs no memory, whichever way it is crossed.
//!
//! Slots are kept sorted by start in a deque: mentions land almost always in the newest
//! windows and closing takes the oldest, so both ends are where the work is.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;

use crate::model::Sample;
use crate::time::Millis;

/// What the engine keeps about one window holding mentions.
pub(super) struct Slot {
    pub(super) count: u64,
    /// Tumbling windows: the ids counted here.
    pub(super) seen: FxHashSet<u128>,
    /// Hopping windows: ids whose last counted window is this one, forgotten when it closes.
    pub(super) expiring: Vec<u128>,
    pub(super) samples: Vec<Sample>,
    /// Smallest `seq` counted here (`u64::MAX` while empty).
    pub(super) min_seq: u64,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            count: 0,
            seen: FxHashSet::default(),
            expiring: Vec::new(),
            samples: Vec::new(),
            min_seq: u64::MAX,
        }
    }
}

/// Spare slots kept for reuse; slots with big id sets or expiry lists are freed instead,
/// so the pool never holds more than this many small ones.
const POOL_MAX: usize = 4096;
const POOL_CAPACITY_MAX: usize = 1024;

/// One topic's slots, sorted by window start, plus the engine-wide pool of spare ones.
#[derive(Default)]
pub(super) struct Slots(VecDeque<(Millis, Slot)>);

impl Slots {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// The slots in order of window start.
    pub(super) fn iter(&self) -> impl Iterator<Item = &(Millis, Slot)> {
        self.0.iter()
    }

    fn position(&self, start: Millis) -> usize {
        // From the back: the newest windows are where mentions land.
        match self.0.back() {
            Some((last, _)) if *last < start => self.0.len(),
            Some((last, _)) if *last == start => self.0.len() - 1,
            _ => self.0.partition_point(|(s, _)| *s < start),
        }
    }

    /// The slot of the window at `start`, created (from `pool`) if it has none.
    pub(super) fn get_or_insert(&mut self, start: Millis, pool: &mut Vec<Slot>) -> &mut Slot {
        let pos = self.position(start);
        if self.0.get(pos).is_none_or(|(s, _)| *s != start) {
            self.0.insert(pos, (start, pool.pop().unwrap_or_default()));
        }
        &mut self.0[pos].1
    }

    /// The slot of the window at `start`, if it has one.
    pub(super) fn get_mut(&mut self, start: Millis) -> Option<&mut Slot> {
        let pos = self.position(start);
        match self.0.get_mut(pos) {
            Some((s, slot)) if *s == start => Some(slot),
            _ => None,
        }
    }

    /// Remove the slot of the window at `start` if it is the oldest one.
    pub(super) fn pop_if_first(&mut self, start: Millis) -> Option<Slot> {
        match self.0.front() {
            Some((s, _)) if *s == start => self.0.pop_front().map(|(_, slot)| slot),
            _ => None,
        }
    }
}

/// Return a closed window's slot to the pool, handing back its samples.
pub(super) fn recycle(pool: &mut Vec<Slot>, mut slot: Slot) -> Vec<Sample> {
    let samples = std::mem::take(&mut slot.samples);
    if pool.len() < POOL_MAX
        && slot.expiring.capacity() <= POOL_CAPACITY_MAX
        && slot.seen.capacity() <= POOL_CAPACITY_MAX
    {
        slot.count = 0;
        slot.min_seq = u64::MAX;
        slot.seen.clear();
        slot.expiring.clear();
        pool.push(slot);
    }
    samples
}
