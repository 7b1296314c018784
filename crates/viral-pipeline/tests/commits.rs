//! The aggregator commits progress only up to the first
//! offset an open window still depends on, with the engine's checkpoint, so a restart
//! re-reads what it needs and knows what it already emitted; and it commits in bounded
//! batches, however many windows one idle advance closes.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use viral_bus::{topics, Bus, BusError, Commit, Event, MemoryBus, Progress, Record, Subscription};
use viral_core::time::{parse_rfc3339, to_millis};
use viral_core::window::WindowSpec;
use viral_core::{Mention, Post, WindowCount};
use viral_pipeline::aggregator::{Aggregator, Settings};
use viral_runtime::clock::{Clock, SystemClock};
use viral_runtime::health::Health;
use viral_runtime::metrics::Metrics;
use viral_runtime::CancellationToken;

/// Per commit: (partition, offset, restorable checkpoint, number of records).
type Commits = Arc<Mutex<Vec<(i32, i64, bool, usize)>>>;

/// The memory bus, with every commit recorded.
struct Recording {
    inner: MemoryBus,
    commits: Commits,
}

struct RecordingSub {
    inner: Box<dyn Subscription>,
    commits: Commits,
}

#[async_trait]
impl Bus for Recording {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), BusError> {
        self.inner.publish(topic, key, payload).await
    }
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        Ok(Box::new(RecordingSub {
            inner: self.inner.subscribe(topic, group).await?,
            commits: self.commits.clone(),
        }))
    }
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

#[async_trait]
impl Subscription for RecordingSub {
    async fn next(&mut self) -> Result<Event, BusError> {
        self.inner.next().await
    }
    fn commit(&mut self, records: Vec<Record>, progress: Vec<Progress>) -> Commit {
        for p in &progress {
            let restorable = p
                .checkpoint
                .as_deref()
                .is_some_and(|c| serde_json::from_str::<viral_core::window::Checkpoint>(c).is_ok());
            self.commits
                .lock()
                .unwrap()
                .push((p.partition, p.offset, restorable, records.len()));
        }
        self.inner.commit(records, progress)
    }
    fn lag(&self) -> Vec<(i32, i64)> {
        self.inner.lag()
    }
}

fn mention(id: &str, minute: u32) -> Vec<u8> {
    let t = parse_rfc3339(&format!("2020-09-25T18:{minute:02}:00Z")).unwrap();
    serde_json::to_vec(&Mention {
        topic: "a".into(),
        post: Post {
            id: id.into(),
            source: "test".into(),
            text: "a".into(),
            created_at: t,
            observed_at: None,
            author: None,
            url: None,
            lang: None,
        },
    })
    .unwrap()
}

#[tokio::test]
async fn commits_follow_the_oldest_open_window() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let bus = Arc::new(Recording {
        inner: MemoryBus::new(64),
        commits: commits.clone(),
    });
    let mut counts = bus.inner.subscribe(topics::COUNTS, "test").await.unwrap();
    // 10-minute tumbling windows, no lateness.
    for (id, minute) in [("0", 1), ("1", 2), ("2", 11), ("3", 12), ("4", 25)] {
        bus.publish(topics::MENTIONS, "a", mention(id, minute))
            .await
            .unwrap();
    }
    let stop = CancellationToken::new();
    let agg = Aggregator::new(
        bus.clone(),
        Arc::new(viral_store::sqlite::SqliteStore::in_memory().unwrap()),
        Arc::new(SystemClock),
        Metrics::new(),
        Health::new(),
        Settings {
            spec: WindowSpec::from_millis(600_000, 600_000, 0).unwrap(),
            idle_timeout: Duration::from_secs(3600),
            samples: 0,
            commit_interval: Duration::from_millis(10),
            topics: Default::default(),
            group: "viral-aggregator".into(),
        },
    );
    let task = tokio::spawn(agg.run(stop.clone()));
    // [18:00,18:10) closes at offset 2, [18:10,18:20) at offset 4.
    for want in [2, 2] {
        let msg = counts.recv().await.unwrap();
        let wc: WindowCount = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(wc.count, want);
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    // The windows were published by commits; each records the first offset an open
    // window still needs (2 once [18:00,18:10) closed, 4 once [18:10,18:20) did) with a
    // restorable checkpoint, never going back.
    let commits: Vec<(i32, i64, bool)> = commits
        .lock()
        .unwrap()
        .iter()
        .map(|&(p, o, cp, _)| (p, o, cp))
        .collect();
    assert_eq!(commits.last(), Some(&(0, 4, true)), "{commits:?}");
    assert!(
        commits
            .iter()
            .all(|&(p, o, cp)| p == 0 && (o == 2 || o == 4) && cp),
        "{commits:?}"
    );
    assert!(commits.windows(2).all(|w| w[0].1 <= w[1].1), "{commits:?}");
}

/// A clock that stands still where the test puts it.
struct Fixed(AtomicI64);

impl Clock for Fixed {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A clock that jumps a day past the last mention (a restart after an outage, a quiet
/// night) closes tens of thousands of windows in one idle advance: they go out in
/// commits of bounded size, each exactly once, in order.
#[tokio::test]
async fn a_day_of_windows_closed_by_the_clock_is_committed_in_bounded_batches() {
    const DAY_S: usize = 86_400;
    let commits = Arc::new(Mutex::new(Vec::new()));
    let bus = Arc::new(Recording {
        inner: MemoryBus::new(2 * DAY_S),
        commits: commits.clone(),
    });
    let mut counts = bus.inner.subscribe(topics::COUNTS, "test").await.unwrap();
    bus.publish(topics::MENTIONS, "a", mention("0", 0))
        .await
        .unwrap();
    // Once the partition has been quiet for idle_timeout, every one-second window of
    // the day up to the clock closes at once.
    let t0 = to_millis(&parse_rfc3339("2020-09-25T18:00:00Z").unwrap());
    let clock = Arc::new(Fixed(AtomicI64::new(t0 + DAY_S as i64 * 1000)));
    let stop = CancellationToken::new();
    let agg = Aggregator::new(
        bus.clone(),
        Arc::new(viral_store::sqlite::SqliteStore::in_memory().unwrap()),
        clock,
        Metrics::new(),
        Health::new(),
        Settings {
            spec: WindowSpec::from_millis(1000, 1000, 0).unwrap(),
            idle_timeout: Duration::from_millis(50),
            samples: 0,
            commit_interval: Duration::from_millis(10),
            topics: Default::default(),
            group: "viral-aggregator".into(),
        },
    );
    let task = tokio::spawn(agg.run(stop.clone()));

    let mut starts = Vec::with_capacity(DAY_S);
    while starts.len() < DAY_S {
        let msg = tokio::time::timeout(Duration::from_secs(120), counts.recv())
            .await
            .expect("the windows keep coming")
            .expect("the bus is open");
        let wc: WindowCount = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(wc.count, u64::from(starts.is_empty()), "{wc:?}");
        starts.push(to_millis(&wc.window_start));
    }
    stop.cancel();
    task.await.unwrap().unwrap();
    let want: Vec<i64> = (0..DAY_S as i64).map(|i| t0 + i * 1000).collect();
    assert_eq!(starts, want, "each window once, in order");
    let sizes: Vec<usize> = commits.lock().unwrap().iter().map(|c| c.3).collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    // The aggregator's MAX_PENDING: closed windows waiting for a commit.
    assert!(
        largest <= 10_000,
        "a commit of {largest} records; commits: {sizes:?}"
    );
}
