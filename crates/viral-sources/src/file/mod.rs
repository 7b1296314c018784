//! The file source: replays a JSONL file of posts (one Post per line) into the
//! live pipeline — by default moved onto the present and sent as the pipeline's clock
//! reaches each post ([`timing`] says why and how), or with its recorded times.
//!
//! It lets recorded or generated traffic (`viral generate`) drive the services, e.g. to
//! reproduce an incident. Like `viral replay`, it skips a line that is not a valid Post
//! — or one dated more than a day after the clock — and counts it rather than stopping:
//! one bad record must not hide the rest. Its posts keep their `observed_at`: the
//! producer trusts a recording's time ([`Source::keeps_time`]).

mod config;
#[cfg(test)]
mod tests;
mod timing;

pub use config::FileConfig;
pub use timing::FileTime;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use viral_core::lines::{Line, LineSplitter};
use viral_core::time::{format_rfc3339, from_millis, to_millis, too_far_ahead};
use viral_core::Post;
use viral_runtime::clock::SharedClock;

use timing::{Pacer, Rebase};

use crate::{send_or_stop, Source, SourceError};

const NAME: &str = "file";

/// Invalid lines logged one by one; past this only the final count is logged, so a file
/// in the wrong format cannot flood the logs.
pub const LOGGED_INVALID_LINES: u64 = 10;

/// A line longer than this is skipped as invalid without being held in memory (the same
/// bound as `viral replay`).
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Counters of a [`FileSource`], shared with whoever holds the handle: take it with
/// [`FileSource::stats`] before running the source, read it during or after the run.
#[derive(Debug, Clone, Default)]
pub struct FileStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    lines: AtomicU64,
    posts: AtomicU64,
    invalid: AtomicU64,
}

impl FileStats {
    /// Lines read so far (valid or not).
    pub fn lines(&self) -> u64 {
        self.0.lines.load(Ordering::Relaxed)
    }

    /// Valid posts delivered into the sink so far.
    pub fn posts(&self) -> u64 {
        self.0.posts.load(Ordering::Relaxed)
    }

    /// Lines skipped because they were not a valid Post (including blank and over-long
    /// lines, and posts dated more than a day after the clock, as `viral replay` counts
    /// them).
    pub fn invalid(&self) -> u64 {
        self.0.invalid.load(Ordering::Relaxed)
    }
}

/// Posts read from a JSONL file, in file order.
pub struct FileSource {
    config: FileConfig,
    /// The pipeline's clock: what posts are placed against and paced by, and what
    /// "more than a day ahead" is measured from.
    clock: SharedClock,
    stats: FileStats,
}

impl FileSource {
    /// The configuration is checked when the source runs.
    pub fn new(config: FileConfig, clock: SharedClock) -> Self {
        Self {
            config,
            clock,
            stats: FileStats::default(),
        }
    }

    /// A handle on this source's counters that outlives the source (whose `run`
    /// consumes it).
    pub fn stats(&self) -> FileStats {
        self.stats.clone()
    }

