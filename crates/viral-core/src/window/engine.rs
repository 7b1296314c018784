//! The windowing engine: the watermark rule's three steps per mention (docs/ARCHITECTURE.md,
//! "Windowing", rule 3), done incrementally.
//!
//! Per topic it keeps `next_start` (every window before it has been emitted) and one slot
//! per open window from there on. All topics share one grid of window ends, so closing is a
//! walk over those ends up to the watermark; `next_close` caches the earliest pending end
//! so that a mention which closes nothing costs O(1) here.
//!
//! Closing is pulled, one window at a time ([`WindowEngine::pop_closed`]): a mention or an
//! idle advance that moves the watermark a month ahead only marks the windows it passed as
//! due, and the caller takes them out at its own pace — writing each to a file, or
//! committing them in bounded batches — so memory never depends on how far time jumped.
//! Due windows and the next mention touch disjoint windows (ends at or before the
//! watermark against ends after it), so a mention may even be pushed before they are all
//! taken; they still come out in order of window end, then topic name.
//!
//! De-duplication keys are 128-bit XXH3 hashes of post ids: fixed-size, no allocation per
//! mention, and a collision between two distinct ids of one window has a probability of
//! about n²/2¹²⁹ — far below any hardware error rate at any window size we will see.
//! Tumbling windows keep one id set per window, dropped whole when it closes. Hopping
//! windows instead keep one map per topic from id to the window starts it was counted in
//! (contiguous ranges), so a mention costs one map operation however many windows contain
//! it (a set per window would store each id size/hop times); an id is forgotten when the
//! last window it was counted in closes.

use rustc_hash::FxHashMap;

use super::ranges::Ranges;
use super::slots::{recycle, Slot, Slots};
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
    /// When viral first saw the post, if known: the watermark follows it, less
    /// `max_delay`, so a backdated post cannot reopen the past.
    pub observed_at: Option<Millis>,
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
            observed_at: m.post.observed_at.as_ref().map(crate::time::to_millis),
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

