//! The Bluesky source: new posts from a Jetstream instance (Bluesky's JSON view of the
//! firehose, free and without an account) over a websocket,
//! `wss://HOST/subscribe?wantedCollections=app.bsky.feed.post`.
//!
//! Only `commit` events creating an `app.bsky.feed.post` become posts; identity, account,
//! update and delete events are counted and skipped, and so is any event that cannot be
//! parsed (by kind, logged once). The `time_us` of the last event handled is the cursor:
//! saved every `cursor_interval` and at shutdown, and on every reconnect or restart the
//! subscription resumes from it minus `rewind`, so nothing is lost across a disconnect.
//! The few seconds replayed come back with the same post ids, and the aggregator's
//! per-window de-duplication drops them.

mod config;
mod cursor;
pub(crate) mod event;
#[cfg(test)]
mod tests;

pub use config::{JetstreamConfig, DEFAULT_HOST};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;
use tokio_util::sync::CancellationToken;
use viral_core::Post;

use crate::live::{Backoff, Pause, SourceMonitor};
use crate::{send_or_stop, Source, SourceError};
use cursor::CursorFile;
use event::Parsed;

/// `Post::source` of Bluesky posts, and this source's name in metrics.
pub const SOURCE: &str = "bluesky";
/// The only collection asked for.
pub const POST_COLLECTION: &str = "app.bsky.feed.post";

/// A post event is a few kilobytes; a frame this large is not one.
const MAX_FRAME: usize = 4 << 20;

/// Bluesky posts from a Jetstream websocket, resumable by cursor.
pub struct JetstreamSource {
    config: JetstreamConfig,
    monitor: SourceMonitor,
    pause: Pause,
    jitter: Option<f64>,
}

/// Why a connection ended.
enum End {
    /// Shutdown was requested or the pipeline is gone: stop for good.
    Stop,
    /// The connection failed or was lost; try again after a backoff.
    Lost(String),
}

/// Where the subscription is: the cursor of the last event handled and what is on disk.
struct Position {
    cursor: Option<i64>,
    saved: Option<i64>,
    file: CursorFile,
}

impl Position {
    /// Write the cursor if it moved; a failure is logged and retried at the next save.
    async fn save(&mut self) {
        let Some(cursor) = self.cursor.filter(|c| Some(*c) != self.saved) else {
            return;
        };
        match self.file.save(cursor).await {
            Ok(()) => self.saved = Some(cursor),
            Err(e) => {
                tracing::warn!(path = %self.file.path().display(), error = %e, "jetstream: cannot save the cursor")
            }
        }
    }
}

impl JetstreamSource {
    /// The configuration is checked when the source runs.
    pub fn new(config: JetstreamConfig, monitor: SourceMonitor) -> Self {
        Self {
            config,
            monitor,
            pause: Pause::real(),
            jitter: None,
        }
    }

    /// Record backoff delays instead of sleeping, without jitter.
    #[cfg(test)]
    pub(crate) fn with_recorded_pauses(mut self) -> (Self, mpsc::UnboundedReceiver<Duration>) {
        let (pause, delays) = Pause::recorded();
        self.pause = pause;
        self.jitter = Some(0.0);
        (self, delays)
    }

    fn backoff(&self) -> Backoff {
        let b = Backoff::exponential(self.config.reconnect_min, self.config.reconnect_max);
        match self.jitter {
            Some(j) => b.with_jitter(j),
            None => b,
        }
    }

    /// The cursor to start from: the saved one, unless it is too old to be worth replaying.
    async fn initial_cursor(&self, file: &CursorFile) -> Option<i64> {
        let saved = match file.load().await {
            Ok(saved) => saved?,
            Err(e) => {
                tracing::warn!(path = %file.path().display(), error = %e, "jetstream: ignoring an unreadable cursor; starting live");
                return None;
            }
        };
        let age_us = now_us().saturating_sub(saved);
        let max_us = i64::try_from(self.config.max_replay.as_micros()).unwrap_or(i64::MAX);
        if age_us > max_us {
            tracing::warn!(
                cursor = saved,
                max_replay = ?self.config.max_replay,
                "jetstream: the saved cursor is older than max_replay; starting live"
            );
            return None;
        }
        Some(saved)
    }

