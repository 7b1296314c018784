//! The Mastodon source: statuses from an instance's streaming API over server-sent
//! events, one connection per stream followed (`/api/v1/streaming/hashtag?tag=…`,
//! `/api/v1/streaming/public`, or their `/local` forms), authenticated with a bearer
//! token (required since Mastodon 4.2).
//!
//! `update` events become posts: id from the status's `uri` (the same on every
//! instance), its HTML content as plain text (with the content warning in front),
//! author as `user@domain`. Heartbeat comments only keep the connection alive; boosts,
//! deletes and edits are skipped; anything unparseable is counted by kind and skipped.
//! Each stream reconnects on its own with backoff and jitter; the source is ready while
//! no stream has been down for longer than `unready_after`.

mod config;
pub(crate) mod sse;
pub(crate) mod status;
#[cfg(test)]
mod tests;

pub use config::MastodonConfig;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{header, StatusCode, Url};
use tokio::sync::{mpsc, OnceCell};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use viral_core::Post;

use crate::live::{connect, Attempt, Backoff, LineStream, Next, Reconnect, SourceMonitor};
use crate::{send_or_stop, Source, SourceError};
use config::{streaming_base, Stream};

/// `Post::source` of Mastodon posts, and this source's name in metrics.
pub const SOURCE: &str = "mastodon";

/// A status is a few kilobytes of JSON; an SSE line or event this large is not one.
pub(crate) const MAX_EVENT: usize = 1 << 20;

/// Statuses from a Mastodon instance's streaming API.
pub struct MastodonSource {
    config: MastodonConfig,
    token: String,
    live: Reconnect,
    /// The streaming base the instance announced, once it has answered.
    discovered: OnceCell<Url>,
    /// Streams currently connected.
    up: AtomicUsize,
    streams: usize,
}

enum End {
    Stop,
    Lost(String),
}

impl MastodonSource {
    /// `token` is the access token (from the variable `token_env` names). The
    /// configuration is checked when the source runs.
    pub fn new(config: MastodonConfig, token: String, monitor: SourceMonitor) -> Self {
        let streams = config.streams().len();
        Self {
            config,
            token,
            live: Reconnect::new(monitor),
            discovered: OnceCell::new(),
            up: AtomicUsize::new(0),
            streams,
        }
    }

    /// Record backoff delays instead of sleeping, without jitter.
    #[cfg(test)]
    pub(crate) fn with_recorded_pauses(mut self) -> (Self, mpsc::UnboundedReceiver<Duration>) {
        let delays = self.live.record();
        (self, delays)
    }

    fn stream_up(&self) {
        if self.up.fetch_add(1, Ordering::SeqCst) + 1 == self.streams {
            self.live.monitor().connected();
        }
    }

    /// Where to open streams: as configured, else as the instance announces (asked again
    /// on every attempt until it answers), else the instance itself.
    async fn streaming_base(&self, client: &reqwest::Client, instance: &Url) -> Url {
        if let Some(s) = &self.config.streaming_url {
            if let Ok(url) = streaming_base(s) {
                return url;
            }
        }
        if let Some(url) = self.discovered.get() {
            return url.clone();
        }
        match discover(client, instance, self.config.connect_timeout).await {
            Ok(url) => {
                tracing::info!(streaming = %url, "mastodon: the instance announced its streaming server");
                self.discovered.get_or_init(|| async { url }).await.clone()
            }
            Err(e) => {
                tracing::debug!(error = %e, "mastodon: no streaming server announced; using the instance");
                instance.clone()
            }
        }
    }

    /// Follow one stream until shutdown, reconnecting whenever it is lost.
    async fn follow(
        &self,
        stream: &Stream,
        client: &reqwest::Client,
        instance: &Url,
        sink: &mpsc::Sender<Post>,
        shutdown: &CancellationToken,
    ) {
        let mut backoff = self.live.backoff(&self.config.patience());
        let mut parser = sse::Parser::new(MAX_EVENT);
        loop {
            parser.reset();
            let mut was_up = false;
            let session = self.session(
                stream,
                client,
                instance,
                (&mut parser, &mut backoff, &mut was_up),
                sink,
                shutdown,
            );
            match session.await {
                End::Stop => return,
                End::Lost(error) => {
                    if was_up {
                        self.up.fetch_sub(1, Ordering::SeqCst);
                    }
                    let error = format!("{}: {error}", stream.label());
                    if !self
                        .live
                        .retry(backoff.next_delay(), &error, shutdown)
                        .await
                    {
                        return;
                    }
                }
            }
        }
    }

