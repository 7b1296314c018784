//! The metrics of viral, defined once so every stage reports the same names the same way
//! (and dashboards and alert rules can rely on them). Exposed in Prometheus text format.
//!
//! Labels are kept to bounded sets: stage, source, detector, notifier, reason — and topic,
//! whose set is the configured topics.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabel {
    pub stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

/// A source's bad event, by what was wrong with it (`invalid_json`, `invalid_post`, …):
/// a fixed set per source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceBadLabel {
    pub source: String,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLetterLabel {
    pub stage: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabel {
    pub op: &'static str,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabel {
    /// A tracked topic (a configured, bounded set), or `untracked` for any other name a
    /// window on the bus may carry, so the label's values stay bounded.
    pub topic: String,
    pub detector: String,
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifierLabel {
    pub notifier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabel {
    pub notifier: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeldLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub stage: &'static str,
    pub partition: i32,
}

/// One of a process's HTTP listeners: `http` (ops, query API, dashboard) or `ingest`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabel {
    pub listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommitLabel {
    pub stage: &'static str,
    pub result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 100 µs … ~6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

/// Every metric of every stage. Cheap to clone (handles share the values).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub posts_received: Family<SourceLabel, Counter>,
    pub posts_matched: Family<SourceLabel, Counter>,
    pub source_events: Family<SourceLabel, Counter>,
    pub source_bad_events: Family<SourceBadLabel, Counter>,
    pub source_reconnects: Family<SourceLabel, Counter>,
    pub source_connected: Family<SourceLabel, Gauge>,
    pub source_last_event_seconds: Family<SourceLabel, Gauge<f64, AtomicU64>>,
    pub mentions_published: Family<TopicLabel, Counter>,
    pub messages_in: Family<StageLabel, Counter>,
    pub messages_out: Family<StageLabel, Counter>,
    pub dead_letters: Family<DeadLetterLabel, Counter>,
    pub late_mentions: Counter,
    pub duplicate_mentions: Counter,
    pub windows_closed: Counter,
    pub windows_open: Gauge,
    pub watermark_seconds: Gauge<f64, AtomicU64>,
    pub processing_seconds: HistogramFamily<StageLabel>,
    pub store_operations: Family<StoreLabel, Counter>,
    pub alerts: Family<AlertLabel, Counter>,
    pub notifications: Family<NotifyLabel, Counter>,
    pub notifications_held: Family<HeldLabel, Counter>,
    pub notifications_resumed: Family<NotifierLabel, Counter>,
    pub notification_seconds: HistogramFamily<NotifierLabel>,
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    pub commits: Family<CommitLabel, Counter>,
    pub restarts: Family<StageLabel, Counter>,
    pub http_connections: Family<ListenerLabel, Gauge>,
    pub http_connection_limit_reached: Family<ListenerLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("viral");
        let m = Self {
            registry: Arc::new(Registry::default()),
            posts_received: Family::default(),
            posts_matched: Family::default(),
            source_events: Family::default(),
            source_bad_events: Family::default(),
            source_reconnects: Family::default(),
            source_connected: Family::default(),
            source_last_event_seconds: Family::default(),
            mentions_published: Family::default(),
            messages_in: Family::default(),
            messages_out: Family::default(),
            dead_letters: Family::default(),
            late_mentions: Counter::default(),
            duplicate_mentions: Counter::default(),
            windows_closed: Counter::default(),
            windows_open: Gauge::default(),
            watermark_seconds: Gauge::default(),
            processing_seconds: Family::new_with_constructor(latency_histogram),
            store_operations: Family::default(),
            alerts: Family::default(),
            notifications: Family::default(),
            notifications_held: Family::default(),
            notifications_resumed: Family::default(),
            notification_seconds: Family::new_with_constructor(latency_histogram),
            consumer_lag: Family::default(),
            commits: Family::default(),
            restarts: Family::default(),
            http_connections: Family::default(),
            http_connection_limit_reached: Family::default(),
        };
        r.register(
            "posts_received",
            "Posts received from sources",
            m.posts_received.clone(),
        );
        r.register(
            "posts_matched",
            "Posts that matched at least one topic",
            m.posts_matched.clone(),
        );
        r.register(
            "source_events",
            "Events received from a source's service (posts and others; not keep-alives)",
            m.source_events.clone(),
        );
        r.register(
            "source_bad_events",
            "Events a source could not use and skipped, by kind",
            m.source_bad_events.clone(),
        );
        r.register(
            "source_reconnects",
            "Times a source lost or could not open its connection and tried again",
            m.source_reconnects.clone(),
        );
        r.register(
            "source_connected",
            "1 while a source is connected to its service, else 0",
            m.source_connected.clone(),
        );
        r.register(
            "source_last_event_timestamp_seconds",
            "When a source last received an event, Unix seconds (age = time() - this)",
            m.source_last_event_seconds.clone(),
        );
        r.register(
            "mentions_published",
            "Mentions accepted by the bus, per topic",
            m.mentions_published.clone(),
        );
        r.register(
            "bus_messages_in",
            "Messages consumed from the bus",
            m.messages_in.clone(),
        );
        r.register(
            "bus_messages_out",
            "Messages published to the bus",
            m.messages_out.clone(),
        );
        r.register(
            "dead_letters",
            "Messages that could not be processed, by reason",
            m.dead_letters.clone(),
        );
        r.register(
            "window_late_mentions",
            "Mentions dropped because all their windows had closed",
            m.late_mentions.clone(),
        );
        r.register(
            "window_duplicate_mentions",
            "Mentions already counted in their windows",
            m.duplicate_mentions.clone(),
        );
        r.register(
            "windows_closed",
            "Windows closed and emitted, zero counts included",
            m.windows_closed.clone(),
        );
        r.register(
            "windows_open",
            "Windows currently holding state",
            m.windows_open.clone(),
        );
        r.register(
            "watermark_seconds",
            "Aggregator watermark, Unix seconds",
            m.watermark_seconds.clone(),
        );
        r.register(
            "processing_seconds",
            "Time to process one bus message",
            m.processing_seconds.clone(),
        );
        r.register(
            "store_operations",
            "Store reads and writes, by result",
            m.store_operations.clone(),
        );
        r.register(
            "alerts",
            "Incident notifications produced, by detector and status",
            m.alerts.clone(),
        );
        r.register(
            "notifications",
            "Notification deliveries, by notifier and result",
            m.notifications.clone(),
        );
        r.register(
            "notifications_held",
            "Alerts stored but not notified, by reason (cooldown, rate_limit)",
            m.notifications_held.clone(),
        );
        r.register(
            "notifications_resumed",
            "Notifications found undelivered at start-up (the alerter stopped before its notifier finished) and sent again",
            m.notifications_resumed.clone(),
        );
        r.register(
            "notification_seconds",
            "Time to deliver one notification, retries included",
            m.notification_seconds.clone(),
        );
        r.register(
            "consumer_lag",
            "Messages between a stage's position and the end of each partition it owns",
            m.consumer_lag.clone(),
        );
        r.register(
            "bus_commits",
            "Commits of output and progress to the bus, by result",
            m.commits.clone(),
        );
        r.register(
            "stage_restarts",
            "Times a stage resubscribed from its last commit after a bus error",
            m.restarts.clone(),
        );
        r.register(
            "http_connections",
            "Open HTTP connections, per listener",
            m.http_connections.clone(),
        );
        r.register(
            "http_connection_limit_reached",
            "Times a listener had its max_connections open and accepted no more until one closed",
            m.http_connection_limit_reached.clone(),
        );
        Self {
            registry: Arc::new(r),
            ..m
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefixed_and_counters_suffixed() {
        let m = Metrics::new();
        m.late_mentions.inc();
        m.dead_letters
            .get_or_create(&DeadLetterLabel {
                stage: "aggregator",
                reason: "invalid_json",
            })
            .inc();
        let text = m.encode();
        assert!(
            text.contains("viral_window_late_mentions_total 1"),
            "{text}"
        );
        assert!(
            text.contains(
                r#"viral_dead_letters_total{stage="aggregator",reason="invalid_json"} 1"#
            ),
            "{text}"
        );
        assert!(text.contains("# EOF"));
    }
}
