//! Lines of a streamed HTTP response body (X's filtered stream, Mastodon's SSE), with a
//! bound on line length and without ever giving up on invalid UTF-8: a bad line is one
//! bad event, not a broken connection.

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use viral_core::lines::{Line, LineSplitter};

/// What [`LineStream::next`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A line, without its `\n` or `\r\n`.
    Line(Vec<u8>),
    /// A line longer than the limit, skipped.
    TooLong,
    /// The server closed the body.
    End,
}

pub(crate) struct LineStream {
    body: BoxStream<'static, Result<Bytes, reqwest::Error>>,
    chunk: Bytes,
    splitter: LineSplitter,
}

impl LineStream {
    pub(crate) fn new(response: reqwest::Response, max_line: usize) -> Self {
        Self {
            body: response.bytes_stream().fuse().boxed(),
            chunk: Bytes::new(),
            splitter: LineSplitter::new(max_line),
        }
    }

    /// The next line; cancel-safe (a partial line stays buffered), so callers can put a
    /// timeout around it.
    pub(crate) async fn next(&mut self) -> Result<Next, reqwest::Error> {
        loop {
            if !self.chunk.is_empty() {
                let (used, line) = self.splitter.feed(&self.chunk);
                let _ = self.chunk.split_to(used);
                if let Some(line) = line {
                    return Ok(self.take(line));
                }
                continue;
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(e),
                None => {
                    return Ok(match self.splitter.finish() {
                        Some(line) => self.take(line),
                        None => Next::End,
                    })
                }
            }
        }
    }

    fn take(&self, line: Line) -> Next {
        match line {
            Line::TooLong => Next::TooLong,
            Line::Complete => {
                let bytes = self.splitter.line();
                let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
                Next::Line(bytes.to_vec())
            }
        }
    }
}