    /// One connection of `stream`; `state` is the stream's parser and backoff, and
    /// whether this connection got as far as being counted up.
    async fn session(
        &self,
        stream: &Stream,
        client: &reqwest::Client,
        instance: &Url,
        state: (&mut sse::Parser, &mut Backoff, &mut bool),
        sink: &mpsc::Sender<Post>,
        shutdown: &CancellationToken,
    ) -> End {
        let mut url = self.streaming_base(client, instance).await;
        url.set_path(&stream.path);
        url.set_query(None);
        if let Some(tag) = &stream.tag {
            url.query_pairs_mut().append_pair("tag", tag);
        }
        let request = client
            .get(url.clone())
            .bearer_auth(&self.token)
            .header(header::ACCEPT, "text/event-stream")
            .send();
        let response = match connect(self.config.connect_timeout, shutdown, request).await {
            Attempt::Connected(r) => r,
            Attempt::Failed(why) => return End::Lost(why),
            Attempt::Stopped => return End::Stop,
        };
        match response.status() {
            StatusCode::OK => {}
            s @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return End::Lost(format!(
                    "the instance refused the token ({s}): it needs a user token with read:statuses"
                ))
            }
            s => return End::Lost(format!("the instance answered {s}")),
        }
        tracing::info!(stream = %stream.label(), url = %url, "mastodon: connected");
        let (parser, backoff, was_up) = state;
        self.stream_up();
        *was_up = true;
        let domain = instance.host_str().unwrap_or_default().to_owned();
        let mut lines = LineStream::new(response, MAX_EVENT + 64);
        let mut idle_deadline = Instant::now() + self.config.idle_timeout;
        loop {
            let line = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return End::Stop,
                _ = sink.closed() => return End::Stop,
                _ = tokio::time::sleep_until(idle_deadline) => {
                    return End::Lost(format!("nothing received for {:?}", self.config.idle_timeout));
                }
                line = lines.next() => line,
            };
            idle_deadline = Instant::now() + self.config.idle_timeout;
            let event = match line {
                Err(e) => return End::Lost(format!("connection lost: {e}")),
                Ok(Next::End) => return End::Lost("the server ended the stream".into()),
                Ok(Next::TooLong) => {
                    parser.reset();
                    self.live.monitor().event();
                    self.live
                        .monitor()
                        .bad("too_large", &format!("a line over {MAX_EVENT} bytes"));
                    continue;
                }
                Ok(Next::Line(line)) => {
                    // Heartbeats included: the stream works.
                    backoff.reset();
                    match parser.feed(&line) {
                        Some(event) => event,
                        None => continue,
                    }
                }
            };
            self.live.monitor().event();
            if event.too_large {
                self.live
                    .monitor()
                    .bad("too_large", &format!("an event over {MAX_EVENT} bytes"));
                continue;
            }
            if event.kind != "update" {
                // delete, status.update, notification…: not new posts.
                continue;
            }
            match status::parse(&event.data, &domain) {
                Ok(Some(post)) => {
                    if !send_or_stop(sink, shutdown, post).await {
                        return End::Stop;
                    }
                }
                Ok(None) => {}
                Err((kind, detail)) => self.live.monitor().bad(kind, &detail),
            }
        }
    }
}

/// Ask the instance where its streaming server is.
async fn discover(
    client: &reqwest::Client,
    instance: &Url,
    timeout: Duration,
) -> Result<Url, String> {
    let url = instance
        .join("/api/v2/instance")
        .map_err(|e| e.to_string())?;
    let response = client
        .get(url)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("/api/v2/instance answered {}", response.status()));
    }
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    let announced = body
        .pointer("/configuration/urls/streaming")
        .and_then(|v| v.as_str())
        .ok_or("no configuration.urls.streaming")?;
    streaming_base(announced)
}

#[async_trait::async_trait]
impl Source for MastodonSource {
    fn name(&self) -> &str {
        SOURCE
    }

    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError> {
        let client = self.live.http_client(self.config.connect_timeout)?;
        let instance = self.live.start(
            self.config
                .validate()
                .and_then(|()| self.config.instance_url()),
        )?;
        let streams = self.config.streams();
        let labels: Vec<String> = streams.iter().map(Stream::label).collect();
        tracing::info!(instance = %instance, streams = ?labels, "mastodon source started");
        let following = streams
            .iter()
            .map(|s| self.follow(s, &client, &instance, &sink, &shutdown));
        futures::future::join_all(following).await;
        self.live.monitor().stopped();
        Ok(())
    }
}
