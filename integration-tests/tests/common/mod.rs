//! Shared by the service tests: a deployment of viral on the test broker with its own
//! topics, groups and files; posts to feed it; and the counts it must end up with.

#![allow(dead_code)]

pub mod outage;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use viral_bus::{Bus, KafkaBus, KafkaConfig, Subscription};
use viral_core::window::{MentionRef, WindowEngine, WindowSpec};
use viral_core::{Mention, WindowCount};
use viral_integration_tests::config::{quoted, TestConfig};

pub const WINDOW_MS: i64 = 600_000;
pub const LATENESS_MS: i64 = 60_000;
pub const SAMPLES: usize = 5;
/// Longest any single wait in these tests may take before it is a failure.
pub const PATIENCE: Duration = Duration::from_secs(300);

/// One viral deployment: unique topic names and groups on the shared broker.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub brokers: String,
    pub prefix: String,
    pub config: PathBuf,
    pub posts: PathBuf,
    pub db: PathBuf,
}

impl Deployment {
    pub fn new(name: &str, brokers: &str, partitions: i32, extra: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("t{}.{name}.{nanos}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("viral.toml");
        let posts = dir.path().join("posts.jsonl");
        let db = dir.path().join("viral.db");
        let text = TestConfig::demo()
            .topic("juice", &["juice"])
            .window("10m")
            .threshold(205)
            .with(&format!(
                "[bus]\nkind = \"kafka\"\ngroup_prefix = {}\n\n\
                 [bus.kafka]\nbrokers = {}\npartitions = {partitions}\n\n\
                 [bus.topics]\nmentions = {}\ncounts = {}\ndeadletter = {}",
                quoted(&prefix),
                quoted(brokers),
                quoted(&format!("{prefix}.mentions")),
                quoted(&format!("{prefix}.counts")),
                quoted(&format!("{prefix}.deadletter")),
            ))
            .sqlite(&db)
            .with(&format!(
                "[sources.file]\npath = {}\ntime = \"recorded\"",
                quoted(&posts.display().to_string())
            ))
            .with("[notifiers]\nstdout = false")
            .with("[log]\nlevel = \"info\"")
            .with(extra)
            .toml();
        std::fs::write(&config, text).unwrap();
        Self {
            dir,
            brokers: brokers.to_owned(),
            prefix,
            config,
            posts,
            db,
        }
    }

    pub fn topic(&self, which: &str) -> String {
        format!("{}.{which}", self.prefix)
    }

    pub fn bus(&self, partitions: i32) -> KafkaBus {
        KafkaBus::new(KafkaConfig {
            partitions,
            ..KafkaConfig::new(self.brokers.clone())
        })
        .unwrap()
    }

    pub fn logs(&self) -> &Path {
        self.dir.path()
    }
}

/// A failing test's deployment is deleted with its temporary directory, and with it the
/// services' logs that explain the failure: print their last lines first, and keep a
/// copy under `target/test-logs/`.
impl Drop for Deployment {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let keep = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/test-logs")
            .join(&self.prefix);
        let _ = std::fs::create_dir_all(&keep);
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "log" || e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!(
                    "---- last lines of {} ----\n{}",
                    path.display(),
                    lines[lines.len().saturating_sub(30)..].join("\n")
                );
                if let Some(name) = path.file_name() {
                    let _ = std::fs::copy(&path, keep.join(name));
                }
            }
        }
        eprintln!("---- logs kept in {} ----", keep.display());
    }
}

/// Run the producer over the deployment's posts file to the end.
pub fn produce(d: &Deployment) {
    let mut producer = viral_integration_tests::services::Service::start(
        "viral-producer",
        "producer",
        &d.config,
        &[],
        d.logs(),
    );
    let status = producer.wait();
    assert!(
        status.success(),
        "producer failed:\n{}",
        producer.log_tail()
    );
}

/// Run the producer over the posts file to the end, wait until `counts` has delivered
/// every window of `want` (what `viral replay` says), stop the aggregator with SIGTERM,
/// and return the counts topic's whole content, sorted, once checked against `want`.
pub async fn produce_and_count(
    d: &Deployment,
    counts: &mut Box<dyn Subscription>,
    aggregator: &mut viral_integration_tests::services::Service,
    want: &[WindowCount],
) -> Vec<WindowCount> {
    produce(d);
    Awaited::default().until(counts, |o| o.has_all(want)).await;
    // SIGTERM: it commits and exits cleanly.
    assert!(
        aggregator.terminate().success(),
        "{}",
        aggregator.log_tail()
    );
    let got = decode_counts(&read_all(&d.brokers, &d.topic("counts")));
    assert_exact(
        &without_samples(got.clone()),
        want,
        "counts topic vs viral replay",
    );
    got
}

