//! Post JSON: the lines of a recording, read by the file source (as `viral_core::Post`)
//! and by `viral replay` (with its own borrowed reader, which promises the same rules).
//! Both readers get every input, and must agree on which lines are posts.

use std::io;
use std::time::Duration;

use viral_core::matcher::{TopicMatcher, TopicSpec};
use viral_core::time::too_far_ahead;
use viral_core::window::WindowSpec;
use viral_core::{Post, WindowCount};
use viral_sources::fuzzing::keep_web_url;

use crate::chain::to_the_bus;
use crate::stream::{lines, Piece};
use crate::NOW_MS;

// `viral replay` lives in the `viral` binary: its module is compiled here as it is, so
// the target runs the command's own code.
#[path = "../../../services/viral/src/cmd/replay.rs"]
mod replay;

/// What `viral replay` may write for one input before the target stops it (a file that
/// spans centuries is centuries of windows; writing them all proves nothing more).
const OUTPUT_CAP: usize = 1 << 20;

pub fn post_json(data: &[u8]) {
    let mut posts = 0u64;
    let mut read = 0u64;
    for piece in lines(data, replay::MAX_LINE_BYTES, &[]) {
        read += 1;
        let Piece::Line(line) = piece else { continue };
        // The file source.
        let Ok(mut post) = serde_json::from_slice::<Post>(&line) else {
            continue;
        };
        // The rule about the future (docs/ARCHITECTURE.md, "Windowing", rule 7), as the file source applies it.
        if too_far_ahead(post.event_time(), NOW_MS) {
            continue;
        }
        posts += 1;
        keep_web_url(&mut post);
        to_the_bus(post, false);
    }

    let matcher = TopicMatcher::new(&[
        TopicSpec {
            name: "ocean".into(),
            terms: vec!["ocean spray".into(), "dreams".into()],
        },
        TopicSpec {
            name: "words".into(),
            terms: vec!["a".into(), "the".into(), "x".into()],
        },
    ])
    .expect("a valid matcher");
    let spec = WindowSpec::new(Duration::from_secs(60), None, Duration::from_secs(60))
        .expect("a valid window");
    let mut out = Capped::default();
    let mut errors = Vec::new();
    let Ok(summary) = replay::replay(&matcher, spec, NOW_MS, data, &mut out, &mut errors) else {
        assert!(out.full, "replay failed on its input, not its output");
        return;
    };
    assert_eq!(
        (summary.posts, summary.posts + summary.invalid),
        (posts, read),
        "viral replay and the file source disagree on which lines are posts"
    );
    let written: Vec<&[u8]> = out
        .bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(written.len() as u64, summary.windows);
    for line in written {
        let wc: WindowCount = serde_json::from_slice(line).expect("replay writes window counts");
        assert!(wc.window_end > wc.window_start);
    }
}

/// An output that refuses to take more than [`OUTPUT_CAP`] bytes.
#[derive(Default)]
struct Capped {
    bytes: Vec<u8>,
    full: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > OUTPUT_CAP {
            self.full = true;
            return Err(io::Error::other("the fuzz target's output cap"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
