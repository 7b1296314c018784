//! Producer stage: every post from the sources is matched against the tracked topics and
//! published as one Mention per matched topic (key = topic name, so a topic stays in one
//! partition). A post counts as handled only once the bus accepted all its mentions, and
//! posts that came with an acknowledgement (the HTTP ingest's [`Acked`] batches) are
//! acknowledged exactly then.
//!
//! Every message is bounded before it is sent ([`limits`]) and checked against the bus's
//! limit; what the bus still cannot take is dead-lettered with its reason and counted
//! (`viral_dead_letters_total{stage="producer"}`), never retried.
//!
//! Posts from live sources (the networks, the HTTP ingest) are stamped `observed_at` with
//! the clock on arrival, replacing whatever the client sent: event time is the earlier of
//! `created_at` and `observed_at`, and the watermark follows `observed_at` less
//! `window.max_delay`, so a post's own clock can neither drag the watermark into the
//! future nor reopen the past. Posts from sources that keep their own time (a recording,
//! the demo's generator; [`Source::keeps_time`](viral_sources::Source::keeps_time)) come
//! on their own input and keep theirs.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use viral_bus::{Bus, BusError, Record, Refusal, TopicNames};
use viral_core::limits;
use viral_core::matcher::TopicMatcher;
use viral_core::time::from_millis;
use viral_core::{Mention, Post};
use viral_runtime::backoff::Backoff;
use viral_runtime::clock::SharedClock;
use viral_runtime::health::Health;
use viral_runtime::metrics::{Metrics, SourceLabel, StageLabel, TopicLabel};
use viral_sources::Acked;

use crate::deadletter::{self, Reason, Unsent};

const STAGE: &str = "producer";
/// The readiness component that says whether the bus takes the producer's mentions.
pub const PUBLISH: &str = "publish";

/// What the producer reads: posts from the sources, by whether their time is trusted.
pub struct Inputs {
    /// Posts from live sources: `observed_at` is stamped on arrival.
    pub live: mpsc::Receiver<Post>,
    /// Posts from sources that keep their own time: taken as they are.
    pub recorded: mpsc::Receiver<Post>,
    /// The HTTP ingest's batches (live: stamped on arrival too).
    pub acked: mpsc::Receiver<Acked>,
}

impl Inputs {
    /// Only live posts (the other inputs are closed from the start).
    pub fn live(live: mpsc::Receiver<Post>) -> Self {
        Self {
            live,
            recorded: mpsc::channel(1).1,
            acked: mpsc::channel(1).1,
        }
    }

    /// Only posts that keep their own time (the other inputs are closed from the start).
    pub fn recorded(recorded: mpsc::Receiver<Post>) -> Self {
        Self {
            recorded,
            ..Self::live(mpsc::channel(1).1)
        }
    }
}

/// Run until `posts` (from live sources) is closed, publishing to the default topics.
pub async fn run(
    posts: mpsc::Receiver<Post>,
    matcher: Arc<TopicMatcher>,
    bus: Arc<dyn Bus>,
    clock: SharedClock,
    metrics: Metrics,
) -> Result<(), BusError> {
    Producer {
        matcher,
        bus,
        clock,
        metrics,
        health: Health::new(),
        topics: TopicNames::default(),
    }
    .run(Inputs::live(posts))
    .await
}

/// The producer stage and what it works with.
pub struct Producer {
    pub matcher: Arc<TopicMatcher>,
    pub bus: Arc<dyn Bus>,
    pub clock: SharedClock,
    pub metrics: Metrics,
    /// Its [`PUBLISH`] component is false while the bus refuses the mentions (and they
    /// are retried).
    pub health: Health,
    /// Mentions go to `mentions`; what the bus cannot take, to `deadletter`.
    pub topics: TopicNames,
}

