//! Aggregator stage: mentions from the bus go through the core windowing engine; each
//! window it closes is written to the store (idempotent upsert) and published on the
//! counts topic. When no mention has arrived for `idle_timeout`, the watermark follows the
//! clock so windows close during silence, and detectors see the quiet too.
//!
//! Each bus partition is its own stream with its own engine and watermark
//! (docs/ARCHITECTURE.md, "Windowing", rule 8), and its own silence: a partition is quiet once it has delivered no mention for
//! `idle_timeout` since it was assigned *and* the bus says nothing is waiting in it. A
//! backlog that is slow to arrive (a rebalance, a broker outage, a successor still
//! re-reading) is not silence; closing windows on it would cut their counts short.
//!
//! Exactness under kill -9 rests on one rule: what a partition emitted and how far it got
//! are committed together ([`Subscription::commit`]). Closed windows wait in their stream
//! until the next commit — every `commit_interval`, or sooner when many are pending — so
//! a backlog costs one transaction per interval, not one per window. The offset committed is the first
//! one an open window still depends on ([`WindowEngine::resume_seq`]) and the engine's
//! [`Checkpoint`] rides with it (with how far dead letters went); a successor restores
//! the checkpoint, re-reads from that offset, rebuilds exactly the open windows and emits
//! nothing twice — windows nor dead letters.
//!
//! No record can make a commit fail over and over (which would restart the stage from
//! the same commit forever): samples are bounded in the engine, and every record is
//! fitted to the bus before the commit and redone without what the bus still refuses
//! (`outgoing`).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use viral_bus::{
    Bus, BusError, Event, Message, Progress, Record, Refusal, Subscription, TopicNames,
};
use viral_core::window::{MentionRef, Outcome, WindowSpec};
use viral_core::{Mention, WindowCount};
use viral_runtime::backoff::{Backoff, Pause};
use viral_runtime::clock::SharedClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::{CommitLabel, Metrics, PartitionLabel, StageLabel, StoreLabel};
use viral_store::Store;

use crate::deadletter::{self, Reason, Unsent};
use crate::outgoing;

mod stream;
use stream::Stream;

const STAGE: &str = "aggregator";
/// Closed windows and dead letters held before a commit is forced: bounds memory and the
/// transaction's size when a backlog closes windows faster than the commit interval.
const MAX_PENDING: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub spec: WindowSpec,
    pub idle_timeout: Duration,
    pub samples: usize,
    /// How often closed windows, dead letters and progress are committed (one
    /// transaction for all partitions): the longest a closed window waits to be published.
    pub commit_interval: Duration,
    pub topics: TopicNames,
    /// Consumer group on the mentions topic.
    pub group: String,
}

pub struct Aggregator {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    metrics: Metrics,
    health: Health,
    settings: Settings,
}

/// A commit started and not yet awaited to its end.
struct InFlight<'a> {
    commit: Pin<Box<dyn Future<Output = Result<(), BusError>> + Send + 'a>>,
    /// The resume offset it records, per partition.
    offsets: Vec<(i32, i64)>,
    sent: u64,
    windows: u64,
    /// What it hands to the bus, kept to commit again in place of a commit the bus
    /// refuses for good (a record too large for the broker): once, with dead letters
    /// in place of the records it named.
    records: Vec<Record>,
    progress: Vec<Progress>,
    redone: bool,
}

/// What starting a commit from inside the consume loop needs: the subscription, the
/// commit in flight, and the loop's count of what waits and when it last committed.
struct Commits<'s, 'a> {
    sub: &'s mut dyn Subscription,
    inflight: &'s mut Option<InFlight<'a>>,
    pending: &'s mut usize,
    last: &'s mut Instant,
}

/// Why a run ended.
enum Stop {
    /// Shut down or the bus closed: done.
    Done,
    /// The bus failed: resubscribe and resume from the last commit.
    Failed(BusError),
}

