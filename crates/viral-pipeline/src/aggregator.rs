//! Aggregator stage: mentions from the bus go through the core windowing engine; each
//! window it closes is written to the store (idempotent upsert) and published on the
//! counts topic. When no mention has arrived for `idle_timeout`, the watermark follows the
//! clock so windows close during silence, and detectors see the quiet too.
//!
//! Each bus partition is its own stream with its own engine and watermark (DESIGN.md).
//! Progress is committed when windows close, at the first offset an open window still
//! depends on ([`WindowEngine::resume_seq`]), so a restart re-reads exactly what the open
//! windows need.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use viral_bus::{topics, Bus, BusError, Message};
use viral_core::window::{MentionRef, Outcome, WindowEngine, WindowSpec};
use viral_core::{Mention, WindowCount};
use viral_runtime::clock::SharedClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::{Metrics, StageLabel, StoreLabel};
use viral_store::Store;

use crate::deadletter;

const STAGE: &str = "aggregator";

#[derive(Debug, Clone)]
pub struct Settings {
    pub spec: WindowSpec,
    pub idle_timeout: Duration,
    pub samples: usize,
}

/// One partition's stream.
struct Stream {
    engine: WindowEngine,
    /// Offset after the last message read.
    next_offset: i64,
}

impl Stream {
    /// Where a restart must resume: the first offset an open window depends on, or after
    /// the last message read when no open window holds one.
    fn resume_offset(&self) -> i64 {
        self.engine.resume_seq().map_or(self.next_offset, |s| {
            i64::try_from(s).unwrap_or(self.next_offset)
        })
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

    /// Consume mentions until `shutdown` or the bus closes.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), BusError> {
        let mut sub = self
            .bus
            .subscribe(topics::MENTIONS, crate::groups::AGGREGATOR)
            .await?;
        let mut streams: BTreeMap<i32, Stream> = BTreeMap::new();
        let mut closed = Vec::new();
        let mut last_mention = Instant::now();
        let mut idle =
            tokio::time::interval((self.settings.idle_timeout / 4).max(Duration::from_millis(10)));
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stage = StageLabel { stage: STAGE };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                msg = sub.next() => {
                    let Some(msg) = msg else { break };
                    let started = Instant::now();
                    self.metrics.messages_in.get_or_create(&stage).inc();
                    let stream = streams.entry(msg.partition).or_insert_with(|| Stream {
                        engine: WindowEngine::new(self.settings.spec)
                            .with_samples(self.settings.samples),
                        next_offset: 0,
                    });
                    stream.next_offset = msg.offset + 1;
                    if self.handle(&mut stream.engine, &msg, &mut closed).await {
                        last_mention = Instant::now();
                    }
                    if !closed.is_empty() {
                        self.emit(&mut closed, &shutdown).await?;
                        sub.commit(msg.partition, stream.resume_offset()).await?;
                    }
                    self.observe(&streams);
                    self.metrics.processing_seconds.get_or_create(&stage)
                        .observe(started.elapsed().as_secs_f64());
                }
                _ = idle.tick() => {
                    if last_mention.elapsed() >= self.settings.idle_timeout {
                        let now = self.clock.now_ms();
                        for (&partition, stream) in streams.iter_mut() {
                            stream.engine.advance_to(now, &mut closed);
                            if !closed.is_empty() {
                                self.emit(&mut closed, &shutdown).await?;
                                sub.commit(partition, stream.resume_offset()).await?;
                            }
                        }
                        self.observe(&streams);
                    }
                }
            }
        }
        Ok(())
    }

    /// Gauges over all partitions: open windows in total, the laggard's watermark.
    fn observe(&self, streams: &BTreeMap<i32, Stream>) {
        let open: usize = streams.values().map(|s| s.engine.open_windows()).sum();
        self.metrics.windows_open.set(open as i64);
        if let Some(w) = streams.values().filter_map(|s| s.engine.watermark()).min() {
            self.metrics.watermark_seconds.set(w as f64 / 1000.0);
        }
    }

    /// Feed one message to the engine; false if it was dead-lettered.
    async fn handle(
        &self,
        engine: &mut WindowEngine,
        msg: &Message,
        closed: &mut Vec<WindowCount>,
    ) -> bool {
        let mention: Mention = match deadletter::decode(msg) {
            Ok(m) => m,
            Err((reason, error)) => {
                deadletter::send(&*self.bus, &self.metrics, STAGE, msg, reason, &error).await;
                return false;
            }
        };
        let outcome = engine.push(MentionRef::of(&mention, msg.offset.max(0) as u64), closed);
        match outcome {
            Outcome::Late => self.metrics.late_mentions.inc(),
            Outcome::Duplicate => self.metrics.duplicate_mentions.inc(),
            Outcome::Counted => 0,
        };
        true
    }

    /// Write closed windows to the store, then publish them; empties `closed`.
    async fn emit(
        &self,
        closed: &mut Vec<WindowCount>,
        shutdown: &CancellationToken,
    ) -> Result<(), BusError> {
        self.store_counts(closed, shutdown).await;
        let out = StageLabel { stage: STAGE };
        for wc in closed.drain(..) {
            let payload = match serde_json::to_vec(&wc) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode a window count");
                    continue;
                }
            };
            self.bus.publish(topics::COUNTS, &wc.topic, payload).await?;
            self.metrics.messages_out.get_or_create(&out).inc();
            self.metrics.windows_closed.inc();
        }
        Ok(())
    }

    /// Counts are the product: retry the store until it accepts them or we are stopped.
    async fn store_counts(&self, closed: &[WindowCount], shutdown: &CancellationToken) {
        let size = Duration::from_millis(self.settings.spec.size() as u64);
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.put_counts(size, closed).await {
                Ok(()) => {
                    self.count_store("ok");
                    self.health.set("store", true);
                    return;
                }
                Err(e) => {
                    self.count_store("error");
                    self.health.set("store", false);
                    tracing::warn!(error = %e, retry_in = ?backoff, "store rejected window counts");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
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
