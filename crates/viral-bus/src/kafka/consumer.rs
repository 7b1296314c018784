//! A Kafka group member as a [`Subscription`].
//!
//! A dedicated thread polls librdkafka and forwards messages in batches, in order, with
//! the group's ownership changes in between (rebalance callbacks run on that same thread,
//! so an event can never overtake a message polled before it). A revocation blocks the
//! thread — and so the rebalance — until the stage has asked for its next event, which
//! is how a partition is never processed by two members at once. Commits go through a
//! transaction (see [`super::txn`]).

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::statistics::Statistics;
use rdkafka::{Message as _, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use super::txn::Transactions;
use super::{checkpoints, unavailable, Shared};
use crate::{Assignment, BusError, Commit, Event, Message, Progress, Record, Subscription};

/// Messages forwarded per batch: enough to amortise the channel, small enough to keep
/// the stage's view fresh.
const BATCH: usize = 1024;
/// How long a revocation waits for the stage before giving the partitions up anyway.
const REVOKE_WAIT: Duration = Duration::from_secs(60);

/// What the polling thread hands the stage.
enum Item {
    Messages(Vec<Message>),
    Assigned(Vec<Assignment>),
    Revoked(Vec<i32>, std_mpsc::SyncSender<()>),
    Failed(String),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a push, take or insert: a panic cannot leave the
    // data half-updated, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) struct Ctx {
    topic: String,
    shared: Arc<Shared>,
    tx: mpsc::Sender<Item>,
    batch: Mutex<Vec<Message>>,
    /// Per owned partition, the offset after its last readable message, from the latest
    /// statistics.
    ends: Arc<Mutex<BTreeMap<i32, i64>>>,
}

impl Ctx {
    /// Hand the pending batch over; false once the stage has gone.
    fn flush(&self) -> bool {
        let batch = std::mem::take(&mut *lock(&self.batch));
        batch.is_empty() || self.tx.blocking_send(Item::Messages(batch)).is_ok()
    }

    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .map(|e| e.partition())
            .collect()
    }

    fn assigned(&self, consumer: &BaseConsumer<Ctx>, tpl: &TopicPartitionList) -> Item {
        let mut wanted = TopicPartitionList::new();
        for p in self.partitions(tpl) {
            wanted.add_partition(&self.topic, p);
        }
        let committed = match consumer.committed_offsets(wanted, self.shared.config.publish_timeout)
        {
            Ok(c) => c,
            Err(e) => return Item::Failed(format!("cannot read committed offsets: {e}")),
        };
        let mut out = Vec::new();
        for e in committed.elements_for_topic(&self.topic) {
            let offset = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            // librdkafka's metadata accessor panics on non-UTF-8; only viral writes here,
            // but a foreign tool committing for our group must not crash the stage.
            let meta = std::panic::catch_unwind(AssertUnwindSafe(|| e.metadata().to_owned()))
                .unwrap_or_default();
            let checkpoint = match checkpoints::resolve(&self.shared, &meta) {
                Ok(c) => c,
                Err(e) => return Item::Failed(e),
            };
            out.push(Assignment {
                partition: e.partition(),
                offset,
                checkpoint,
            });
        }
        Item::Assigned(out)
    }
}

impl ClientContext for Ctx {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let mut ends = lock(&self.ends);
        ends.clear();
        for (&p, s) in &topic.partitions {
            // read_committed: the last stable offset is as far as we can read.
            let end = if s.ls_offset >= 0 {
                s.ls_offset
            } else {
                s.hi_offset
            };
            if p >= 0 && s.fetch_state == "active" && end >= 0 {
                ends.insert(p, end);
            }
        }
    }
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let partitions = self.partitions(tpl);
        if partitions.is_empty() || !self.flush() {
            return;
        }
        let (ack, done) = std_mpsc::sync_channel(1);
        if self
            .tx
            .blocking_send(Item::Revoked(partitions, ack))
            .is_ok()
        {
            // Err: the stage dropped the subscription, which is an acknowledgement too.
            let _ = done.recv_timeout(REVOKE_WAIT);
        }
        lock(&self.ends).clear();
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) if !self.partitions(tpl).is_empty() && self.flush() => {
                let item = self.assigned(consumer, tpl);
                let _ = self.tx.blocking_send(item);
            }
            Rebalance::Error(e) => {
                tracing::warn!(topic = %self.topic, error = %e, "rebalance error")
            }
            _ => {}
        }
    }
}

pub(super) struct KafkaSubscription {
    topic: String,
    /// `None` only while dropping: the polling thread must hold the last handle.
    consumer: Option<Arc<BaseConsumer<Ctx>>>,
    rx: mpsc::Receiver<Item>,
    pending: std::vec::IntoIter<Message>,
    ack: Option<std_mpsc::SyncSender<()>>,
    ends: Arc<Mutex<BTreeMap<i32, i64>>>,
    /// Per owned partition, the offset of the next message the stage will see: lag is
    /// measured from what the stage has, not from what the polling thread fetched.
    position: BTreeMap<i32, i64>,
    stop: Arc<AtomicBool>,
    stopped: Option<std_mpsc::Receiver<()>>,
    txn: Arc<tokio::sync::Mutex<Transactions>>,
}