impl Aggregator {
    pub fn new(
        bus: Arc<dyn Bus>,
        store: Arc<dyn Store>,
        clock: SharedClock,
        metrics: Metrics,
        health: Health,
        settings: Settings,
    ) -> Self {
        Self {
            bus,
            store,
            clock,
            metrics,
            health,
            settings,
        }
    }

    /// Consume mentions until `shutdown` or the bus closes. A bus failure (a broker gone
    /// too long, a failed transaction) drops the in-memory state and resumes from the
    /// last commit — the same path as a crash, so it is exact too.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut backoff = Backoff::exponential(Duration::from_millis(200), Duration::from_secs(10))
            .with_jitter(0.0);
        loop {
            let stop = match self
                .bus
                .subscribe(&self.settings.topics.mentions, &self.settings.group)
                .await
            {
                Ok(sub) => self.consume(sub, &shutdown).await,
                Err(e) => Stop::Failed(e),
            };
            let e = match stop {
                Stop::Done => return Ok(()),
                Stop::Failed(e) => e,
            };
            self.health.set("bus", false);
            self.metrics
                .restarts
                .get_or_create(&StageLabel { stage: STAGE })
                .inc();
            let delay = backoff.next_delay();
            tracing::warn!(error = %e, retry_in = ?delay, "bus failed; resuming from the last commit");
            if !Pause::real().wait(delay, &shutdown).await {
                return Ok(());
            }
        }
    }

    async fn consume(&self, mut sub: Box<dyn Subscription>, shutdown: &CancellationToken) -> Stop {
        let mut streams: BTreeMap<i32, Stream> = BTreeMap::new();
        // At most one commit in flight, overlapping with reading: a backlog is not held
        // up by the transaction round trips.
        let mut inflight: Option<InFlight<'_>> = None;
        let mut pending = 0usize;
        let tick = (self.settings.idle_timeout / 4)
            .min(self.settings.commit_interval)
            .max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_commit = Instant::now();
        let stage = StageLabel { stage: STAGE };
        // Per-message metrics, looked up once.
        let messages_in = self.metrics.messages_in.get_or_create(&stage).clone();
        let processing = self
            .metrics
            .processing_seconds
            .get_or_create(&stage)
            .clone();
        let result: Result<(), BusError> = loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // Record how far we got, so a successor re-reads as little as
                    // possible; open windows stay open (they are not complete).
                    break self.commit_now(&mut *sub, &mut inflight, &mut streams, shutdown).await;
                }
                done = async { inflight.as_mut().map(|f| f.commit.as_mut()).expect("guarded").await }, if inflight.is_some() => {
                    if let Some(f) = inflight.take() {
                        match self.finished(&mut *sub, f, done, &mut streams) {
                            Ok(redo) => inflight = redo,
                            Err(e) => break Err(e),
                        }
                    }
                }
                event = sub.next() => match event {
                    Ok(Event::Message(msg)) => {
                        let started = Instant::now();
                        messages_in.inc();
                        let stream = streams
                            .entry(msg.partition)
                            .or_insert_with(|| Stream::fresh(&self.settings, msg.offset));
                        stream.next_offset = msg.offset + 1;
                        let before = stream.letters.len();
                        if self.handle(stream, &msg) {
                            stream.quiet_since = Instant::now();
                        }
                        pending += stream.letters.len() - before;
                        processing.observe(started.elapsed().as_secs_f64());
                        let mut commits = Commits { sub: &mut *sub, inflight: &mut inflight, pending: &mut pending, last: &mut last_commit };
                        if let Err(e) = self.drain(msg.partition, &mut streams, &mut commits, shutdown).await {
                            break Err(e);
                        }
                    }
                    Ok(Event::Assigned(list)) => {
                        for a in &list {
                            tracing::info!(partition = a.partition, offset = ?a.offset, restored = a.checkpoint.is_some(), "partition assigned");
                            streams.insert(a.partition, Stream::resume(&self.settings, a));
                        }
                        self.health.set("bus", true);
                    }
                    Ok(Event::Revoked(partitions)) => {
                        // Everything about these partitions must be committed before the
                        // next `next()` hands them on.
                        if let Err(e) = self.settle(&mut *sub, &mut inflight, &mut streams).await {
                            break Err(e);
                        }
                        let mut lost = BTreeMap::new();
                        for p in &partitions {
                            if let Some(s) = streams.remove(p) {
                                lost.insert(*p, s);
                            }
                            self.metrics.consumer_lag.remove(&PartitionLabel { stage: STAGE, partition: *p });
                        }
                        tracing::info!(?partitions, "partitions revoked");
                        if let Err(e) = self.commit_now(&mut *sub, &mut None, &mut lost, shutdown).await {
                            break Err(e);
                        }
                    }
                    Err(BusError::Closed) => break Ok(()),
                    Err(e) => break Err(e),
                },
                _ = ticker.tick() => {
                    let lag: BTreeMap<i32, i64> = sub.lag().into_iter().collect();
                    let now = self.clock.now_ms();
                    let mut advanced = Vec::new();
                    for (&partition, stream) in streams.iter_mut() {
                        let caught_up = lag.get(&partition).is_some_and(|l| *l <= 0);
                        if caught_up && stream.quiet_since.elapsed() >= self.settings.idle_timeout {
                            stream.engine.advance_to(now);
                            advanced.push(partition);
                        }
                    }
                    // The windows the clock closed, bounded like those a mention closes (a
                    // restart after a long outage closes them by the thousand).
                    let mut failed = None;
                    for partition in advanced {
                        let mut commits = Commits { sub: &mut *sub, inflight: &mut inflight, pending: &mut pending, last: &mut last_commit };
                        if let Err(e) = self.drain(partition, &mut streams, &mut commits, shutdown).await {
                            failed = Some(e);
                            break;
                        }
                    }
                    if let Some(e) = failed {
                        break Err(e);
                    }
                    if inflight.is_none() && last_commit.elapsed() >= self.settings.commit_interval {
                        last_commit = Instant::now();
                        pending = 0;
                        inflight = self.start_commit(&mut *sub, &mut streams, shutdown);
                    }
                    for (p, lag) in lag {
                        self.metrics.consumer_lag.get_or_create(&PartitionLabel { stage: STAGE, partition: p }).set(lag);
                    }
                    self.observe(&streams);
                }
            }
        };
        match result {
            Ok(()) => Stop::Done,
            Err(_) if shutdown.is_cancelled() => Stop::Done,
            Err(e) => Stop::Failed(e),
        }
    }

    /// Gauges over all partitions: open windows in total, the laggard's watermark.
    fn observe(&self, streams: &BTreeMap<i32, Stream>) {
        let open: usize = streams.values().map(|s| s.engine.open_windows()).sum();
        self.metrics.windows_open.set(open as i64);
        if let Some(w) = streams.values().filter_map(|s| s.engine.watermark()).min() {
            self.metrics.watermark_seconds.set(w as f64 / 1000.0);
        }
    }

    /// Move the windows `partition`'s engine has closed into its pending list, however
    /// many one mention or idle advance closed: past [`MAX_PENDING`] waiting, a commit
    /// is started (once the one in flight has finished) and the rest follow, so memory
    /// holds at most two batches. A commit waits until no due window still holds a
    /// mention ([`WindowEngine::settled`]): then its checkpoint is exact, and a long run
    /// of empty windows can be committed in as many batches as it takes.
    async fn drain<'a>(
        &'a self,
        partition: i32,
        streams: &mut BTreeMap<i32, Stream>,
        commits: &mut Commits<'_, 'a>,
        shutdown: &'a CancellationToken,
    ) -> Result<(), BusError> {
        loop {
            let Some(stream) = streams.get_mut(&partition) else {
                return Ok(());
            };
            while *commits.pending < MAX_PENDING || !stream.engine.settled() {
                match stream.engine.pop_closed() {
                    Some(wc) => {
                        stream.pending.push(wc);
                        *commits.pending += 1;
                    }
                    None => return Ok(()),
                }
            }
            *commits.last = Instant::now();
            *commits.pending = 0;
            self.settle(&mut *commits.sub, commits.inflight, streams)
                .await?;
            *commits.inflight = self.start_commit(&mut *commits.sub, streams, shutdown);
        }
    }

    /// Feed one message to its stream's engine (the windows it closes are then due);
    /// false if it was dead-lettered.
    fn handle(&self, stream: &mut Stream, msg: &Message) -> bool {
        let mention: Mention = match deadletter::decode(msg) {
            Ok(m) => m,
            Err(_) if msg.offset < stream.lettered_to => return false,
            Err((reason, error)) => {
                stream.lettered_to = msg.offset + 1;
                let topic = &self.settings.topics.deadletter;
                stream.letters.extend(deadletter::letter(
                    &self.metrics,
                    STAGE,
                    topic,
                    msg,
                    reason,
                    &error,
                ));
                return false;
            }
        };
        let outcome = stream
            .engine
            .push(MentionRef::of(&mention, msg.offset.max(0) as u64));
        match outcome {
            Outcome::Late => self.metrics.late_mentions.inc(),
            Outcome::Duplicate => self.metrics.duplicate_mentions.inc(),
            Outcome::Counted => 0,
        };
        true
    }

    /// Take the pending windows, dead letters and progress of every stream that moved
    /// since its last commit, as one commit: the windows go to the store first, then
    /// everything to the bus in one transaction. Nothing happens until it is awaited.
    fn start_commit<'a>(
        &'a self,
        sub: &mut dyn Subscription,
        streams: &mut BTreeMap<i32, Stream>,
        shutdown: &'a CancellationToken,
    ) -> Option<InFlight<'a>> {
        // A stream's closed windows always travel with its checkpoint, which says they
        // were emitted.
        let mut closed: Vec<WindowCount> = Vec::new();
        let mut records = Vec::new();
        let mut progress = Vec::new();
        for (&p, s) in streams.iter_mut() {
            if s.dirty() {
                closed.append(&mut s.pending);
                records.append(&mut s.letters);
                progress.push(s.progress(p));
            }
        }
        if progress.is_empty() {
            return None;
        }
        let windows = closed.len() as u64;
        let limit = self.bus.max_message_bytes();
        for wc in &mut closed {
            match outgoing::encode_count(wc, limit) {
                Ok(payload) => records.push(Record {
                    topic: self.settings.topics.counts.clone(),
                    key: wc.topic.clone(),
                    payload,
                }),
                Err(e) => tracing::error!(error = %e, "cannot encode a window count"),
            }
        }
        outgoing::fit(&mut records, limit, self);
        let sent = records.len() as u64;
        let offsets = progress.iter().map(|p| (p.partition, p.offset)).collect();
        let publish = sub.commit(records.clone(), progress.clone());
        let commit = Box::pin(async move {
            if !closed.is_empty() && !self.store_counts(&closed, shutdown).await {
                // Stopped while the store was down: commit nothing, a successor re-emits.
                return Err(BusError::Closed);
            }
            publish.await
        });
        Some(InFlight {
            commit,
            offsets,
            sent,
            windows,
            records,
            progress,
            redone: false,
        })
    }

    /// `f` again, without what the bus refused for good (see `outgoing`). The store
    /// already has the counts; the commit publishes and records progress.
    fn redo<'a>(
        &self,
        sub: &mut dyn Subscription,
        f: InFlight<'a>,
        refused: &[Refusal],
    ) -> InFlight<'a> {
        let mut records = f.records;
        outgoing::replace_refused(&mut records, refused, &self.settings.topics, self);
        let publish = sub.commit(records.clone(), f.progress.clone());
        InFlight {
            commit: publish,
            offsets: f.offsets,
            sent: records.len() as u64,
            windows: f.windows,
            records,
            progress: f.progress,
            redone: true,
        }
    }

    /// Account for a finished commit; a commit the bus refused for good is started again
    /// without what it refused, once, and returned to await.
    fn finished<'a>(
        &self,
        sub: &mut dyn Subscription,
        f: InFlight<'a>,
        result: Result<(), BusError>,
        streams: &mut BTreeMap<i32, Stream>,
    ) -> Result<Option<InFlight<'a>>, BusError> {
        let label = CommitLabel {
            stage: STAGE,
            result: if result.is_ok() { "ok" } else { "error" },
        };
        self.metrics.commits.get_or_create(&label).inc();
        match result {
            Err(BusError::Rejected(refused)) if !f.redone => {
                tracing::warn!(refused = refused.len(), "the bus refused records of a commit for good; committing again with dead letters in their place");
                return Ok(Some(self.redo(sub, f, &refused)));
            }
            result => result?,
        }
        for (partition, offset) in f.offsets {
            if let Some(s) = streams.get_mut(&partition) {
                s.committed = offset;
            }
        }
        self.metrics
            .messages_out
            .get_or_create(&StageLabel { stage: STAGE })
            .inc_by(f.sent);
        self.metrics.windows_closed.inc_by(f.windows);
        Ok(None)
    }

    /// Wait for the commit in flight, if any (and its redo, if it needs one).
    async fn settle(
        &self,
        sub: &mut dyn Subscription,
        inflight: &mut Option<InFlight<'_>>,
        streams: &mut BTreeMap<i32, Stream>,
    ) -> Result<(), BusError> {
        while let Some(mut f) = inflight.take() {
            let result = f.commit.as_mut().await;
            *inflight = self.finished(sub, f, result, streams)?;
        }
        Ok(())
    }

    /// Wait for the commit in flight, then commit everything pending and wait for that.
    async fn commit_now(
        &self,
        sub: &mut dyn Subscription,
        inflight: &mut Option<InFlight<'_>>,
        streams: &mut BTreeMap<i32, Stream>,
        shutdown: &CancellationToken,
    ) -> Result<(), BusError> {
        self.settle(sub, inflight, streams).await?;
        let mut next = self.start_commit(sub, streams, shutdown);
        self.settle(sub, &mut next, streams).await
    }

    /// Counts are the product: retry the store until it accepts them or we are stopped.
    async fn store_counts(&self, closed: &[WindowCount], shutdown: &CancellationToken) -> bool {
        let size = Duration::from_millis(self.settings.spec.size() as u64);
        let mut backoff = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(10))
            .with_jitter(0.0);
        loop {
            match self.store.put_counts(size, closed).await {
                Ok(()) => {
                    self.count_store("ok");
                    self.health.set("store", true);
                    return true;
                }
                Err(e) => {
                    self.count_store("error");
                    self.health.set("store", false);
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?delay, "store rejected window counts");
                    if !Pause::real().wait(delay, shutdown).await {
                        return false;
                    }
                }
            }
        }
    }

    fn count_store(&self, result: &'static str) {
        self.metrics
            .store_operations
            .get_or_create(&StoreLabel {
                op: "put_counts",
                result,
            })
            .inc();
    }
}

impl outgoing::Letters for Aggregator {
    fn letter(&self, r: &Record, reason: Reason, error: &str) -> Option<Record> {
        let out = Unsent {
            topic: &r.topic,
            key: &r.key,
            payload: &r.payload,
        };
        let topic = &self.settings.topics.deadletter;
        deadletter::unsent(&self.metrics, STAGE, topic, out, reason, error)
    }
}
