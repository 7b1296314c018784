//! `viral replay`: matching and windowing over a JSONL file of posts, as fast as it can,
//! with exactly the core code the services run. It streams: memory depends on the open
//! windows, not on the size of the input, nor on how many windows one line closes (each
//! is written out as the engine hands it over).
//!
//! The rules include the one about the future: a post dated more than a day after the
//! wall clock is invalid, as the services would find it.

use std::borrow::Cow;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use viral_core::lines::{Line, LineSplitter};
use viral_core::matcher::TopicMatcher;
use viral_core::time::{
    event_time, format_rfc3339, from_millis, parse_rfc3339, too_far_ahead, Millis,
};
use viral_core::window::{MentionRef, WindowEngine, WindowSpec};

/// The last line `viral replay` prints on stderr (its keys and their order are a contract:
/// docs/ARCHITECTURE.md, "Windowing").
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub posts: u64,
    pub mentions: u64,
    pub duplicates: u64,
    pub late: u64,
    pub invalid: u64,
    pub windows: u64,
}

/// A Post borrowed from its line: same fields and validity rules as `viral_core::Post`,
/// without copying the strings of posts that match nothing.
#[derive(Deserialize)]
struct PostLine<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[allow(dead_code)]
    #[serde(borrow)]
    source: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(borrow)]
    created_at: Cow<'a, str>,
    #[serde(default, borrow)]
    observed_at: Option<Cow<'a, str>>,
    #[allow(dead_code)]
    #[serde(default, borrow)]
    author: Option<Cow<'a, str>>,
    #[allow(dead_code)]
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[allow(dead_code)]
    #[serde(default, borrow)]
    lang: Option<Cow<'a, str>>,
}

/// Lines longer than this are skipped as invalid without being held in memory.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Replay `input` into `output`; invalid lines are reported to `errors`. `now` is the
/// wall clock, against which a post dated more than a day ahead is invalid. I/O errors
/// on input or output end the replay; bad lines never do.
pub fn replay(
    matcher: &TopicMatcher,
    spec: WindowSpec,
    now: Millis,
    input: impl BufRead,
    mut output: impl Write,
    mut errors: impl Write,
) -> std::io::Result<Summary> {
    let mut engine = WindowEngine::new(spec);
    let mut summary = Summary::default();
    let (mut scratch, mut topics) = (viral_core::matcher::Scratch::default(), Vec::new());
    let mut lines = Lines::new(input);
    let mut line_no = 0u64;
    while let Some(line) = lines.next_line()? {
        line_no += 1;
        let Some(line) = line else {
            summary.invalid += 1;
            writeln!(
                errors,
                "line {line_no}: longer than {MAX_LINE_BYTES} bytes, skipped"
            )?;
            continue;
        };
        let post = match parse(line, now) {
            Ok(p) => p,
            Err(e) => {
                summary.invalid += 1;
                writeln!(errors, "line {line_no}: invalid post: {e}")?;
                continue;
            }
        };
        summary.posts += 1;
        topics.clear();
        matcher.find_into(&post.text, &mut scratch, &mut topics);
        for &t in &topics {
            summary.mentions += 1;
            engine.push(MentionRef {
                topic: matcher.name(t),
                id: &post.id,
                event_time: post.event_time,
                observed_at: post.observed_at,
                text: "",
                url: None,
                seq: line_no,
            });
            write_counts(&mut output, &mut engine)?;
        }
    }
    engine.flush();
    write_counts(&mut output, &mut engine)?;
    output.flush()?;
    let stats = engine.stats();
    summary.duplicates = stats.duplicates;
    summary.late = stats.late;
    summary.windows = stats.windows;
    Ok(summary)
}

struct Parsed<'a> {
    id: Cow<'a, str>,
    text: Cow<'a, str>,
    event_time: Millis,
    observed_at: Option<Millis>,
}

fn parse(line: &[u8], now: Millis) -> Result<Parsed<'_>, String> {
    let p: PostLine<'_> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let created = parse_rfc3339(&p.created_at)
        .map_err(|e| format!("created_at {:?} is not RFC 3339: {e}", p.created_at))?;
    let observed = match &p.observed_at {
        Some(o) => {
            Some(parse_rfc3339(o).map_err(|e| format!("observed_at {o:?} is not RFC 3339: {e}"))?)
        }
        None => None,
    };
    let event_time = event_time(&created, observed.as_ref());
    if too_far_ahead(event_time, now) {
        return Err(format!(
            "dated {}, more than a day after the clock ({})",
            format_rfc3339(&from_millis(event_time)),
            format_rfc3339(&from_millis(now))
        ));
    }
    Ok(Parsed {
        event_time,
        observed_at: observed.as_ref().map(viral_core::time::to_millis),
        id: p.id,
        text: p.text,
    })
}

/// Write the windows the engine has closed, as it hands them over.
fn write_counts(out: &mut impl Write, engine: &mut WindowEngine) -> std::io::Result<()> {
    for wc in engine.closed() {
        serde_json::to_writer(&mut *out, &wc)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Lines of a synchronous reader, through the shared bounded splitter (also read by
/// `viral backtest`).
pub(crate) struct Lines<R> {
    input: R,
    splitter: LineSplitter,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            splitter: LineSplitter::new(MAX_LINE_BYTES),
        }
    }

    /// `Ok(None)` at the end; `Ok(Some(None))` for an over-long line (skipped).
    pub(crate) fn next_line(&mut self) -> std::io::Result<Option<Option<&[u8]>>> {
        let line = loop {
            let available = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break self.splitter.finish();
            }
            let (used, line) = self.splitter.feed(available);
            self.input.consume(used);
            if line.is_some() {
                break line;
            }
        };
        Ok(line.map(|l| match l {
            Line::Complete => Some(self.splitter.line()),
            Line::TooLong => None,
        }))
    }
}
