//! The X source: posts from the X API v2 filtered stream
//! (`GET /2/tweets/search/stream`, app-only bearer token), whose rules the producer
//! keeps equal to the tracked topics before it connects ([`rules`]): missing rules are
//! added, stale ones deleted, each tagged with its topic.
//!
//! The stream is newline-delimited JSON with a bare `\r\n` keep-alive every 20 s; a
//! connection that delivers neither for `stall_timeout` is dropped. Reconnection follows
//! X's guidance ([`XBackoff`]): linear after network errors, exponential from 5 s after
//! HTTP errors, from 1 min after 429. Lines that are not usable posts are counted by
//! kind and skipped; an `operational-disconnect` message ends the connection.

mod backoff;
mod config;
pub mod rules;
#[cfg(test)]
mod tests;
pub(crate) mod tweet;

pub use backoff::{Failure, XBackoff};
pub use config::XConfig;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::HeaderMap;
use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use viral_core::Post;

use crate::live::{connect, Attempt, LineStream, Next, Reconnect, SourceMonitor};
use crate::{send_or_stop, Source, SourceError};
use rules::{Rule, RulesApi};
use tweet::Line;

/// `Post::source` of X posts, and this source's name in metrics.
pub const SOURCE: &str = "x";

/// The post fields asked for, beyond id and text.
const TWEET_FIELDS: &str = "created_at,author_id,lang";
/// A post with its fields is a few kilobytes; a line this long is not one.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// Posts from X's filtered stream.
pub struct XSource {
    config: XConfig,
    token: String,
    topics: Vec<(String, Vec<String>)>,
    live: Reconnect,
}

enum End {
    Stop,
    Lost {
        failure: Failure,
        until_reset: Option<Duration>,
        message: String,
    },
}

impl End {
    fn network(message: impl Into<String>) -> Self {
        End::Lost {
            failure: Failure::Network,
            until_reset: None,
            message: message.into(),
        }
    }
}

/// At most a few hundred characters of a message from X, for logs.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 300;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// How long until the rate limit resets, from X's `x-rate-limit-reset` (Unix seconds).
pub(crate) fn until_reset(headers: &HeaderMap) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-rate-limit-reset")?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

impl XSource {
    /// `token` is the app's bearer token (from the variable `token_env` names);
    /// `topics` are the tracked topics as (name, terms), which the rules follow. The
    /// configuration is checked when the source runs.
    pub fn new(
        config: XConfig,
        token: String,
        topics: Vec<(String, Vec<String>)>,
        monitor: SourceMonitor,
    ) -> Self {
        Self {
            config,
            token,
            topics,
            live: Reconnect::new(monitor),
        }
    }

    /// Record backoff delays instead of sleeping, without jitter.
    #[cfg(test)]
    pub(crate) fn with_recorded_pauses(mut self) -> (Self, mpsc::UnboundedReceiver<Duration>) {
        let delays = self.live.record();
        (self, delays)
    }

    fn stream_url(&self, api: &Url) -> Url {
        let mut url = api.clone();
        url.set_path("/2/tweets/search/stream");
        url.query_pairs_mut()
            .append_pair("tweet.fields", TWEET_FIELDS);
        url
    }

    async fn session(
        &self,
        client: &reqwest::Client,
        api: &Url,
        backoff: &mut XBackoff,
        sink: &mpsc::Sender<Post>,
        shutdown: &CancellationToken,
    ) -> End {
        let request = client
            .get(self.stream_url(api))
            .bearer_auth(&self.token)
            .send();
        let response = match connect(self.config.connect_timeout, shutdown, request).await {
            Attempt::Connected(r) => r,
            Attempt::Failed(why) => return End::network(why),
            Attempt::Stopped => return End::Stop,
        };
        let status = response.status();
        if status != StatusCode::OK {
            let until_reset = until_reset(response.headers());
            let body = response.text().await.unwrap_or_default();
            let message = format!("X answered {status}: {}", excerpt(&body));
            return End::Lost {
                failure: if status == StatusCode::TOO_MANY_REQUESTS {
                    Failure::RateLimited
                } else {
                    Failure::Http
                },
                until_reset,
                message,
            };
        }
        tracing::info!("x: connected to the filtered stream");
        self.live.monitor().connected();
        let mut lines = LineStream::new(response, MAX_LINE);
        let mut stall_deadline = Instant::now() + self.config.stall_timeout;
        loop {
            let line = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return End::Stop,
                _ = tokio::time::sleep_until(stall_deadline) => {
                    return End::network(format!("neither data nor keep-alive for {:?}", self.config.stall_timeout));
                }
                line = lines.next() => line,
            };
            stall_deadline = Instant::now() + self.config.stall_timeout;
            let line = match line {
                Err(e) => return End::network(format!("connection lost: {e}")),
                Ok(Next::End) => return End::network("X ended the stream"),
                Ok(Next::TooLong) => {
                    self.live.monitor().event();
                    self.live
                        .monitor()
                        .bad("too_large", &format!("a line over {MAX_LINE} bytes"));
                    continue;
                }
                Ok(Next::Line(line)) => line,
            };
            // Keep-alives included: the connection works.
            backoff.reset();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.live.monitor().event();
            match tweet::parse(&line, chrono::Utc::now()) {
                Line::Post(post) => {
                    if !send_or_stop(sink, shutdown, *post).await {
                        return End::Stop;
                    }
                }
                Line::Disconnect(why) => {
                    return End::network(format!("X disconnected the stream: {why}"))
                }
                Line::Bad { kind, detail } => self.live.monitor().bad(kind, &detail),
            }
        }
    }
}

#[async_trait::async_trait]
impl Source for XSource {
    fn name(&self) -> &str {
        SOURCE
    }

    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError> {
        let client = self.live.http_client(self.config.connect_timeout)?;
        let (api, want) = self.live.start(self.config.validate().and_then(|()| {
            let want: Vec<Rule> = rules::desired(
                &self.topics,
                &self.config.rule_suffix,
                self.config.max_rule_length,
            )?;
            Ok((self.config.api()?, want))
        }))?;
        tracing::info!(api = %api, rules = want.len(), sync = self.config.sync_rules, "x source started");
        let mut backoff = XBackoff::new(self.live.jitter());
        let mut synced = !self.config.sync_rules;
        loop {
            if !synced {
                let rules_api = RulesApi {
                    client: &client,
                    api: &api,
                    token: &self.token,
                    timeout: self.config.connect_timeout,
                };
                let syncing = tokio::select! {
                    biased;
                    _ = shutdown.cancelled() => break,
                    s = rules_api.sync(&want) => s,
                };
                match syncing {
                    Ok(done) => {
                        synced = true;
                        tracing::info!(
                            added = done.added,
                            deleted = done.deleted,
                            "x: stream rules follow the topics"
                        );
                        for why in &done.refused {
                            self.live.monitor().bad("rule_refused", why);
                        }
                    }
                    Err(e) => {
                        let delay = backoff.next(e.failure, e.until_reset);
                        if !self.live.retry(delay, &e.message, &shutdown).await {
                            break;
                        }
                        continue;
                    }
                }
            }
            match self
                .session(&client, &api, &mut backoff, &sink, &shutdown)
                .await
            {
                End::Stop => break,
                End::Lost {
                    failure,
                    until_reset,
                    message,
                } => {
                    let delay = backoff.next(failure, until_reset);
                    if !self.live.retry(delay, &message, &shutdown).await {
                        break;
                    }
                }
            }
        }
        self.live.monitor().stopped();
        Ok(())
    }
}