    /// One connection, from connecting until it ends.
    async fn session(
        &self,
        tls: &Connector,
        position: &mut Position,
        backoff: &mut Backoff,
        sink: &mpsc::Sender<Post>,
        shutdown: &CancellationToken,
    ) -> End {
        let rewind_us = i64::try_from(self.config.rewind.as_micros()).unwrap_or(0);
        let from = position.cursor.map(|c| c.saturating_sub(rewind_us));
        let url = match self.config.subscribe_url(from) {
            Ok(u) => u,
            Err(e) => return End::Lost(e.to_string()),
        };
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(ws_config),
            true,
            Some(tls.clone()),
        );
        let connected = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return End::Stop,
            r = tokio::time::timeout(self.config.connect_timeout, connecting) => r,
        };
        let mut ws = match connected {
            Err(_) => {
                return End::Lost(format!(
                    "no connection within {:?}",
                    self.config.connect_timeout
                ))
            }
            Ok(Err(e)) => return End::Lost(format!("cannot connect: {e}")),
            Ok(Ok((ws, _response))) => ws,
        };
        tracing::info!(url = %url, "jetstream: connected");
        self.monitor.connected();

        let mut save_every = tokio::time::interval(self.config.cursor_interval);
        save_every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut idle_deadline = Instant::now() + self.config.idle_timeout;
        loop {
            let frame = tokio::select! {
                biased;
                _ = shutdown.cancelled() => {
                    // A polite close; the server's answer is not worth waiting for.
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return End::Stop;
                }
                _ = save_every.tick() => {
                    position.save().await;
                    continue;
                }
                _ = tokio::time::sleep_until(idle_deadline) => {
                    return End::Lost(format!("nothing received for {:?}", self.config.idle_timeout));
                }
                frame = ws.next() => frame,
            };
            idle_deadline = Instant::now() + self.config.idle_timeout;
            let text = match frame {
                None => return End::Lost("the server closed the connection".into()),
                Some(Err(e)) => return End::Lost(format!("connection lost: {e}")),
                Some(Ok(Message::Text(t))) => t,
                Some(Ok(Message::Close(frame))) => {
                    let why =
                        frame.map_or_else(String::new, |f| format!(": {} {}", f.code, f.reason));
                    return End::Lost(format!("the server closed the connection{why}"));
                }
                Some(Ok(Message::Binary(_))) => {
                    // Only compressed mode sends binary frames, and it is never asked for.
                    self.monitor.event();
                    self.monitor.bad(
                        "binary_frame",
                        &"a binary frame (compressed events are not requested)",
                    );
                    continue;
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
            };
            self.monitor.event();
            // Something arrived, so this connection works: the next failure starts the
            // backoff afresh.
            backoff.reset();
            match event::parse(text.as_str(), now_us()) {
                Parsed::Post { post, time_us } => {
                    if !send_or_stop(sink, shutdown, *post).await {
                        return End::Stop;
                    }
                    position.cursor = Some(time_us);
                }
                Parsed::Other { time_us } => position.cursor = Some(time_us),
                Parsed::Bad {
                    kind,
                    detail,
                    time_us,
                } => {
                    self.monitor.bad(kind, &detail);
                    if let Some(t) = time_us {
                        position.cursor = Some(t);
                    }
                }
            }
        }
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[async_trait::async_trait]
impl Source for JetstreamSource {
    fn name(&self) -> &str {
        SOURCE
    }

    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError> {
        self.config
            .validate()
            .map_err(|problem| SourceError::Config {
                source_name: SOURCE.to_owned(),
                problem,
            })?;
        let tls = crate::live::tls_config().map_err(|e| SourceError::Start {
            source_name: SOURCE.to_owned(),
            problem: format!("TLS: {e}"),
        })?;
        let tls = Connector::Rustls(tls);
        let file = CursorFile::new(&self.config.cursor_path);
        let cursor = self.initial_cursor(&file).await;
        tracing::info!(host = %self.config.host, cursor = ?cursor, "jetstream source started");
        let mut position = Position {
            cursor,
            saved: cursor,
            file,
        };
        let mut backoff = self.backoff();
        self.monitor.disconnected();
        loop {
            match self
                .session(&tls, &mut position, &mut backoff, &sink, &shutdown)
                .await
            {
                End::Stop => break,
                End::Lost(error) => {
                    self.monitor.disconnected();
                    position.save().await;
                    let delay = backoff.next_delay();
                    self.monitor.reconnecting(delay, &error);
                    if !self.pause.wait(delay, &shutdown).await {
                        break;
                    }
                }
            }
        }
        position.save().await;
        self.monitor.stopped();
        Ok(())
    }
}
