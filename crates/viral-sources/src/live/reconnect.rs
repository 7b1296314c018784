//! A connected source's life around its connections, kept here so that Jetstream,
//! Mastodon and X each say only what is their own: the checks of the keys every connected
//! source has ([`Patience`]), the start (configuration checked, clients built, readiness
//! pending), one attempt to connect bounded by a timeout and by shutdown ([`connect`]),
//! and the way back after a lost connection (readiness told, the reconnect counted and
//! logged, the wait).

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Backoff, Pause, SourceMonitor, JITTER};
use crate::{InvalidConfig, SourceError};

/// The keys of a connected source's table that say how patient it is: how long one
/// attempt to connect may take, how long it may stay disconnected before the producer
/// reports not ready, and (unless the service dictates its own delays, as X does) the
/// first and the longest delay between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub connect_timeout: Duration,
    pub unready_after: Duration,
    /// `reconnect_min` and `reconnect_max`.
    pub reconnect: Option<(Duration, Duration)>,
}

impl Patience {
    /// Every duration positive, and `reconnect_max` at least `reconnect_min`; the keys
    /// named are those of the source's table.
    pub fn check(&self) -> Result<(), InvalidConfig> {
        let mut durations = vec![("connect_timeout", self.connect_timeout)];
        if let Some((min, max)) = self.reconnect {
            durations.extend([("reconnect_min", min), ("reconnect_max", max)]);
        }
        durations.push(("unready_after", self.unready_after));
        positive(&durations)?;
        match self.reconnect {
            Some((min, max)) if max < min => Err(InvalidConfig::new(
                "reconnect_max",
                "must be at least reconnect_min",
            )),
            _ => Ok(()),
        }
    }
}

/// The first of `durations` (key, value) that is zero, as an error naming its key.
pub(crate) fn positive(durations: &[(&'static str, Duration)]) -> Result<(), InvalidConfig> {
    match durations.iter().find(|(_, d)| d.is_zero()) {
        Some((key, _)) => Err(InvalidConfig::new(key, "must be positive")),
        None => Ok(()),
    }
}

/// What one attempt to connect came to.
pub(crate) enum Attempt<T> {
    Connected(T),
    /// No answer in time, or a failure, said as the reconnect log should say it.
    Failed(String),
    /// Shutdown came first.
    Stopped,
}

/// Wait for `connecting` for at most `timeout`, and not past shutdown.
pub(crate) async fn connect<T, E: Display>(
    timeout: Duration,
    shutdown: &CancellationToken,
    connecting: impl Future<Output = Result<T, E>>,
) -> Attempt<T> {
    let answered = tokio::select! {
        biased;
        _ = shutdown.cancelled() => return Attempt::Stopped,
        r = tokio::time::timeout(timeout, connecting) => r,
    };
    match answered {
        Err(_) => Attempt::Failed(format!("no answer within {timeout:?}")),
        Ok(Err(e)) => Attempt::Failed(format!("cannot connect: {e}")),
        Ok(Ok(c)) => Attempt::Connected(c),
    }
}

/// A connected source's handle on its readiness and on its waits between attempts.
pub struct Reconnect {
    monitor: SourceMonitor,
    pause: Pause,
    jitter: f64,
}

impl Reconnect {
    /// Real waits with [`JITTER`]; the monitor's name is the source's.
    pub fn new(monitor: SourceMonitor) -> Self {
        Self {
            monitor,
            pause: Pause::real(),
            jitter: JITTER,
        }
    }

    /// Record the delays instead of waiting, without jitter (so a test can assert them).
    #[cfg(test)]
    pub(crate) fn record(&mut self) -> tokio::sync::mpsc::UnboundedReceiver<Duration> {
        let (pause, delays) = Pause::recorded();
        self.pause = pause;
        self.jitter = 0.0;
        delays
    }

    pub fn monitor(&self) -> &SourceMonitor {
        &self.monitor
    }

    /// The fraction of each delay added at random.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// Doubling delays from `reconnect_min` up to `reconnect_max`, with this jitter.
    pub fn backoff(&self, patience: &Patience) -> Backoff {
        let (min, max) = patience.reconnect.unwrap_or_default();
        Backoff::exponential(min, max).with_jitter(self.jitter)
    }

    /// Starting, once the clients are built: `checked` is what the source made of its
    /// configuration, an error stopping it for good. From here on the source counts as disconnected until its
    /// first connection (ready meanwhile, for `unready_after`).
    pub fn start<T>(&self, checked: Result<T, InvalidConfig>) -> Result<T, SourceError> {
        let checked = checked.map_err(|problem| SourceError::Config {
            source_name: self.monitor.name().to_owned(),
            problem,
        })?;
        self.monitor.disconnected();
        Ok(checked)
    }

    /// Set-up that no retry would mend (TLS, the HTTP client) failed.
    fn cannot_start(&self, what: &str, e: impl Display) -> SourceError {
        SourceError::Start {
            source_name: self.monitor.name().to_owned(),
            problem: format!("{what}: {e}"),
        }
    }

    /// The HTTP client of a streaming source ([`super::http_client`]).
    pub(crate) fn http_client(
        &self,
        connect_timeout: Duration,
    ) -> Result<reqwest::Client, SourceError> {
        super::http_client(connect_timeout).map_err(|e| self.cannot_start("HTTP client", e))
    }

    /// The TLS configuration of a websocket source ([`super::tls_config`]).
    pub(crate) fn tls(&self) -> Result<Arc<rustls::ClientConfig>, SourceError> {
        super::tls_config().map_err(|e| self.cannot_start("TLS", e))
    }

    /// A connection (or an attempt) failed with `error`: the source is disconnected, and
    /// tries again after `delay`. False if shutdown came first.
    pub async fn retry(
        &self,
        delay: Duration,
        error: &(dyn Display + Sync),
        shutdown: &CancellationToken,
    ) -> bool {
        self.monitor.disconnected();
        self.monitor.reconnecting(delay, error);
        self.pause.wait(delay, shutdown).await
    }
}
