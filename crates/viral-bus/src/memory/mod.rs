//! An in-process bus: each (topic, group) is a bounded queue, so a slow consumer slows
//! its publishers instead of growing memory. Messages published before any group has
//! subscribed are kept (up to the capacity, oldest dropped with a warning) and handed to
//! the first group, so start-up order does not lose data. Like Kafka, it refuses a message
//! over its size limit ([`MAX_MESSAGE_BYTES`] by default), so standalone mode behaves as
//! the services do.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::{
    Assignment, Bus, BusError, Commit, Event, Message, Progress, Record, Refusal, Subscription,
    MAX_MESSAGE_BYTES,
};

#[derive(Default)]
struct Topic {
    next_offset: i64,
    groups: HashMap<String, mpsc::Sender<Message>>,
    backlog: VecDeque<Message>,
}

/// Cheap to clone; clones share the topics.
#[derive(Clone)]
pub struct MemoryBus {
    capacity: usize,
    max_message: usize,
    topics: Arc<Mutex<HashMap<String, Topic>>>,
}

impl MemoryBus {
    /// `capacity`: messages queued per (topic, group) before publishers wait.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            max_message: MAX_MESSAGE_BYTES,
            topics: Arc::default(),
        }
    }

    /// Refuse messages whose key and payload exceed `bytes` (tests use a small limit).
    pub fn with_message_limit(mut self, bytes: usize) -> Self {
        self.max_message = bytes;
        self
    }

    fn refusal(&self, index: usize, key: &str, payload: &[u8]) -> Option<Refusal> {
        Refusal::of_size(index, self.max_message, key, payload)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        // A panic while holding this lock cannot leave the map inconsistent (each
        // operation is a single insert or push), so a poisoned lock is still usable.
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        if let Some(r) = self.refusal(0, key, &payload) {
            return Err(BusError::Rejected(vec![r]));
        }
        // Offsets are assigned under the lock; sending happens outside it so that a full
        // queue blocks only this publisher.
        let deliveries: Vec<(mpsc::Sender<Message>, Message)> = {
            let mut topics = self.lock();
            let t = topics.entry(topic.to_owned()).or_default();
            let msg = Message {
                topic: topic.to_owned(),
                partition: 0,
                offset: t.next_offset,
                key: key.to_owned(),
                payload,
            };
            t.next_offset += 1;
            if t.groups.is_empty() {
                if t.backlog.len() >= self.capacity {
                    t.backlog.pop_front();
                    tracing::warn!(
                        topic,
                        "no consumer yet and backlog full: dropped the oldest message"
                    );
                }
                t.backlog.push_back(msg);
                return Ok(());
            }
            t.groups
                .values()
                .map(|s| (s.clone(), msg.clone()))
                .collect()
        };
        for (sender, msg) in deliveries {
            sender.send(msg).await.map_err(|_| BusError::Closed)?;
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        let (tx, rx) = mpsc::channel(self.capacity);
        let backlog: Vec<Message> = {
            let mut topics = self.lock();
            let t = topics.entry(topic.to_owned()).or_default();
            if t.groups.contains_key(group) {
                return Err(BusError::Unavailable(format!(
                    "group {group:?} already consumes {topic:?}: the memory bus has one member per group"
                )));
            }
            t.groups.insert(group.to_owned(), tx.clone());
            t.backlog.drain(..).collect()
        };
        for m in backlog {
            tx.send(m).await.map_err(|_| BusError::Closed)?;
        }
        Ok(Box::new(MemorySubscription {
            bus: self.clone(),
            rx,
            assigned: false,
        }))
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    fn max_message_bytes(&self) -> usize {
        self.max_message
    }
}

struct MemorySubscription {
    bus: MemoryBus,
    rx: mpsc::Receiver<Message>,
    assigned: bool,
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn next(&mut self) -> Result<Event, BusError> {
        // One partition, owned for the subscription's life, with nothing committed
        // before it: nothing on this bus outlives the process.
        if !self.assigned {
            self.assigned = true;
            return Ok(Event::Assigned(vec![Assignment {
                partition: 0,
                offset: None,
                checkpoint: None,
            }]));
        }
        self.rx
            .recv()
            .await
            .map(Event::Message)
            .ok_or(BusError::Closed)
    }

    fn commit(&mut self, records: Vec<Record>, _progress: Vec<Progress>) -> Commit {
        let bus = self.bus.clone();
        Box::pin(async move {
            // All or nothing, as a Kafka transaction would be.
            let refused: Vec<Refusal> = records
                .iter()
                .enumerate()
                .filter_map(|(i, r)| bus.refusal(i, &r.key, &r.payload))
                .collect();
            if !refused.is_empty() {
                return Err(BusError::Rejected(refused));
            }
            for r in records {
                bus.publish(&r.topic, &r.key, r.payload).await?;
            }
            Ok(())
        })
    }

    fn lag(&self) -> Vec<(i32, i64)> {
        vec![(0, self.rx.len() as i64)]
    }
}

#[cfg(test)]
mod tests;
