//! The windowing engine: DESIGN.md's three steps per mention, done incrementally.
//!
//! Per topic it keeps `next_start` (every window before it has been emitted) and one slot
//! per open window from there on. All topics share one grid of window ends, so closing is a
//! walk over those ends up to the watermark; `next_close` caches the earliest pending end
//! so that a mention which closes nothing costs O(1) here.
//!
//! De-duplication keys are 128-bit XXH3 hashes of post ids: fixed-size, no allocation per
//! mention, and a collision between two distinct ids of one window has a probability of
//! about n²/2¹²⁹ — far below any hardware error rate at any window size we will see.
//! Tumbling windows keep one id set per window, dropped whole when it closes. Hopping
//! windows instead keep one map per topic from id to the window starts it was counted in
//! (contiguous ranges), so a mention costs one map operation however many windows contain
//! it (a set per window would store each id size/hop times); an id is forgotten when the
//! last window it was counted in closes.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};

use super::WindowSpec;
use crate::limits;
use crate::model::{Sample, WindowCount};
use crate::time::{from_millis, Millis};

/// One mention as the engine needs it, borrowed so callers need not allocate.
#[derive(Debug, Clone, Copy)]
pub struct MentionRef<'a> {
    pub topic: &'a str,
    pub id: &'a str,
    /// Event time (see [`crate::time::event_time`]).
    pub event_time: Millis,
    /// Kept only while the window has fewer than `sample_limit` samples.
    pub text: &'a str,
    pub url: Option<&'a str>,
    /// Position of the mention in its stream (a Kafka offset, a line number): the engine
    /// reports the smallest one any open window still depends on, so a consumer knows
    /// where to resume after a crash. Use 0 where nothing resumes.
    pub seq: u64,
}

impl<'a> MentionRef<'a> {
    /// The view of a decoded [`Mention`](crate::Mention) at position `seq` of its stream.
    pub fn of(m: &'a crate::Mention, seq: u64) -> Self {
        Self {
            topic: &m.topic,
            id: &m.post.id,
            event_time: m.post.event_time(),
            text: &m.post.text,
            url: m.post.url.as_deref(),
            seq,
        }
    }
}

/// What happened to one mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted in at least one window.
    Counted,
    /// Had open windows, but its (topic, id) was already counted in all of them.
    Duplicate,
    /// Every window containing it had already closed: dropped.
    Late,
}

/// Running totals, for summaries and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WindowStats {
    pub mentions: u64,
    pub counted: u64,
    pub duplicates: u64,
    pub late: u64,
    /// Windows emitted (closed), zero-count ones included.
    pub windows: u64,
}

struct Slot {
    count: u64,
    /// Tumbling windows: the ids counted here.
    seen: FxHashSet<u128>,
    /// Hopping windows: ids whose last counted window is this one, forgotten when it closes.
    expiring: Vec<u128>,
    samples: Vec<Sample>,
    /// Smallest `seq` counted here (`u64::MAX` while empty).
    min_seq: u64,
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

/// What must survive a restart besides the input itself: the watermark, the latest event
/// time, and where each topic's windows have got to (so quiet topics keep their
/// zero-count windows). Open windows' contents are not in it: they are rebuilt by
/// re-reading the input from [`WindowEngine::resume_seq`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub watermark: Option<Millis>,
    pub max_event: Option<Millis>,
    /// (topic, start of its first window not yet emitted)
    pub topics: Vec<(String, Millis)>,
}

/// The window starts (inclusive ranges, step `hop`) an id was counted in. Almost always
/// one range; several only when a post id recurs with event times more than a window apart.
#[derive(Debug, Clone)]
enum Ranges {
    One(Millis, Millis),
    Many(Vec<(Millis, Millis)>),
}

impl Ranges {
    fn covers(&self, s: Millis) -> bool {
        match self {
            Ranges::One(a, b) => (*a..=*b).contains(&s),
            Ranges::Many(v) => v.iter().any(|(a, b)| (*a..=*b).contains(&s)),
        }
    }