/// Every count a store holds for the deployment's topics, sorted like [`sort`].
pub async fn all_stored_counts(store: &dyn viral_store::Store) -> Vec<WindowCount> {
    let mut out = Vec::new();
    for topic in ["ocean-spray", "cranberry", "juice"] {
        out.extend(
            store
                .counts(&viral_store::CountsQuery {
                    topic: topic.into(),
                    window_size: Duration::from_millis(WINDOW_MS as u64),
                    from: None,
                    to: None,
                    limit: 1_000_000,
                    order: viral_store::Order::OldestFirst,
                })
                .await
                .unwrap(),
        );
    }
    sort(&mut out);
    out
}

/// `n` posts over ~`n × 1.5 s` ending an hour ago (a live service's idle advance fills
/// the silence up to now with zero-count windows, so the data must be recent),
/// deterministic apart from that start: three topics, posts matching two topics or
/// none, client clocks off by up to a minute, some posts 20 minutes late, some ids
/// repeated.
pub fn write_posts(path: &Path, n: usize) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let base = (now - n as i64 * 1500 - 3_600_000).div_euclid(WINDOW_MS) * WINDOW_MS;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let texts = [
        "I love Ocean Spray",
        "ocean spray on the beach",
        "Ocean-Spray!",
        "OCEAN SPRAY all day",
        "cranberry juice time",
        "Cranberry Juice",
        "juice",
        "#OceanSpray and cranberry",
        "nothing to see here",
        "CRANBERRY",
    ];
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let r = next();
        let mut t = base + i as i64 * 1500 + (r % 90_000) as i64 - 60_000;
        if i % 97 == 0 {
            t -= 20 * 60_000;
        }
        let id = if i % 50 == 49 { i - 3 } else { i };
        let created = viral_core::time::from_millis(t);
        let observed = viral_core::time::from_millis(t + 2_000);
        let post = serde_json::json!({
            "id": format!("test:{id}"),
            "source": "test",
            "text": texts[(r >> 20) as usize % texts.len()],
            "created_at": created,
            "observed_at": observed,
            "url": format!("https://example.com/{id}"),
        });
        writeln!(out, "{post}").unwrap();
    }
    out.flush().unwrap();
}