    async fn replay(
        &self,
        reader: &mut (impl AsyncBufRead + Unpin),
        sink: &mpsc::Sender<Post>,
        shutdown: &CancellationToken,
    ) -> Result<(), SourceError> {
        let path = self.config.path.as_path();
        let mut pacer = match self.config.time {
            FileTime::Recorded => self.config.speed.map(Pacer::new),
            FileTime::Rebase => None,
        };
        let mut rebase = (self.config.time == FileTime::Rebase)
            .then(|| Rebase::new(self.clock.clone(), self.config.speed.unwrap_or(1.0)));
        let mut splitter = LineSplitter::new(MAX_LINE_BYTES);
        let mut line_no: u64 = 0;
        loop {
            let line = tokio::select! {
                biased;
                _ = shutdown.cancelled() => return Ok(()),
                line = next_line(reader, &mut splitter) => line.map_err(|source| SourceError::Read {
                    source_name: NAME.to_owned(),
                    path: path.to_owned(),
                    source,
                })?,
            };
            let Some(line) = line else {
                return Ok(());
            };
            line_no += 1;
            self.stats.0.lines.fetch_add(1, Ordering::Relaxed);
            let parsed = match line {
                Line::TooLong => Err(format!("longer than {MAX_LINE_BYTES} bytes")),
                Line::Complete => {
                    serde_json::from_slice::<Post>(splitter.line()).map_err(|e| e.to_string())
                }
            };
            let mut post = match parsed.and_then(|post| self.not_ahead(post)) {
                Ok(post) => post,
                Err(error) => {
                    self.invalid_line(path, line_no, &error);
                    continue;
                }
            };
            if let Some(pacer) = &mut pacer {
                if !pacer.wait(to_millis(&post.created_at), shutdown).await {
                    return Ok(());
                }
            }
            if let Some(rebase) = &mut rebase {
                let due = rebase.place(&mut post);
                if !rebase.wait(due, shutdown).await {
                    return Ok(());
                }
            }
            if !send_or_stop(sink, shutdown, post).await {
                return Ok(());
            }
            self.stats.0.posts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The rule about the future (docs/ARCHITECTURE.md, "Windowing", rule 7), on the times
    /// as recorded and against the clock, exactly as `viral replay` applies it.
    fn not_ahead(&self, post: Post) -> Result<Post, String> {
        let (event, now) = (post.event_time(), self.clock.now_ms());
        if too_far_ahead(event, now) {
            return Err(format!(
                "dated {}, more than a day after the clock ({})",
                format_rfc3339(&from_millis(event)),
                format_rfc3339(&from_millis(now))
            ));
        }
        Ok(post)
    }

    fn invalid_line(&self, path: &Path, line: u64, error: &str) {
        let n = self.stats.0.invalid.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= LOGGED_INVALID_LINES {
            tracing::warn!(path = %path.display(), line, %error, "file source: skipping a line that is not a valid post");
        }
        if n == LOGGED_INVALID_LINES {
            tracing::warn!(path = %path.display(), "file source: further invalid lines are only counted");
        }
    }
}

#[async_trait::async_trait]
impl Source for FileSource {
    fn name(&self) -> &str {
        NAME
    }

    fn keeps_time(&self) -> bool {
        true
    }

    async fn run(
        self: Box<Self>,
        sink: mpsc::Sender<Post>,
        shutdown: CancellationToken,
    ) -> Result<(), SourceError> {
        self.config
            .validate()
            .map_err(|problem| SourceError::Config {
                source_name: NAME.to_owned(),
                problem,
            })?;
        let path = self.config.path.as_path();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|source| SourceError::Open {
                source_name: NAME.to_owned(),
                path: path.to_owned(),
                source,
            })?;
        tracing::info!(path = %path.display(), time = ?self.config.time, speed = ?self.config.speed, "file source started");
        let mut reader = BufReader::with_capacity(1 << 16, file);
        let result = self.replay(&mut reader, &sink, &shutdown).await;
        let (lines, posts, invalid) =
            (self.stats.lines(), self.stats.posts(), self.stats.invalid());
        tracing::info!(path = %path.display(), lines, posts, invalid, "file source stopped");
        if invalid > LOGGED_INVALID_LINES {
            tracing::warn!(
                path = %path.display(),
                invalid,
                not_shown = invalid - LOGGED_INVALID_LINES,
                "file source: skipped invalid lines"
            );
        }
        result
    }
}

/// Read the next line into `splitter` (shared with `viral replay`): `Ok(None)` at the end
/// of the input. Invalid UTF-8 is left for the JSON parser to reject (one invalid line,
/// not the end of the stream), and memory is bounded by [`MAX_LINE_BYTES`].
async fn next_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    splitter: &mut LineSplitter,
) -> std::io::Result<Option<Line>> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(splitter.finish());
        }
        let (used, line) = splitter.feed(available);
        reader.consume(used);
        if line.is_some() {
            return Ok(line);
        }
    }
}
