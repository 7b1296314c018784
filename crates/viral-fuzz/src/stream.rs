//! Lines of an input as the line-reading sources get them: through the shared bounded
//! splitter (`viral_core::lines`), fed the way a network delivers bytes — in pieces whose
//! boundaries fall anywhere. The same bytes cut differently must give the same lines.

use viral_core::lines::{Line, LineSplitter};

/// One line, or a line over the bound (skipped by every reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Line(Vec<u8>),
    TooLong,
}

/// The lines of `data` with lines over `max` bytes reported as such, `data` fed in
/// pieces of the sizes `cut` gives (cycled; whole when empty).
pub(crate) fn lines(data: &[u8], max: usize, cut: &[usize]) -> Vec<Piece> {
    let mut splitter = LineSplitter::new(max);
    let mut out = Vec::new();
    let mut sizes = cut.iter().copied().filter(|&n| n > 0).cycle();
    let mut rest = data;
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).min(rest.len());
        let (mut chunk, tail) = rest.split_at(n);
        rest = tail;
        // A reader hands the splitter what it has until the splitter has used it all.
        while !chunk.is_empty() {
            let (used, line) = splitter.feed(chunk);
            assert!(
                used > 0 && used <= chunk.len(),
                "the splitter used {used} of {}",
                chunk.len()
            );
            chunk = &chunk[used..];
            if let Some(line) = line {
                out.push(take(&splitter, line, max));
            }
        }
    }
    if let Some(line) = splitter.finish() {
        out.push(take(&splitter, line, max));
    }
    out
}

fn take(splitter: &LineSplitter, line: Line, max: usize) -> Piece {
    match line {
        Line::TooLong => Piece::TooLong,
        Line::Complete => {
            let bytes = splitter.line();
            assert!(
                bytes.len() <= max,
                "a line of {} bytes passed a bound of {max}",
                bytes.len()
            );
            assert!(!bytes.contains(&b'\n'), "a line holds a newline");
            Piece::Line(bytes.to_vec())
        }
    }
}

/// The lines of `data` as a streamed HTTP body gives them to the X and Mastodon sources
/// (`live::LineStream`: a trailing `\r` removed), checked to be the same however the
/// body was cut into chunks.
pub(crate) fn body_lines(data: &[u8], max: usize) -> Vec<Piece> {
    let whole = lines(data, max, &[]);
    for cut in [&[1][..], &[3, 1, 7], &[64, 5]] {
        assert_eq!(
            lines(data, max, cut),
            whole,
            "lines depend on how the body was cut ({cut:?})"
        );
    }
    // And with a bound this input can reach: an over-long line is skipped whole, the
    // lines around it are kept.
    let small = 16;
    let bounded = lines(data, small, &[5, 2]);
    assert_eq!(
        bounded.len(),
        whole.len(),
        "a bound changed the number of lines"
    );
    for (b, w) in bounded.iter().zip(&whole) {
        match (b, w) {
            (Piece::Line(b), Piece::Line(w)) => assert_eq!(b, w),
            (Piece::TooLong, Piece::Line(w)) => assert!(w.len() > small),
            (Piece::TooLong, Piece::TooLong) => {}
            (b, w) => panic!("bounded {b:?} against {w:?}"),
        }
    }
    whole
        .into_iter()
        .map(|p| match p {
            Piece::Line(mut l) => {
                if l.last() == Some(&b'\r') {
                    l.pop();
                }
                Piece::Line(l)
            }
            p => p,
        })
        .collect()
}