/// Every committed record of `topic`, per partition in offset order. Call when no
/// transaction is open on it (its writers stopped).
pub fn read_all(brokers: &str, topic: &str) -> BTreeMap<i32, Vec<(i64, Vec<u8>)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "viral-tests-read-all")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    let mut at_end = std::collections::BTreeSet::new();
    let deadline = Instant::now() + PATIENCE;
    while at_end.len() < partitions.len() {
        assert!(
            Instant::now() < deadline,
            "reading {topic} to its end took too long"
        );
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                out.entry(m.partition())
                    .or_default()
                    .push((m.offset(), m.payload().unwrap_or_default().to_vec()));
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// The counts the aggregator must produce: the core engine run on each partition of
/// the mentions topic in offset order, poison skipped, everything flushed at the end
/// (the aggregator's idle advance closes every window the same way). Also returns how
/// many messages were poison.
pub fn expected_counts(mentions: &BTreeMap<i32, Vec<(i64, Vec<u8>)>>) -> (Vec<WindowCount>, usize) {
    expected(mentions, true)
}

/// Like [`expected_counts`], but only the windows the mentions themselves close: for a
/// live aggregator that never idles (its last windows stay open).
pub fn expected_closed(mentions: &BTreeMap<i32, Vec<(i64, Vec<u8>)>>) -> Vec<WindowCount> {
    expected(mentions, false).0
}

fn expected(
    mentions: &BTreeMap<i32, Vec<(i64, Vec<u8>)>>,
    flush: bool,
) -> (Vec<WindowCount>, usize) {
    let spec = WindowSpec::from_millis(WINDOW_MS, WINDOW_MS, LATENESS_MS).unwrap();
    let mut out = Vec::new();
    let mut poison = 0;
    for records in mentions.values() {
        let mut engine = WindowEngine::new(spec).with_samples(SAMPLES);
        for (offset, payload) in records {
            match serde_json::from_slice::<Mention>(payload) {
                Ok(m) => {
                    engine.push(MentionRef::of(&m, *offset as u64));
                    out.extend(engine.closed());
                }
                Err(_) => poison += 1,
            }
        }
        if flush {
            engine.flush();
            out.extend(engine.closed());
        }
    }
    sort(&mut out);
    (out, poison)
}

/// What `viral replay` says about `posts` with the deployment's config, sorted.
pub fn replay(d: &Deployment, posts: &Path) -> Vec<WindowCount> {
    let replayed = d.dir.path().join("replay.jsonl");
    let out = std::process::Command::new(viral_integration_tests::services::binary("viral"))
        .args(["replay", "--config"])
        .arg(&d.config)
        .arg("--input")
        .arg(posts)
        .arg("--output")
        .arg(&replayed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut counts: Vec<WindowCount> = std::fs::read_to_string(&replayed)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    sort(&mut counts);
    counts
}

/// The store keeps counts, not sample posts; replay never writes samples.
pub fn without_samples(mut counts: Vec<WindowCount>) -> Vec<WindowCount> {
    for c in &mut counts {
        c.samples.clear();
    }
    counts
}

pub fn sort(counts: &mut [WindowCount]) {
    counts.sort_by(|a, b| (&a.topic, a.window_start).cmp(&(&b.topic, b.window_start)));
}

pub fn decode_counts(records: &BTreeMap<i32, Vec<(i64, Vec<u8>)>>) -> Vec<WindowCount> {
    let mut out: Vec<WindowCount> = records
        .values()
        .flatten()
        .map(|(_, p)| serde_json::from_slice(p).expect("a WindowCount"))
        .collect();
    sort(&mut out);
    out
}

/// The services' output as it arrives: which windows (by topic and start) have been
/// seen, and how many counts have arrived in all (the zero-count tail included).
#[derive(Default)]
pub struct Awaited {
    seen: std::collections::BTreeSet<(String, chrono::DateTime<chrono::Utc>)>,
    pub received: usize,
}

impl Awaited {
    /// Has every window of `want` arrived?
    pub fn has_all(&self, want: &[WindowCount]) -> bool {
        want.iter()
            .all(|w| self.seen.contains(&(w.topic.clone(), w.window_start)))
    }

    /// Read `sub` until `done`, failing after [`PATIENCE`] without progress.
    pub async fn until(&mut self, sub: &mut Box<dyn Subscription>, done: impl Fn(&Self) -> bool) {
        while !done(self) {
            match tokio::time::timeout(PATIENCE, sub.recv()).await {
                Ok(Some(m)) => {
                    let c: WindowCount = serde_json::from_slice(&m.payload).expect("a WindowCount");
                    self.seen.insert((c.topic, c.window_start));
                    self.received += 1;
                }
                Ok(None) => panic!("the bus closed after {} counts", self.received),
                Err(_) => panic!(
                    "no progress for {PATIENCE:?} after {} counts ({} windows)",
                    self.received,
                    self.seen.len()
                ),
            }
        }
    }
}

/// Wait until `sub` has delivered `n` messages, failing after [`PATIENCE`] without one.
pub async fn await_messages(sub: &mut Box<dyn Subscription>, n: usize) {
    for seen in 0..n {
        match tokio::time::timeout(PATIENCE, sub.recv()).await {
            Ok(Some(_)) => {}
            Ok(None) => panic!("the bus closed after {seen} of {n} messages"),
            Err(_) => panic!("no progress for {PATIENCE:?} after {seen} of {n} messages"),
        }
    }
}

pub async fn subscribe(bus: &KafkaBus, topic: &str) -> Box<dyn Subscription> {
    let group = format!("reader.{topic}");
    bus.subscribe(topic, &group).await.unwrap()
}

/// `got` (the services' output, sorted) holds every expected window exactly once with
/// its exact count and samples; anything else is a zero-count window after the topic's
/// last expected one — the silence between the data's end and the wall clock, which a
/// live aggregator closes by idle advance.
pub fn assert_exact(got: &[WindowCount], want: &[WindowCount], what: &str) {
    let mut keys = std::collections::BTreeSet::new();
    for c in got {
        assert!(
            keys.insert((c.topic.clone(), c.window_start)),
            "{what}: window {} {} emitted twice",
            c.topic,
            c.window_start
        );
    }
    let mut last: BTreeMap<&str, chrono::DateTime<chrono::Utc>> = BTreeMap::new();
    for w in want {
        let e = last.entry(&w.topic).or_insert(w.window_start);
        *e = (*e).max(w.window_start);
    }
    let mut want_iter = want.iter().peekable();
    let mut matched = 0;
    for c in got {
        if want_iter.peek() == Some(&c) {
            want_iter.next();
            matched += 1;
            continue;
        }
        let tail = last
            .get(c.topic.as_str())
            .is_some_and(|l| c.window_start > *l);
        let same = want
            .iter()
            .find(|w| w.topic == c.topic && w.window_start == c.window_start);
        assert!(
            tail && c.count == 0,
            "{what}: unexpected window {c:?}\nexpected there: {same:?}\nnext expected: {:?}",
            want_iter.peek()
        );
    }
    assert_eq!(
        matched,
        want.len(),
        "{what}: expected windows missing: {:?}",
        want_iter.next()
    );
}
