//! Splitting a byte stream into lines with a bound on line length, for JSONL inputs
//! (`viral replay`, the file source). Pure: the caller feeds whatever its reader has
//! buffered, sync or async, and consumes what this says it used. Unlike `lines()` from
//! std or tokio, invalid UTF-8 is left to the parser (one bad line, not the end of the
//! stream) and an over-long line is skipped without being held in memory.

/// What [`LineSplitter::feed`] found once a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// The line, without its `\n`, is in [`LineSplitter::line`].
    Complete,
    /// The line was longer than the limit; it was consumed without being kept.
    TooLong,
}

/// Accumulates one line at a time from buffered chunks.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    buf: Vec<u8>,
    too_long: bool,
    started: bool,
}

impl LineSplitter {
    /// Lines longer than `max` bytes are reported as [`Line::TooLong`].
    pub fn new(max: usize) -> Self {
        Self {
            max,
            buf: Vec::new(),
            too_long: false,
            started: false,
        }
    }

    /// Take bytes from `available` (the reader's buffer). Returns how many were used
    /// (the caller consumes exactly that many) and, if a line ended, what it was.
    pub fn feed(&mut self, available: &[u8]) -> (usize, Option<Line>) {
        if !self.started {
            self.buf.clear();
            self.too_long = false;
            self.started = true;
        }
        let (chunk, used, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..i], i + 1, true),
            None => (available, available.len(), false),
        };
        if !self.too_long {
            if self.buf.len() + chunk.len() > self.max {
                self.too_long = true;
                self.buf = Vec::new();
            } else {
                self.buf.extend_from_slice(chunk);
            }
        }
        (used, done.then(|| self.finish_line()))
    }

    /// The input ended: the last line, if it had no trailing newline.
    pub fn finish(&mut self) -> Option<Line> {
        self.started.then(|| self.finish_line())
    }

    /// The bytes of the line last reported [`Line::Complete`].
    pub fn line(&self) -> &[u8] {
        &self.buf
    }

    fn finish_line(&mut self) -> Line {
        self.started = false;
        if self.too_long {
            Line::TooLong
        } else {
            Line::Complete
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split `input` fed in chunks of `chunk` bytes.
    fn split(input: &[u8], chunk: usize, max: usize) -> Vec<Result<String, ()>> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let avail = &rest[..chunk.min(rest.len())];
            let (used, line) = s.feed(avail);
            assert!(used > 0 && used <= avail.len());
            rest = &rest[used..];
            match line {
                Some(Line::Complete) => out.push(Ok(String::from_utf8_lossy(s.line()).into())),
                Some(Line::TooLong) => out.push(Err(())),
                None => {}
            }
        }
        match s.finish() {
            Some(Line::Complete) => out.push(Ok(String::from_utf8_lossy(s.line()).into())),
            Some(Line::TooLong) => out.push(Err(())),
            None => {}
        }
        out
    }

    #[test]
    fn lines_whatever_the_chunking() {
        let input = b"ab\n\ncdef\nlast";
        for chunk in 1..=input.len() {
            assert_eq!(
                split(input, chunk, 100),
                [
                    Ok("ab".into()),
                    Ok("".into()),
                    Ok("cdef".into()),
                    Ok("last".into())
                ],
                "chunk {chunk}"
            );
        }
        assert!(split(b"", 4, 100).is_empty());
        assert_eq!(split(b"x\n", 4, 100), [Ok("x".to_string())]);
    }

    #[test]
    fn an_over_long_line_is_skipped_and_the_next_kept() {
        for chunk in 1..8 {
            assert_eq!(
                split(b"123456\nok\n1234567", chunk, 5),
                [Err(()), Ok("ok".into()), Err(())],
                "chunk {chunk}"
            );
        }
    }
}