impl KafkaSubscription {
    pub(super) fn start(shared: Arc<Shared>, topic: &str, group: &str) -> Result<Self, BusError> {
        let (tx, rx) = mpsc::channel(16);
        let ends = Arc::new(Mutex::new(BTreeMap::new()));
        let ctx = Ctx {
            topic: topic.to_owned(),
            shared: shared.clone(),
            tx,
            batch: Mutex::new(Vec::with_capacity(BATCH)),
            ends: ends.clone(),
        };
        let mut config = super::client_config(&shared.config);
        if let Some(id) = &shared.config.instance_id {
            // Static membership: a restarted instance takes its partitions straight back
            // instead of waiting for the session of its killed predecessor to expire.
            config.set("group.instance.id", format!("{group}.{id}"));
        }
        let consumer: BaseConsumer<Ctx> = config
            .set("group.id", group)
            .set("session.timeout.ms", "10000")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("isolation.level", "read_committed")
            .set("statistics.interval.ms", "5000")
            // librdkafka pauses a partition's fetching this long once its local queue is
            // past `queued.min.messages`; at the 1 s default a consumer slower than the
            // broker (any that does work) idles most of the time — 4× less throughput.
            .set("fetch.queue.backoff.ms", "10")
            .set("queued.max.messages.kbytes", "16384")
            .create_with_context(ctx)
            .map_err(unavailable)?;
        consumer.subscribe(&[topic]).map_err(unavailable)?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let (stopped_tx, stopped) = std_mpsc::sync_channel(1);
        let (c, s) = (consumer.clone(), stop.clone());
        std::thread::Builder::new()
            .name(format!("kafka-{topic}"))
            .spawn(move || {
                poll_loop(&c, &s);
                close(&c);
                // This is the last handle (the subscription gives its own up before
                // stopping us), so the consumer is destroyed here, never on an async
                // worker.
                drop(c);
                let _ = stopped_tx.send(());
            })
            .map_err(unavailable)?;
        Ok(Self {
            topic: topic.to_owned(),
            txn: Arc::new(tokio::sync::Mutex::new(Transactions::new(shared, group))),
            consumer: Some(consumer),
            rx,
            pending: Vec::new().into_iter(),
            ack: None,
            ends,
            position: BTreeMap::new(),
            stop,
            stopped: Some(stopped),
        })
    }
}

fn poll_loop(consumer: &BaseConsumer<Ctx>, stop: &AtomicBool) {
    let ctx = consumer.context();
    while !stop.load(Ordering::Relaxed) {
        let waiting = lock(&ctx.batch).is_empty();
        let timeout = if waiting {
            Duration::from_millis(100)
        } else {
            Duration::ZERO
        };
        match consumer.poll(timeout) {
            Some(Ok(m)) => {
                let msg = Message {
                    topic: m.topic().to_owned(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m
                        .key()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .unwrap_or_default(),
                    payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                };
                let full = {
                    let mut b = lock(&ctx.batch);
                    b.push(msg);
                    b.len() >= BATCH
                };
                if full && !ctx.flush() {
                    return;
                }
            }
            // librdkafka retries broker failures itself; errors here are reported and
            // the consumer keeps going.
            Some(Err(e)) => tracing::warn!(topic = %ctx.topic, error = %e, "kafka consumer error"),
            None => {
                if !ctx.flush() {
                    return;
                }
            }
        }
    }
}

/// Leave the group, serving the callbacks that takes, for a bounded time.
fn close(consumer: &BaseConsumer<Ctx>) {
    if let Err(e) = consumer.close_queue() {
        tracing::warn!(error = %e, "cannot close the kafka consumer cleanly");
        return;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !consumer.closed() && std::time::Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(100));
    }
}

impl Drop for KafkaSubscription {
    fn drop(&mut self) {
        // Give up our handle while the polling thread still holds its own.
        self.consumer.take();
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a revocation waiting for us, and any send into our queue.
        self.ack.take();
        self.rx.close();
        while let Ok(item) = self.rx.try_recv() {
            drop(item);
        }
        // Give the consumer a moment to leave the group cleanly, so the partitions move
        // on at once instead of after the session timeout.
        if let Some(stopped) = self.stopped.take() {
            let _ = stopped.recv_timeout(Duration::from_secs(5));
        }
    }
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn next(&mut self) -> Result<Event, BusError> {
        if let Some(ack) = self.ack.take() {
            let _ = ack.send(());
        }
        loop {
            if let Some(m) = self.pending.next() {
                self.position.insert(m.partition, m.offset + 1);
                return Ok(Event::Message(m));
            }
            match self.rx.recv().await {
                None => return Err(BusError::Closed),
                Some(Item::Messages(batch)) => self.pending = batch.into_iter(),
                Some(Item::Assigned(a)) => {
                    for x in &a {
                        // Unknown until the first message when nothing was committed.
                        match x.offset {
                            Some(o) => self.position.insert(x.partition, o),
                            None => self.position.remove(&x.partition),
                        };
                    }
                    return Ok(Event::Assigned(a));
                }
                Some(Item::Revoked(p, ack)) => {
                    for x in &p {
                        self.position.remove(x);
                    }
                    self.ack = Some(ack);
                    return Ok(Event::Revoked(p));
                }
                Some(Item::Failed(e)) => return Err(BusError::Unavailable(e)),
            }
        }
    }

    fn commit(&mut self, records: Vec<Record>, progress: Vec<Progress>) -> Commit {
        // The group's generation as of now: a rebalance cannot complete before the stage
        // has awaited this commit (see `Subscription::commit`).
        let group = self.consumer.as_ref().and_then(|c| c.group_metadata());
        let (txn, topic) = (self.txn.clone(), self.topic.clone());
        Box::pin(async move {
            let group = group.ok_or_else(|| {
                BusError::Unavailable("the consumer has no group metadata".into())
            })?;
            txn.lock()
                .await
                .commit(group, &topic, records, progress)
                .await
        })
    }

    fn lag(&self) -> Vec<(i32, i64)> {
        let ends = lock(&self.ends);
        self.position
            .iter()
            .filter_map(|(p, pos)| ends.get(p).map(|end| (*p, (end - pos).max(0))))
            .collect()
    }
}