impl Producer {
    /// Run until every input is closed. A publish the bus refuses for now
    /// (broker unreachable past its own retries) is retried with backoff: the post is not
    /// acknowledged until it is in, and the sources wait meanwhile. A mention the bus can
    /// never take (too large for it, refused for good) is dead-lettered instead, never
    /// retried: one post cannot wedge the producer.
    ///
    /// Posts are bounded before they are sent ([`limits::bound`]): matched on their whole
    /// text, carried with it cut to [`limits::MAX_TEXT_BYTES`].
    ///
    /// `acked` batches (the HTTP ingest's) are matched and published with the other posts;
    /// each one's `done` is completed right after the publish that carried its mentions
    /// (or their dead letters), and dropped unsent if the bus is closed first (see
    /// [`Acked`]).
    pub async fn run(self, inputs: Inputs) -> Result<(), BusError> {
        let Self {
            matcher,
            bus,
            clock,
            metrics,
            health,
            topics,
        } = &self;
        let mut input = Input {
            live: Some(inputs.live),
            recorded: Some(inputs.recorded),
            acked: Some(inputs.acked),
        };
        let (mut scratch, mut ids) = (viral_core::matcher::Scratch::default(), Vec::new());
        let out = StageLabel { stage: STAGE };
        let limit = bus.max_message_bytes();
        let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
        let mut letters: Vec<Record> = Vec::new();
        let mut acks: Vec<oneshot::Sender<()>> = Vec::new();
        health.set(PUBLISH, true);
        // Take whatever posts are ready (up to BATCH) and publish their mentions together:
        // one round trip per batch instead of per mention.
        while let Some(first) = input.recv().await {
            let mut next = Some(first);
            let mut taken = 0;
            while let Some(item) = next.take() {
                let (posts, live) = match item {
                    Item::Live(post) => (vec![post], true),
                    Item::Recorded(post) => (vec![post], false),
                    Item::Acked(Acked { posts, done }) => {
                        acks.push(done);
                        (posts, true)
                    }
                };
                for mut post in posts {
                    taken += 1;
                    if live {
                        post.observed_at = Some(from_millis(clock.now_ms()));
                    }
                    let source = SourceLabel {
                        source: post.source.clone(),
                    };
                    metrics.posts_received.get_or_create(&source).inc();
                    ids.clear();
                    matcher.find_into(&post.text, &mut scratch, &mut ids);
                    if ids.is_empty() {
                        continue;
                    }
                    metrics.posts_matched.get_or_create(&source).inc();
                    let unusable = match limits::bound(&mut post) {
                        Ok(cut) => {
                            if cut.text_cut || !cut.dropped.is_empty() {
                                tracing::debug!(id = %limits::truncate(&post.id, 100), text_cut = cut.text_cut, dropped = ?cut.dropped, "bounded a post for the bus");
                            }
                            None
                        }
                        Err(problem) => Some(problem),
                    };
                    let mut mention = Mention {
                        topic: String::new(),
                        post,
                    };
                    for &id in &ids {
                        mention.topic.clear();
                        mention.topic.push_str(matcher.name(id));
                        let payload = match serde_json::to_vec(&mention) {
                            Ok(p) => p,
                            // Only non-string map keys can fail here, and Mention has none.
                            Err(e) => {
                                tracing::error!(error = %e, "cannot encode a mention");
                                continue;
                            }
                        };
                        let problem = unusable.clone().or_else(|| {
                            Refusal::of_size(0, limit, &mention.topic, &payload).map(|r| r.reason)
                        });
                        match problem {
                            None => batch.push((mention.topic.clone(), payload)),
                            Some(problem) => letters.extend(self.letter(
                                &mention.topic,
                                &payload,
                                Reason::TooLarge,
                                &problem,
                            )),
                        }
                    }
                }
                if taken < BATCH {
                    next = input.try_recv();
                }
            }
            if !batch.is_empty() {
                let refused = publish(&**bus, health, &topics.mentions, &batch).await?;
                let mut accepted = 0;
                for (i, (t, payload)) in batch.iter().enumerate() {
                    match refused.iter().find(|r| r.index == i) {
                        None => {
                            accepted += 1;
                            metrics
                                .mentions_published
                                .get_or_create(&TopicLabel { topic: t.clone() })
                                .inc();
                        }
                        Some(r) => {
                            let reason = if r.too_large {
                                Reason::TooLarge
                            } else {
                                Reason::Rejected
                            };
                            letters.extend(self.letter(t, payload, reason, &r.reason));
                        }
                    }
                }
                metrics.messages_out.get_or_create(&out).inc_by(accepted);
                batch.clear();
            }
            if !letters.is_empty() {
                self.dead_letter(std::mem::take(&mut letters)).await?;
            }
            for done in acks.drain(..) {
                // The sender may have given up waiting; its posts are in all the same.
                let _ = done.send(());
            }
        }
        Ok(())
    }

