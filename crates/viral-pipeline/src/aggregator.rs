//! Aggregator stage: mentions from the bus go through the core windowing engine; each
//! window it closes is written to the store (idempotent upsert) and published on the
//! counts topic. When no mention has arrived for `idle_timeout`, the watermark follows the
//! clock so windows close during silence, and detectors see the quiet too.
//!
//! Each bus partition is its own stream with its own engine and watermark (DESIGN.md),
//! and its own silence: a partition is quiet once it has delivered no mention for
//! `idle_timeout` since it was assigned *and* the bus says nothing is waiting in it. A
//! backlog that is slow to arrive (a rebalance, a broker outage, a successor still
//! re-reading) is not silence; closing windows on it would cut their counts short.
//!
//! Exactness under kill -9 rests on one rule: what a partition emitted and how far it got
//! are committed together ([`Subscription::commit`]). The offset committed is the first
//! one an open window still depends on ([`WindowEngine::resume_seq`]) and the engine's
//! [`Checkpoint`] rides with it; a successor restores the checkpoint, re-reads from that
//! offset, rebuilds exactly the open windows and emits nothing twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use viral_bus::{
    Assignment, Bus, BusError, Event, Message, Progress, Record, Subscription, TopicNames,
};
use viral_core::window::{Checkpoint, MentionRef, Outcome, WindowEngine, WindowSpec};
use viral_core::{Mention, WindowCount};
use viral_runtime::clock::SharedClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::{CommitLabel, Metrics, PartitionLabel, StageLabel, StoreLabel};
use viral_store::Store;

use crate::deadletter;

const STAGE: &str = "aggregator";

#[derive(Debug, Clone)]
pub struct Settings {
    pub spec: WindowSpec,
    pub idle_timeout: Duration,
    pub samples: usize,
    /// How often progress without closed windows (quiet or poison-only partitions) is
    /// committed, with any pending dead letters.
    pub commit_interval: Duration,
    pub topics: TopicNames,
    /// Consumer group on the mentions topic.
    pub group: String,
}

/// One owned partition's stream.
struct Stream {
    engine: WindowEngine,
    /// Offset after the last message read.
    next_offset: i64,
    /// The resume offset last committed.
    committed: i64,
    /// Dead letters waiting for the next commit.
    letters: Vec<Record>,
    /// Since when the partition has delivered no mention (or since it was assigned).
    quiet_since: Instant,
}

impl Stream {
    fn fresh(settings: &Settings, offset: i64) -> Self {
        Self {
            engine: WindowEngine::new(settings.spec).with_samples(settings.samples),
            next_offset: offset,
            committed: offset,
            letters: Vec::new(),
            quiet_since: Instant::now(),
        }
    }

    /// Rebuild from what the previous owner committed.
    fn resume(settings: &Settings, a: &Assignment) -> Self {
        let offset = a.offset.unwrap_or(0);
        let Some(text) = &a.checkpoint else {
            return Self::fresh(settings, offset);
        };
        match serde_json::from_str::<Checkpoint>(text) {
            Ok(cp) => Self {
                engine: WindowEngine::restore(settings.spec, &cp).with_samples(settings.samples),
                ..Self::fresh(settings, offset)
            },
            Err(e) => {
                // Not ours (another tool committed for this group) or from an
                // incompatible version: count on, but say that windows may repeat.
                tracing::error!(partition = a.partition, error = %e, "unreadable checkpoint; starting the partition's windows afresh");
                Self::fresh(settings, offset)
            }
        }
    }

    /// Where a restart must resume: the first offset an open window depends on, or after
    /// the last message read when no open window holds one.
    fn resume_offset(&self) -> i64 {
        self.engine.resume_seq().map_or(self.next_offset, |s| {
            i64::try_from(s).unwrap_or(self.next_offset)
        })
    }

    fn progress(&self, partition: i32) -> Progress {
        Progress {
            partition,
            offset: self.resume_offset(),
            checkpoint: serde_json::to_string(&self.engine.checkpoint()).ok(),
        }
    }