    fn max_hi(&self) -> Millis {
        match self {
            Ranges::One(_, b) => *b,
            Ranges::Many(v) => v.iter().map(|r| r.1).max().unwrap_or(Millis::MIN),
        }
    }

    /// Add `[a, b]`, merging ranges that touch (step `hop`).
    fn add(&mut self, a: Millis, b: Millis, hop: Millis) {
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

struct TopicWindows {
    name: String,
    /// Ids counted in this topic's open windows.
    ids: FxHashMap<u128, Ranges>,
    /// Start of the first window not yet emitted; `slots[i]` is the window at
    /// `next_start + i * hop`. Windows past the end of `slots` are empty.
    next_start: Millis,
    slots: VecDeque<Slot>,
}

/// Spare slots kept for reuse; slots with big id sets or expiry lists are freed instead,
/// so the pool never holds more than this many small ones.
const POOL_MAX: usize = 4096;
const POOL_CAPACITY_MAX: usize = 1024;

/// Incremental windowing over one stream (one input file, or one Kafka partition).
pub struct WindowEngine {
    spec: WindowSpec,
    sample_limit: usize,
    /// `None` is −∞.
    watermark: Option<Millis>,
    max_event: Option<Millis>,
    index: FxHashMap<Box<str>, usize>,
    topics: Vec<TopicWindows>,
    /// Indices into `topics`, sorted by name, so output order is deterministic.
    by_name: Vec<usize>,
    /// Earliest `next_start + size` over all topics: the next window end that can close.
    next_close: Option<Millis>,
    pool: Vec<Slot>,
    stats: WindowStats,
}

impl WindowEngine {
    pub fn new(spec: WindowSpec) -> Self {
        Self {
            spec,
            sample_limit: 0,
            watermark: None,
            max_event: None,
            index: FxHashMap::default(),
            topics: Vec::new(),
            by_name: Vec::new(),
            next_close: None,
            pool: Vec::new(),
            stats: WindowStats::default(),
        }
    }

    /// Keep up to `n` sample posts (text, URL) per window in the emitted counts, at most
    /// [`limits::MAX_SAMPLES`]; each text is cut to [`limits::SAMPLE_TEXT_BYTES`].
    pub fn with_samples(mut self, n: usize) -> Self {
        self.sample_limit = n.min(limits::MAX_SAMPLES);
        self
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }
    pub fn watermark(&self) -> Option<Millis> {
        self.watermark
    }
    pub fn stats(&self) -> WindowStats {
        self.stats
    }
    /// Post ids currently remembered for de-duplication (those counted in open windows).
    pub fn tracked_ids(&self) -> usize {
        self.topics
            .iter()
            .map(|t| t.ids.len() + t.slots.iter().map(|s| s.seen.len()).sum::<usize>())
            .sum()
    }

    /// Number of windows currently holding state (for metrics and memory bounds).
    pub fn open_windows(&self) -> usize {
        self.topics.iter().map(|t| t.slots.len()).sum()
    }

    /// The smallest `seq` counted in a window that is still open: re-reading the input
    /// from there into an engine [restored](Self::restore) from a [`checkpoint`]
    /// (Self::checkpoint) taken now rebuilds exactly the open windows. `None` when no
    /// open window holds a mention (resume after the last one read).
    pub fn resume_seq(&self) -> Option<u64> {
        self.topics
            .iter()
            .flat_map(|t| t.slots.iter())
            .map(|s| s.min_seq)
            .min()
            .filter(|&m| m != u64::MAX)
    }

    /// The state to persist at a commit point (see [`Checkpoint`]).
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            watermark: self.watermark,
            max_event: self.max_event,
            topics: self
                .by_name
                .iter()
                .map(|&i| (self.topics[i].name.clone(), self.topics[i].next_start))
                .collect(),
        }
    }