    /// Publish dead letters; one the bus refuses goes again without its excerpt.
    async fn dead_letter(&self, mut letters: Vec<Record>) -> Result<(), BusError> {
        for attempt in 0..2 {
            let all: Vec<(String, Vec<u8>)> = letters
                .iter()
                .map(|r| (r.key.clone(), r.payload.clone()))
                .collect();
            let refused = publish(&*self.bus, &self.health, &self.topics.deadletter, &all).await?;
            let mut again = Vec::new();
            for r in refused {
                match letters.get(r.index).and_then(deadletter::shrink) {
                    Some(small) if attempt == 0 => again.push(small),
                    _ => {
                        tracing::error!(reason = %r.reason, "the bus refused a dead letter; it is lost")
                    }
                }
            }
            letters = again;
            if letters.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// The dead letter of a mention that cannot go out (counted).
    fn letter(&self, topic: &str, payload: &[u8], reason: Reason, error: &str) -> Option<Record> {
        let out = Unsent {
            topic: &self.topics.mentions,
            key: topic,
            payload,
        };
        deadletter::unsent(
            &self.metrics,
            STAGE,
            &self.topics.deadletter,
            out,
            reason,
            error,
        )
    }
}

/// One thing taken from the sources.
enum Item {
    Live(Post),
    Recorded(Post),
    Acked(Acked),
}

/// The producer's inputs; each is dropped once closed, and the input ends when all are.
struct Input {
    live: Option<mpsc::Receiver<Post>>,
    recorded: Option<mpsc::Receiver<Post>>,
    acked: Option<mpsc::Receiver<Acked>>,
}

/// The next item of an input, or never if it is closed (so `select!` waits on the rest).
async fn next_of<T>(rx: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Input {
    async fn recv(&mut self) -> Option<Item> {
        while self.live.is_some() || self.recorded.is_some() || self.acked.is_some() {
            tokio::select! {
                post = next_of(&mut self.live) => match post {
                    Some(post) => return Some(Item::Live(post)),
                    None => self.live = None,
                },
                post = next_of(&mut self.recorded) => match post {
                    Some(post) => return Some(Item::Recorded(post)),
                    None => self.recorded = None,
                },
                acked = next_of(&mut self.acked) => match acked {
                    Some(acked) => return Some(Item::Acked(acked)),
                    None => self.acked = None,
                },
            }
        }
        None
    }

    /// Something already waiting, without waiting.
    fn try_recv(&mut self) -> Option<Item> {
        if let Some(post) = self.live.as_mut().and_then(|p| p.try_recv().ok()) {
            return Some(Item::Live(post));
        }
        if let Some(post) = self.recorded.as_mut().and_then(|p| p.try_recv().ok()) {
            return Some(Item::Recorded(post));
        }
        self.acked
            .as_mut()
            .and_then(|a| a.try_recv().ok())
            .map(Item::Acked)
    }
}

/// Posts taken from the sources per publish round trip.
const BATCH: usize = 1024;

/// Publish `batch`, retrying with backoff while the bus refuses it for now (and saying so
/// in `health`); returns the messages it refused for good (all others are in).
async fn publish(
    bus: &dyn Bus,
    health: &Health,
    topic: &str,
    batch: &[(String, Vec<u8>)],
) -> Result<Vec<Refusal>, BusError> {
    let mut backoff =
        Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5)).with_jitter(0.0);
    loop {
        let result = bus.publish_all(topic, batch.to_vec()).await;
        health.set(PUBLISH, !matches!(result, Err(BusError::Unavailable(_))));
        match result {
            Ok(()) => return Ok(Vec::new()),
            Err(BusError::Rejected(refused)) => return Ok(refused),
            Err(BusError::Closed) => return Err(BusError::Closed),
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "the bus refused mentions; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use viral_bus::{topics, MemoryBus};
    use viral_core::time::{parse_rfc3339, to_millis};
    use viral_core::TopicSpec;
    use viral_runtime::clock::Clock;

    struct Fixed(i64);
    impl Clock for Fixed {
        fn now_ms(&self) -> i64 {
            self.0
        }
    }

    fn post(id: &str, text: &str, created: &str, observed: Option<&str>) -> Post {
        Post {
            id: id.into(),
            source: "test".into(),
            text: text.into(),
            created_at: parse_rfc3339(created).unwrap(),
            observed_at: observed.map(|o| parse_rfc3339(o).unwrap()),
            author: None,
            url: None,
            lang: None,
        }
    }

    #[tokio::test]
    async fn one_mention_per_matched_topic_keyed_by_topic_and_stamped_on_arrival() {
        let matcher = Arc::new(
            TopicMatcher::new(&[
                TopicSpec {
                    name: "a".into(),
                    terms: vec!["alpha".into()],
                },
                TopicSpec {
                    name: "b".into(),
                    terms: vec!["beta".into()],
                },
            ])
            .unwrap(),
        );
        let bus = Arc::new(MemoryBus::new(16));
        let mut sub = bus.subscribe(topics::MENTIONS, "t").await.unwrap();
        let (tx, rx) = mpsc::channel(4);
        let now = to_millis(&parse_rfc3339("2020-09-25T18:00:00Z").unwrap());
        tx.send(post("1", "alpha and beta", "9999-01-01T00:00:00Z", None))
            .await
            .unwrap();
        tx.send(post("2", "nothing here", "2020-09-25T17:00:00Z", None))
            .await
            .unwrap();
        tx.send(post(
            "3",
            "beta",
            "2020-09-25T17:59:00Z",
            Some("2020-09-25T17:59:01Z"),
        ))
        .await
        .unwrap();
        // A client that says it wrote and saw the post a month from now.
        tx.send(post(
            "4",
            "alpha",
            "2020-10-25T18:00:00Z",
            Some("2020-10-25T18:00:00Z"),
        ))
        .await
        .unwrap();
        drop(tx);
        // A recording keeps the time it carries.
        let (rec_tx, recorded) = mpsc::channel(4);
        rec_tx
            .send(post(
                "5",
                "alpha",
                "2020-09-25T12:00:00Z",
                Some("2020-09-25T12:00:02Z"),
            ))
            .await
            .unwrap();
        drop(rec_tx);
        let metrics = Metrics::new();
        let inputs = Inputs {
            live: rx,
            ..Inputs::recorded(recorded)
        };
        Producer {
            matcher,
            bus: bus.clone(),
            clock: Arc::new(Fixed(now)),
            metrics: metrics.clone(),
            health: Health::new(),
            topics: TopicNames::default(),
        }
        .run(inputs)
        .await
        .unwrap();
        let mut got = Vec::new();
        for _ in 0..5 {
            let m = sub.recv().await.unwrap();
            let mention: Mention = serde_json::from_slice(&m.payload).unwrap();
            assert_eq!(m.key, mention.topic);
            let t = mention.post.event_time();
            let observed = mention.post.observed_at.map(|o| to_millis(&o));
            got.push((mention.post.id, mention.topic, t, observed));
        }
        got.sort();
        let hour = 3_600_000;
        assert_eq!(
            got,
            [
                ("1".to_string(), "a".to_string(), now, Some(now)),
                ("1".to_string(), "b".to_string(), now, Some(now)),
                // The client's observed_at is replaced by the arrival.
                ("3".to_string(), "b".to_string(), now - 60_000, Some(now)),
                ("4".to_string(), "a".to_string(), now, Some(now)),
                (
                    "5".to_string(),
                    "a".to_string(),
                    now - 6 * hour,
                    Some(now - 6 * hour + 2_000)
                ),
            ]
        );
        let text = metrics.encode();
        assert!(
            text.contains(r#"viral_posts_received_total{source="test"} 5"#),
            "{text}"
        );
        assert!(
            text.contains(r#"viral_posts_matched_total{source="test"} 4"#),
            "{text}"
        );
    }
}
