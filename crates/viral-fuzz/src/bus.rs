//! Mention and WindowCount messages as the aggregator and the alerter read them off the
//! bus (`deadletter::decode`), one message per input line. What does not decode becomes
//! a dead letter, which must stay bounded; what does goes on: mentions through the
//! windowing engine (tumbling and hopping), window counts through the detectors.

use std::time::Duration;

use viral_bus::{Message, KAFKA_MESSAGE_MAX_BYTES};
use viral_core::window::{MentionRef, WindowEngine, WindowSpec};
use viral_core::{limits, DetectorConfig, Judge, Mention, WindowCount};
use viral_pipeline::deadletter;
use viral_runtime::metrics::Metrics;

/// The messages of an input: one per line, at increasing offsets.
fn messages(data: &[u8]) -> impl Iterator<Item = Message> + '_ {
    data.split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, payload)| Message {
            topic: "in".into(),
            partition: 0,
            offset: i as i64,
            key: String::new(),
            payload: payload.to_vec(),
        })
}

/// Decode `msg` as a stage does; a message it refuses must make a bounded dead letter.
fn decode<T: serde::de::DeserializeOwned>(msg: &Message, metrics: &Metrics) -> Option<T> {
    match deadletter::decode::<T>(msg) {
        Ok(v) => Some(v),
        Err((reason, error)) => {
            let letter = deadletter::letter(metrics, "fuzz", "deadletter", msg, reason, &error)
                .expect("every refused message gets a dead letter");
            assert!(letter.payload.len() + letter.key.len() <= KAFKA_MESSAGE_MAX_BYTES);
            let v: serde_json::Value =
                serde_json::from_slice(&letter.payload).expect("a dead letter is JSON");
            assert_eq!(v["reason"], reason.as_str());
            None
        }
    }
}

pub fn bus_mention(data: &[u8]) {
    let metrics = Metrics::new();
    let mentions: Vec<(Mention, u64)> = messages(data)
        .filter_map(|msg| decode::<Mention>(&msg, &metrics).map(|m| (m, msg.offset as u64)))
        .collect();
    let minute = Duration::from_secs(60);
    let tumbling = WindowSpec::new(minute, None, Duration::ZERO).expect("a valid window");
    let hopping = WindowSpec::new(5 * minute, Some(minute), minute / 2).expect("a valid window");
    for spec in [tumbling, hopping] {
        windows(spec, &mentions);
    }
}

/// Windows the target takes out of an engine for one input: a mention dated centuries
/// after another closes centuries of windows, which the engine hands over one at a time
/// (memory stays bounded whether or not they are taken; taking them all proves nothing).
const TAKE: usize = 2_000;
const HOUR_MS: i64 = 3_600_000;

/// Push `mentions` into an engine as the aggregator does — each push, then the windows it
/// closed taken out; silence advancing the watermark by the clock; the end of a finite
/// input — and check what comes out: each topic's windows one hop apart and in order of
/// window end then topic, every count fitting on the bus, and (tumbling windows, all
/// taken) every counted mention in exactly one window.
fn windows(spec: WindowSpec, mentions: &[(Mention, u64)]) {
    let mut engine = WindowEngine::new(spec).with_samples(3);
    let mut order = Order::default();
    for (m, seq) in mentions {
        engine.push(MentionRef::of(m, *seq));
        order.take(spec, &mut engine, TAKE / 4);
    }
    if engine.settled() {
        let cp = engine.checkpoint();
        assert_eq!(WindowEngine::restore(spec, &cp).checkpoint(), cp);
    }
    // An hour of silence after the last mention: the watermark follows the clock.
    if let Some((last, _)) = mentions.last() {
        engine.advance_to(last.post.event_time().saturating_add(HOUR_MS));
        order.take(spec, &mut engine, TAKE / 4);
    }
    engine.flush();
    let all = order.take(spec, &mut engine, TAKE);
    if all && spec.overlap() == 1 {
        assert_eq!(
            order.counted,
            engine.stats().counted,
            "counts lost or doubled"
        );
    }
}

/// What has come out of an engine so far.
#[derive(Default)]
struct Order {
    /// The last window emitted: (end, topic).
    last: Option<(i64, String)>,
    /// Each topic's last window start.
    starts: std::collections::HashMap<String, i64>,
    counted: u64,
    taken: usize,
}

impl Order {
    /// Take out and check up to `n` due windows (within the input's [`TAKE`]); true if
    /// none is left.
    fn take(&mut self, spec: WindowSpec, engine: &mut WindowEngine, n: usize) -> bool {
        for _ in 0..n.min(TAKE - self.taken) {
            let Some(wc) = engine.pop_closed() else {
                return true;
            };
            self.taken += 1;
            self.check(spec, wc);
        }
        false
    }

    fn check(&mut self, spec: WindowSpec, wc: WindowCount) {
        let (start, end) = (
            wc.window_start.timestamp_millis(),
            wc.window_end.timestamp_millis(),
        );
        assert_eq!(end - start, spec.size(), "a window of the wrong size");
        let key = (end, wc.topic.clone());
        if let Some(last) = &self.last {
            assert!(*last < key, "window {key:?} came out after {last:?}");
        }
        if let Some(prev) = self.starts.insert(wc.topic.clone(), start) {
            assert_eq!(start, prev + spec.hop(), "a topic's windows skip or repeat");
        }
        assert!(wc.samples.len() <= 3);
        if !wc.samples.is_empty() {
            assert!(wc
                .samples
                .iter()
                .all(|s| s.text.len() <= limits::SAMPLE_TEXT_BYTES));
            let bytes = serde_json::to_vec(&wc).expect("a window count encodes");
            assert!(bytes.len() + wc.topic.len() <= KAFKA_MESSAGE_MAX_BYTES);
        }
        self.counted += wc.count;
        self.last = Some(key);
    }
}

pub fn bus_window_count(data: &[u8]) {
    let metrics = Metrics::new();
    let detectors = vec![
        DetectorConfig::threshold(5),
        DetectorConfig::adaptive(),
        DetectorConfig::Burst {
            factor: None,
            min_count: None,
            name: None,
            resolve_after: None,
        },
    ];
    let mut judge = Judge::new(detectors).expect("valid detectors");
    for msg in messages(data) {
        let Some(window) = decode::<WindowCount>(&msg, &metrics) else {
            continue;
        };
        for alert in judge.observe(&window) {
            assert_eq!(alert.topic, window.topic);
            serde_json::to_vec(&alert).expect("an alert encodes");
        }
    }
}