    /// An engine that continues from `cp`: windows it recorded as emitted are not emitted
    /// again, and every topic it knew keeps producing its windows, zero counts included.
    pub fn restore(spec: WindowSpec, cp: &Checkpoint) -> Self {
        let mut e = Self::new(spec);
        e.watermark = cp.watermark;
        e.max_event = cp.max_event;
        for (name, next_start) in &cp.topics {
            let i = e.topic_index(name, *next_start);
            let end = e.topics[i].next_start + spec.size();
            e.next_close = Some(e.next_close.map_or(end, |c| c.min(end)));
        }
        e
    }

    /// Feed one mention; windows it closes are appended to `out`.
    pub fn push(&mut self, m: MentionRef<'_>, out: &mut Vec<WindowCount>) -> Outcome {
        self.stats.mentions += 1;
        let t = m.event_time;
        self.max_event = Some(self.max_event.map_or(t, |x| x.max(t)));
        // Steps 1 and 2: advance the watermark, close what it passed.
        self.raise_watermark(t.saturating_sub(self.spec.lateness()), out);

        // Step 3: the open windows containing t are the starts in [lo, hi].
        let (size, hop) = (self.spec.size(), self.spec.hop());
        let hi = self.spec.last_start_at(t);
        let mut lo = hi - (self.spec.overlap() - 1) * hop;
        if let Some(w) = self.watermark {
            lo = lo.max(
                self.spec
                    .last_start_at(w.saturating_sub(size))
                    .saturating_add(hop),
            );
        }
        if lo > hi {
            self.stats.late += 1;
            return Outcome::Late;
        }

        let i = self.topic_index(m.topic, lo);
        let topic = &mut self.topics[i];
        if lo < topic.next_start {
            // Only possible before the topic's first window closed: its windows now begin
            // earlier (an out-of-order mention within the lateness bound).
            for _ in 0..(topic.next_start - lo) / hop {
                topic.slots.push_front(take_slot(&mut self.pool));
            }
            topic.next_start = lo;
        }
        let last = ((hi - topic.next_start) / hop) as usize;
        while topic.slots.len() <= last {
            topic.slots.push_back(take_slot(&mut self.pool));
        }
        let key = xxhash_rust::xxh3::xxh3_128(m.id.as_bytes());
        let mut counted = false;
        let mut count_in = |slots: &mut VecDeque<Slot>, s: Millis, next_start: Millis| {
            let slot = &mut slots[((s - next_start) / hop) as usize];
            slot.count += 1;
            slot.min_seq = slot.min_seq.min(m.seq);
            counted = true;
            if slot.samples.len() < self.sample_limit {
                // Bounded here whatever wrote the mention, so a window count stays far
                // below the bus's message limit (see `limits`).
                slot.samples.push(Sample {
                    text: limits::sample_text(m.text),
                    url: m
                        .url
                        .filter(|u| u.len() <= limits::MAX_URL_BYTES)
                        .map(str::to_owned),
                });
            }
        };
        if hi == lo && self.spec.overlap() == 1 {
            if topic.slots[last].seen.insert(key) {
                count_in(&mut topic.slots, lo, topic.next_start);
            }
        } else if let Some(e) = match topic.ids.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Ranges::One(lo, hi));
                let mut s = lo;
                while s <= hi {
                    count_in(&mut topic.slots, s, topic.next_start);
                    s += hop;
                }
                Some(hi)
            }
            std::collections::hash_map::Entry::Occupied(mut o) => {
                let before = o.get().max_hi();
                let mut run: Option<(Millis, Millis)> = None;
                let mut s = lo;
                while s <= hi {
                    if !o.get().covers(s) {
                        count_in(&mut topic.slots, s, topic.next_start);
                        run = Some(run.map_or((s, s), |(a, _)| (a, s)));
                    } else if let Some((a, b)) = run.take() {
                        o.get_mut().add(a, b, hop);
                    }
                    s += hop;
                }
                if let Some((a, b)) = run {
                    o.get_mut().add(a, b, hop);
                }
                let after = o.get().max_hi();
                (after > before).then_some(after)
            }
        } {
            topic.slots[((e - topic.next_start) / hop) as usize]
                .expiring
                .push(key);
        }
        let end = topic.next_start + size;
        self.next_close = Some(self.next_close.map_or(end, |c| c.min(end)));
        if counted {
            self.stats.counted += 1;
            Outcome::Counted
        } else {
            self.stats.duplicates += 1;
            Outcome::Duplicate
        }
    }

    /// Advance the watermark by wall-clock time during silence (a live service's
    /// `idle_timeout`): as if an event at `now` had been seen, without counting one.
    pub fn advance_to(&mut self, now: Millis, out: &mut Vec<WindowCount>) {
        self.max_event = Some(self.max_event.map_or(now, |x| x.max(now)));
        self.raise_watermark(now.saturating_sub(self.spec.lateness()), out);
    }

    /// End of a finite input: close every open window (those starting at or before the
    /// latest event time). Later mentions are all late.
    pub fn flush(&mut self, out: &mut Vec<WindowCount>) {
        if let Some(max_start) = self.max_event {
            self.close(Millis::MAX, max_start, out);
        }
        self.watermark = Some(Millis::MAX);
    }

    fn raise_watermark(&mut self, w: Millis, out: &mut Vec<WindowCount>) {
        if self.watermark.is_some_and(|cur| cur >= w) {
            return;
        }
        self.watermark = Some(w);
        if self.next_close.is_some_and(|end| end <= w) {
            self.close(w, Millis::MAX, out);
        }
    }

    /// Emit, in order of window end then topic name, every window ending at or before
    /// `limit` and starting at or before `max_start`.
    fn close(&mut self, limit: Millis, max_start: Millis, out: &mut Vec<WindowCount>) {
        let (size, hop) = (self.spec.size(), self.spec.hop());
        while let Some(end) = self.next_close {
            if end > limit || end - size > max_start {
                break;
            }
            let mut next: Option<Millis> = None;
            for &i in &self.by_name {
                let topic = &mut self.topics[i];
                if topic.next_start + size == end {
                    let mut slot = topic.slots.pop_front().unwrap_or_default();
                    for key in slot.expiring.drain(..) {
                        if topic
                            .ids
                            .get(&key)
                            .is_some_and(|r| r.max_hi() <= topic.next_start)
                        {
                            topic.ids.remove(&key);
                        }
                    }
                    out.push(WindowCount {
                        topic: topic.name.clone(),
                        window_start: from_millis(topic.next_start),
                        window_end: from_millis(end),
                        count: slot.count,
                        samples: Vec::new(),
                    });
                    if let Some(last) = out.last_mut() {
                        last.samples = recycle(&mut self.pool, slot);
                    }
                    self.stats.windows += 1;
                    topic.next_start += hop;
                }
                let e = topic.next_start + size;
                next = Some(next.map_or(e, |n| n.min(e)));
            }
            self.next_close = next;
        }
    }

    fn topic_index(&mut self, name: &str, first_start: Millis) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.topics.len();
        self.topics.push(TopicWindows {
            name: name.to_owned(),
            next_start: first_start,
            ids: FxHashMap::default(),
            slots: VecDeque::new(),
        });
        self.index.insert(name.into(), i);
        let topics = &self.topics;
        let pos = self
            .by_name
            .partition_point(|&j| topics[j].name.as_str() < name);
        self.by_name.insert(pos, i);
        i
    }
}

fn take_slot(pool: &mut Vec<Slot>) -> Slot {
    pool.pop().unwrap_or_default()
}

/// Return a closed window's slot to the pool, handing back its samples.
fn recycle(pool: &mut Vec<Slot>, mut slot: Slot) -> Vec<Sample> {
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