    fn dirty(&self) -> bool {
        !self.letters.is_empty() || self.resume_offset() != self.committed
    }
}

pub struct Aggregator {
    bus: Arc<dyn Bus>,
    store: Arc<dyn Store>,
    clock: SharedClock,
    metrics: Metrics,
    health: Health,
    settings: Settings,
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
        let mut backoff = Duration::from_millis(200);
        loop {
            let stop = match self
                .bus
                .subscribe(&self.settings.topics.mentions, &self.settings.group)
                .await
            {
                Ok(sub) => self.consume(sub, &shutdown).await,
                Err(e) => Stop::Failed(e),
            };
            match stop {
                Stop::Done => return Ok(()),
                Stop::Failed(e) => {
                    self.health.set("bus", false);
                    self.metrics
                        .restarts
                        .get_or_create(&StageLabel { stage: STAGE })
                        .inc();
                    tracing::warn!(error = %e, retry_in = ?backoff, "bus failed; resuming from the last commit");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn consume(&self, mut sub: Box<dyn Subscription>, shutdown: &CancellationToken) -> Stop {
        let mut streams: BTreeMap<i32, Stream> = BTreeMap::new();
        let mut closed = Vec::new();
        let tick = (self.settings.idle_timeout / 4)
            .min(self.settings.commit_interval)
            .max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_commit = Instant::now();
        let stage = StageLabel { stage: STAGE };
        let result = loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    // Record how far we got, so a successor re-reads as little as
                    // possible; open windows stay open (they are not complete).
                    break self.commit_dirty(&mut *sub, &mut streams).await;
                }
                event = sub.next() => match event {
                    Ok(Event::Message(msg)) => {
                        let started = Instant::now();
                        self.metrics.messages_in.get_or_create(&stage).inc();
                        let stream = streams
                            .entry(msg.partition)
                            .or_insert_with(|| Stream::fresh(&self.settings, msg.offset));
                        stream.next_offset = msg.offset + 1;
                        if self.handle(stream, &msg, &mut closed) {
                            stream.quiet_since = Instant::now();
                        }
                        if !closed.is_empty() {
                            if let Err(e) = self.emit(&mut *sub, msg.partition, stream, &mut closed, shutdown).await {
                                break Err(e);
                            }
                        }
                        self.metrics.processing_seconds.get_or_create(&stage)
                            .observe(started.elapsed().as_secs_f64());
                    }
                    Ok(Event::Assigned(list)) => {
                        for a in &list {
                            tracing::info!(partition = a.partition, offset = ?a.offset, restored = a.checkpoint.is_some(), "partition assigned");
                            streams.insert(a.partition, Stream::resume(&self.settings, a));
                        }
                        self.health.set("bus", true);
                    }
                    Ok(Event::Revoked(partitions)) => {
                        let mut lost = BTreeMap::new();
                        for p in &partitions {
                            if let Some(s) = streams.remove(p) {
                                lost.insert(*p, s);
                            }
                            self.metrics.consumer_lag.remove(&PartitionLabel { stage: STAGE, partition: *p });
                        }
                        tracing::info!(?partitions, "partitions revoked");
                        if let Err(e) = self.commit_dirty(&mut *sub, &mut lost).await {
                            break Err(e);
                        }
                    }
                    Err(BusError::Closed) => break Ok(()),
                    Err(e) => break Err(e),
                },
                _ = ticker.tick() => {
                    let lag: BTreeMap<i32, i64> = sub.lag().into_iter().collect();
                    let now = self.clock.now_ms();
                    let mut failed = None;
                    for (&partition, stream) in streams.iter_mut() {
                        let caught_up = lag.get(&partition).is_some_and(|l| *l <= 0);
                        if !caught_up || stream.quiet_since.elapsed() < self.settings.idle_timeout {
                            continue;
                        }
                        stream.engine.advance_to(now, &mut closed);
                        if !closed.is_empty() {
                            if let Err(e) = self.emit(&mut *sub, partition, stream, &mut closed, shutdown).await {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    if let Some(e) = failed {
                        break Err(e);
                    }
                    if last_commit.elapsed() >= self.settings.commit_interval {
                        last_commit = Instant::now();
                        if let Err(e) = self.commit_dirty(&mut *sub, &mut streams).await {
                            break Err(e);
                        }
                    }
                    for (p, lag) in lag {
                        self.metrics.consumer_lag.get_or_create(&PartitionLabel { stage: STAGE, partition: p }).set(lag);
                    }
                }
            }
            self.observe(&streams);
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

    /// Feed one message to its stream's engine; false if it was dead-lettered.
    fn handle(&self, stream: &mut Stream, msg: &Message, closed: &mut Vec<WindowCount>) -> bool {
        let mention: Mention = match deadletter::decode(msg) {
            Ok(m) => m,
            Err((reason, error)) => {
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
            .push(MentionRef::of(&mention, msg.offset.max(0) as u64), closed);
        match outcome {
            Outcome::Late => self.metrics.late_mentions.inc(),
            Outcome::Duplicate => self.metrics.duplicate_mentions.inc(),
            Outcome::Counted => 0,
        };
        true
    }

    /// Store closed windows, then publish them with the partition's progress in one
    /// commit; empties `closed`.
    async fn emit(
        &self,
        sub: &mut dyn Subscription,
        partition: i32,
        stream: &mut Stream,
        closed: &mut Vec<WindowCount>,
        shutdown: &CancellationToken,
    ) -> Result<(), BusError> {
        if !self.store_counts(closed, shutdown).await {
            // Stopped while the store was down: commit nothing, a successor re-emits.
            closed.clear();
            return Err(BusError::Closed);
        }
        let mut records = std::mem::take(&mut stream.letters);
        let n = closed.len();
        for wc in closed.drain(..) {
            match serde_json::to_vec(&wc) {
                Ok(payload) => records.push(Record {
                    topic: self.settings.topics.counts.clone(),
                    key: wc.topic,
                    payload,
                }),
                Err(e) => tracing::error!(error = %e, "cannot encode a window count"),
            }
        }
        let progress = stream.progress(partition);
        let offset = progress.offset;
        let sent = records.len() as u64;
        self.commit(sub, records, vec![progress]).await?;
        stream.committed = offset;
        self.metrics
            .messages_out
            .get_or_create(&StageLabel { stage: STAGE })
            .inc_by(sent);
        self.metrics.windows_closed.inc_by(n as u64);
        Ok(())
    }

    /// Commit the progress (and dead letters) of every stream that moved since its last
    /// commit.
    async fn commit_dirty(
        &self,
        sub: &mut dyn Subscription,
        streams: &mut BTreeMap<i32, Stream>,
    ) -> Result<(), BusError> {
        let mut records = Vec::new();
        let mut progress = Vec::new();
        for (&p, s) in streams.iter_mut() {
            if s.dirty() {
                records.append(&mut s.letters);
                progress.push(s.progress(p));
            }
        }
        if progress.is_empty() {
            return Ok(());
        }
        let sent = records.len() as u64;
        self.commit(sub, records, progress.clone()).await?;
        for p in progress {
            if let Some(s) = streams.get_mut(&p.partition) {
                s.committed = p.offset;
            }
        }
        self.metrics
            .messages_out
            .get_or_create(&StageLabel { stage: STAGE })
            .inc_by(sent);
        Ok(())
    }

    async fn commit(
        &self,
        sub: &mut dyn Subscription,
        records: Vec<Record>,
        progress: Vec<Progress>,
    ) -> Result<(), BusError> {
        let result = sub.commit(records, progress).await;
        let label = CommitLabel {
            stage: STAGE,
            result: if result.is_ok() { "ok" } else { "error" },
        };
        self.metrics.commits.get_or_create(&label).inc();
        result
    }

    /// Counts are the product: retry the store until it accepts them or we are stopped.
    async fn store_counts(&self, closed: &[WindowCount], shutdown: &CancellationToken) -> bool {
        let size = Duration::from_millis(self.settings.spec.size() as u64);
        let mut backoff = Duration::from_millis(100);
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
                    tracing::warn!(error = %e, retry_in = ?backoff, "store rejected window counts");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
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
