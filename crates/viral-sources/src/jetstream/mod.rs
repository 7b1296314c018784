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

use crate::live::{connect, Attempt, Backoff, Reconnect, SourceMonitor};
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
    live: Reconnect,
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
            live: Reconnect::new(monitor),
        }
    }

    /// Record backoff delays instead of sleeping, without jitter.
    #[cfg(test)]
    pub(crate) fn with_recorded_pauses(mut self) -> (Self, mpsc::UnboundedReceiver<Duration>) {
        let delays = self.live.record();
        (self, delays)
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
        let mut ws = match connect(self.config.connect_timeout, shutdown, connecting).await {
            Attempt::Connected((ws, _response)) => ws,
            Attempt::Failed(why) => return End::Lost(why),
            Attempt::Stopped => return End::Stop,
        };
        tracing::info!(url = %url, "jetstream: connected");
        self.live.monitor().connected();

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
                    self.live.monitor().event();
                    self.live.monitor().bad(
                        "binary_frame",
                        &"a binary frame (compressed events are not requested)",
                    );
                    continue;
                }
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
            };
            self.live.monitor().event();
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
                    self.live.monitor().bad(kind, &detail);
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
        let tls = Connector::Rustls(self.live.tls()?);
        self.live.start(self.config.validate())?;
        let file = CursorFile::new(&self.config.cursor_path);
        let cursor = self.initial_cursor(&file).await;
        tracing::info!(host = %self.config.host, cursor = ?cursor, "jetstream source started");
        let mut position = Position {
            cursor,
            saved: cursor,
            file,
        };
        let mut backoff = self.live.backoff(&self.config.patience());
        loop {
            match self
                .session(&tls, &mut position, &mut backoff, &sink, &shutdown)
                .await
            {
                End::Stop => break,
                End::Lost(error) => {
                    position.save().await;
                    if !self
                        .live
                        .retry(backoff.next_delay(), &error, &shutdown)
                        .await
                    {
                        break;
                    }
                }
            }
        }
        position.save().await;
        self.live.monitor().stopped();
        Ok(())
    }
}