struct TopicWindows {
    name: String,
    /// Ids counted in this topic's open windows.
    ids: FxHashMap<u128, Ranges>,
    /// Start of the first window not yet emitted. Every window from there on is empty
    /// unless `slots` holds it.
    next_start: Millis,
    slots: Slots,
}

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
    /// Position in `by_name` of the next topic to look at for windows ending at
    /// `next_close`, while those are being taken out one by one.
    cursor: usize,
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
            cursor: 0,
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
            .map(|t| t.ids.len() + t.slots.iter().map(|(_, s)| s.seen.len()).sum::<usize>())
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
            .map(|(_, s)| s.min_seq)
            .min()
            .filter(|&m| m != u64::MAX)
    }

    /// Whether no due window (closed, not yet taken out) holds a mention. Only then is a
    /// [`checkpoint`](Self::checkpoint) exact: a successor re-reading the input would
    /// find those mentions late under the restored watermark. Windows that are due and
    /// empty need nothing re-read, so a long run of zero-count windows can be taken out
    /// and committed in as many batches as needed.
    pub fn settled(&self) -> bool {
        let (Some(w), Some(max_start)) = (self.watermark, self.max_event) else {
            return true;
        };
        let size = self.spec.size();
        self.topics.iter().all(|t| {
            t.slots
                .iter()
                .take_while(|(start, _)| start + size <= w && *start <= max_start)
                .all(|(_, s)| s.count == 0)
        })
    }

    /// The state to persist at a commit point (see [`Checkpoint`]); exact when the
    /// engine is [settled](Self::settled).
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

    /// Feed one mention. The windows it closes become due: take them out with
    /// [`pop_closed`](Self::pop_closed) (or [`closed`](Self::closed)) before the next
    /// push to see them in the order the rules emit them.
    pub fn push(&mut self, m: MentionRef<'_>) -> Outcome {
        self.stats.mentions += 1;
        let t = m.event_time;
        self.max_event = Some(self.max_event.map_or(t, |x| x.max(t)));
        // Step 1: advance the watermark (step 2, closing, is pulled by the caller).
        let mut w = t.saturating_sub(self.spec.lateness());
        if let Some(o) = m.observed_at {
            w = w.max(o.saturating_sub(self.spec.max_delay()));
        }
        self.raise_watermark(w);

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
            topic.next_start = lo;
        }
        let key = xxhash_rust::xxh3::xxh3_128(m.id.as_bytes());
        let mut counted = false;
        let pool = &mut self.pool;
        let sample_limit = self.sample_limit;
        let mut count_in = |slot: &mut Slot| {
            slot.count += 1;
            slot.min_seq = slot.min_seq.min(m.seq);
            counted = true;
            if slot.samples.len() < sample_limit {
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
            let slot = topic.slots.get_or_insert(lo, pool);
            if slot.seen.insert(key) {
                count_in(slot);
            }
        } else if let Some(e) = match topic.ids.entry(key) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Ranges::One(lo, hi));
                let mut s = lo;
                while s <= hi {
                    count_in(topic.slots.get_or_insert(s, pool));
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
                        count_in(topic.slots.get_or_insert(s, pool));
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
            if let Some(slot) = topic.slots.get_mut(e) {
                slot.expiring.push(key);
            }
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
    /// `idle_timeout`): as if an event at `now` had been seen, without counting one. The
    /// windows it closes become due, as after a push.
    pub fn advance_to(&mut self, now: Millis) {
        self.max_event = Some(self.max_event.map_or(now, |x| x.max(now)));
        self.raise_watermark(now.saturating_sub(self.spec.lateness()));
    }

    /// End of a finite input: every open window (those starting at or before the latest
    /// event time) becomes due. Later mentions are all late.
    pub fn flush(&mut self) {
        self.watermark = Some(Millis::MAX);
    }

    fn raise_watermark(&mut self, w: Millis) {
        if self.watermark.is_none_or(|cur| cur < w) {
            self.watermark = Some(w);
        }
    }

    /// The next due window, if any: in order of window end, then topic name, every
    /// window ending at or before the watermark and starting at or before the latest
    /// event time. One at a time, so that however many windows one mention closed, the
    /// caller holds only as many as it chooses to.
    pub fn pop_closed(&mut self) -> Option<WindowCount> {
        let (w, max_start) = (self.watermark?, self.max_event?);
        let size = self.spec.size();
        loop {
            let end = self.next_close?;
            if end > w || end - size > max_start {
                return None;
            }
            while let Some(&i) = self.by_name.get(self.cursor) {
                self.cursor += 1;
                if self.topics[i].next_start + size == end {
                    return Some(self.emit(i));
                }
            }
            // Every topic's window ending at `end` is out: on to the next end.
            self.cursor = 0;
            self.next_close = self.topics.iter().map(|t| t.next_start + size).min();
        }
    }

    /// The due windows, taken out as the iterator is advanced (see
    /// [`pop_closed`](Self::pop_closed)).
    pub fn closed(&mut self) -> Closed<'_> {
        Closed(self)
    }

    /// Take out topic `i`'s first window (which is due).
    fn emit(&mut self, i: usize) -> WindowCount {
        let (size, hop) = (self.spec.size(), self.spec.hop());
        let topic = &mut self.topics[i];
        let (count, samples) = match topic.slots.pop_if_first(topic.next_start) {
            Some(mut slot) => {
                for key in slot.expiring.drain(..) {
                    if topic
                        .ids
                        .get(&key)
                        .is_some_and(|r| r.max_hi() <= topic.next_start)
                    {
                        topic.ids.remove(&key);
                    }
                }
                (slot.count, recycle(&mut self.pool, slot))
            }
            // Nothing was counted here: a zero-count window, which costs no state.
            None => (0, Vec::new()),
        };
        let wc = WindowCount {
            topic: topic.name.clone(),
            window_start: from_millis(topic.next_start),
            window_end: from_millis(topic.next_start + size),
            count,
            samples,
        };
        topic.next_start += hop;
        self.stats.windows += 1;
        wc
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
            slots: Slots::default(),
        });
        self.index.insert(name.into(), i);
        let topics = &self.topics;
        let pos = self
            .by_name
            .partition_point(|&j| topics[j].name.as_str() < name);
        self.by_name.insert(pos, i);
        // Positions shifted: look at every topic again for the current end (those
        // already taken out for it have moved on and are skipped).
        self.cursor = 0;
        i
    }
}

/// Iterator over a [`WindowEngine`]'s due windows; see [`WindowEngine::closed`].
pub struct Closed<'a>(&'a mut WindowEngine);

impl Iterator for Closed<'_> {
    type Item = WindowCount;

    fn next(&mut self) -> Option<WindowCount> {
        self.0.pop_closed()
    }
}
