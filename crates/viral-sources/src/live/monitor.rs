//! What a live source reports about itself: events received, bad events skipped,
//! reconnects, whether it is connected and when it last heard from its service (as
//! metrics), and readiness (`/readyz` component `source:<name>`), which turns false only
//! once the source has been disconnected for longer than its `unready_after`, so a
//! routine reconnect does not flap the producer's readiness.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::AbortHandle;
use viral_runtime::health::Health;
use viral_runtime::metrics::{Metrics, SourceBadLabel, SourceLabel};

/// Default for each live source's `unready_after`.
pub const UNREADY_AFTER: Duration = Duration::from_secs(60);

/// A source's handle on the process's metrics and readiness. Cheap to clone.
#[derive(Clone)]
pub struct SourceMonitor {
    inner: Arc<Inner>,
}

struct Inner {
    label: SourceLabel,
    component: String,
    metrics: Metrics,
    health: Health,
    unready_after: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    connected: bool,
    /// The pending "not ready" of the current disconnection, if any.
    unready_timer: Option<AbortHandle>,
    /// Bad events per kind, for the once-per-kind log and the summary at the end.
    bad: BTreeMap<&'static str, u64>,
}

impl SourceMonitor {
    /// `name` labels the metrics (`source="bluesky"`) and the readiness component
    /// (`source:bluesky`).
    pub fn new(name: &str, metrics: Metrics, health: Health, unready_after: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                label: SourceLabel {
                    source: name.to_owned(),
                },
                component: format!("source:{name}"),
                metrics,
                health,
                unready_after,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A monitor with metrics and readiness of its own, for tools and tests.
    pub fn detached(name: &str) -> Self {
        Self::new(name, Metrics::new(), Health::new(), UNREADY_AFTER)
    }

    pub fn name(&self) -> &str {
        &self.inner.label.source
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn health(&self) -> &Health {
        &self.inner.health
    }

    /// This source's readiness component.
    pub fn component(&self) -> &str {
        &self.inner.component
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The source is up: connected (or listening) and ready.
    pub fn connected(&self) {
        let mut s = self.state();
        if let Some(timer) = s.unready_timer.take() {
            timer.abort();
        }
        s.connected = true;
        self.inner
            .metrics
            .source_connected
            .get_or_create(&self.inner.label)
            .set(1);
        self.inner.health.set(&self.inner.component, true);
    }

    /// The source is not connected (also at start, before the first connection). It stays
    /// ready for `unready_after`, then turns unready until [`connected`](Self::connected).
    /// Must be called inside a tokio runtime.
    pub fn disconnected(&self) {
        let mut s = self.state();
        if s.unready_timer.is_some() {
            // Already counting down (or already unready) since the first failure.
            return;
        }
        if !self
            .inner
            .health
            .snapshot()
            .contains_key(&self.inner.component)
        {
            // Starting up: ready until proven otherwise, like a routine reconnect.
            self.inner.health.set(&self.inner.component, true);
        }
        s.connected = false;
        self.inner
            .metrics
            .source_connected
            .get_or_create(&self.inner.label)
            .set(0);
        let (health, component, after) = (
            self.inner.health.clone(),
            self.inner.component.clone(),
            self.inner.unready_after,
        );
        let timer = tokio::spawn(async move {
            tokio::time::sleep(after).await;
            tracing::warn!(source = %component, disconnected_for = ?after, "source still disconnected: not ready");
            health.set(&component, false);
        });
        s.unready_timer = Some(timer.abort_handle());
    }

    /// One more attempt to (re)connect is about to be made after `delay`.
    pub fn reconnecting(&self, delay: Duration, error: &dyn Display) {
        self.inner
            .metrics
            .source_reconnects
            .get_or_create(&self.inner.label)
            .inc();
        tracing::warn!(source = self.name(), %error, retry_in = ?delay, "source disconnected; reconnecting");
    }

    /// An event arrived from the service (a post or anything else but a keep-alive).
    pub fn event(&self) {
        let m = &self.inner.metrics;
        m.source_events.get_or_create(&self.inner.label).inc();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        m.source_last_event_seconds
            .get_or_create(&self.inner.label)
            .set(now);
    }

    /// An event that cannot be used was skipped. The first of each `kind` is logged with
    /// `detail`; the rest are only counted (a stream of bad events must not flood the
    /// logs), and summed up by [`stopped`](Self::stopped).
    pub fn bad(&self, kind: &'static str, detail: &dyn Display) {
        self.inner
            .metrics
            .source_bad_events
            .get_or_create(&SourceBadLabel {
                source: self.inner.label.source.clone(),
                kind,
            })
            .inc();
        let first = {
            let mut s = self.state();
            let n = s.bad.entry(kind).or_insert(0);
            *n += 1;
            *n == 1
        };
        if first {
            tracing::warn!(source = self.name(), kind, %detail, "skipping a bad event (further ones of this kind are only counted)");
        } else {
            tracing::debug!(source = self.name(), kind, %detail, "skipping a bad event");
        }
    }

    /// Bad events skipped so far, per kind.
    pub fn bad_counts(&self) -> BTreeMap<&'static str, u64> {
        self.state().bad.clone()
    }

    /// The source has stopped: cancel the pending readiness change and sum up.
    pub fn stopped(&self) {
        let mut s = self.state();
        if let Some(timer) = s.unready_timer.take() {
            timer.abort();
        }
        s.connected = false;
        self.inner
            .metrics
            .source_connected
            .get_or_create(&self.inner.label)
            .set(0);
        if !s.bad.is_empty() {
            tracing::info!(source = self.name(), bad_events = ?s.bad, "source stopped");
        } else {
            tracing::info!(source = self.name(), "source stopped");
        }
    }
}
