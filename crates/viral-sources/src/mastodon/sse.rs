//! Server-sent events, as the WHATWG spec frames them: `field: value` lines, `:` comment
//! lines (Mastodon's heartbeats), a blank line ending each event, multi-line `data`
//! joined with `\n`. Pure: fed one line at a time.

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` field; `message` when absent, as the spec says.
    pub kind: String,
    pub data: String,
    /// The data exceeded the parser's bound and was dropped.
    pub too_large: bool,
}

pub struct Parser {
    max_data: usize,
    kind: Option<String>,
    data: String,
    has_data: bool,
    too_large: bool,
}

impl Parser {
    /// Events whose data is longer than `max_data` bytes are reported as too large.
    pub fn new(max_data: usize) -> Self {
        Self {
            max_data,
            kind: None,
            data: String::new(),
            has_data: false,
            too_large: false,
        }
    }

    /// Forget a partial event (after a connection was lost or a line was skipped).
    pub fn reset(&mut self) {
        self.kind = None;
        self.data.clear();
        self.has_data = false;
        self.too_large = false;
    }

    /// Take one line (without its end of line); an event when this line completes one.
    pub fn feed(&mut self, line: &[u8]) -> Option<Event> {
        if line.is_empty() {
            if !self.has_data {
                // A blank line after nothing, or after an event type alone: no event.
                self.reset();
                return None;
            }
            let event = Event {
                kind: self.kind.take().unwrap_or_else(|| "message".into()),
                data: std::mem::take(&mut self.data),
                too_large: self.too_large,
            };
            self.reset();
            return Some(event);
        }
        if line[0] == b':' {
            return None;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.kind = Some(value.to_owned()),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.has_data = true;
                if self.too_large || self.data.len() + value.len() > self.max_data {
                    self.too_large = true;
                    self.data.clear();
                } else {
                    self.data.push_str(value);
                }
            }
            // `id` and `retry` matter to browsers' automatic reconnection, not here.
            _ => {}
        }
        None
    }
}
