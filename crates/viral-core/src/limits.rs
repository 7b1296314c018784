//! Size bounds on what viral carries about a post, so that no message it writes can
//! outgrow the bus (librdkafka refuses anything over `message.max.bytes`, 1,000,000 bytes
//! by default) whatever a stranger posts.
//!
//! Matching always sees a post's whole text; only what is *carried* afterwards is bounded:
//! a mention's text is cut to [`MAX_TEXT_BYTES`], a window's sample text to
//! [`SAMPLE_TEXT_BYTES`], and a window keeps at most [`MAX_SAMPLES`] samples. Optional
//! fields over their bound are dropped (a cut URL would be a wrong URL); an id or source
//! over its bound makes the post unusable, since either would change what is counted.
//!
//! With every field bounded, a mention's JSON is at most ~420 KiB (every character of
//! the text escaped as `\u00XX`) and a window count's ~370 KiB: both stay below the
//! bus's limit by construction, and the stages still check each message before sending.

use crate::model::Post;

/// A post's text carried in its mentions (matching has seen all of it): 64 KiB holds the
/// longest posts of every network viral reads (X's 25,000 characters included).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// A sample post's text in a window count or an alert: enough to see what it was about.
pub const SAMPLE_TEXT_BYTES: usize = 1024;
/// Sample posts a window can keep (`aggregator.samples`).
pub const MAX_SAMPLES: usize = 20;
/// A post id: ids are de-duplication keys and must be kept whole.
pub const MAX_ID_BYTES: usize = 1024;
/// A post's `source` (a metrics label).
pub const MAX_SOURCE_BYTES: usize = 64;
/// A post's URL; longer ones are dropped.
pub const MAX_URL_BYTES: usize = 2048;
/// A post's author (a handle or a DID); longer ones are dropped.
pub const MAX_AUTHOR_BYTES: usize = 256;
/// A post's language tag (BCP 47 tags are meant to fit in 35 characters); longer ones
/// are dropped.
pub const MAX_LANG_BYTES: usize = 35;

/// The longest prefix of `s` that is at most `max` bytes and ends on a char boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Cut `s` in place to at most `max` bytes, on a char boundary; true if it was cut.
pub fn truncate_in_place(s: &mut String, max: usize) -> bool {
    let keep = truncate(s, max).len();
    let cut = keep < s.len();
    s.truncate(keep);
    cut
}

/// A sample's text: `text` whole if it fits [`SAMPLE_TEXT_BYTES`], else cut on a char
/// boundary and ended with `…` (within the bound), so a reader sees it was cut.
pub fn sample_text(text: &str) -> String {
    if text.len() <= SAMPLE_TEXT_BYTES {
        return text.to_owned();
    }
    let mut s = truncate(text, SAMPLE_TEXT_BYTES - '…'.len_utf8()).to_owned();
    s.push('…');
    s
}

/// Why a post's id is unusable, if it is.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("id: must not be empty".into());
    }
    if id.len() > MAX_ID_BYTES {
        return Err(format!(
            "id: {} bytes, longer than {MAX_ID_BYTES}",
            id.len()
        ));
    }
    Ok(())
}

/// What [`bound`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Bounded {
    /// The text was cut to [`MAX_TEXT_BYTES`].
    pub text_cut: bool,
    /// Optional fields dropped for their size (`url`, `author`, `lang`).
    pub dropped: Vec<&'static str>,
}

/// Bring `post` within the bounds above for carrying on the bus, after it was matched:
/// cut its text, drop oversized optional fields. `Err` (naming the field) when its id or
/// source is too long, which no cut can fix.
pub fn bound(post: &mut Post) -> Result<Bounded, String> {
    check_id(&post.id)?;
    if post.source.len() > MAX_SOURCE_BYTES {
        return Err(format!(
            "source: {} bytes, longer than {MAX_SOURCE_BYTES}",
            post.source.len()
        ));
    }
    let mut done = Bounded {
        text_cut: truncate_in_place(&mut post.text, MAX_TEXT_BYTES),
        dropped: Vec::new(),
    };
    for (name, field, max) in [
        ("url", &mut post.url, MAX_URL_BYTES),
        ("author", &mut post.author, MAX_AUTHOR_BYTES),
        ("lang", &mut post.lang, MAX_LANG_BYTES),
    ] {
        if field.as_ref().is_some_and(|v| v.len() > max) {
            *field = None;
            done.dropped.push(name);
        }
    }
    Ok(done)
}

/// Why `post` is over a bound a sender can be told about (the HTTP ingest answers 400
/// with it): the id, source, URL, author or language too long. Text is not a problem: it
/// is cut.
pub fn oversized_field(post: &Post) -> Result<(), String> {
    check_id(&post.id)?;
    for (name, len, max) in [
        ("source", Some(post.source.len()), MAX_SOURCE_BYTES),
        ("url", post.url.as_ref().map(String::len), MAX_URL_BYTES),
        (
            "author",
            post.author.as_ref().map(String::len),
            MAX_AUTHOR_BYTES,
        ),
        ("lang", post.lang.as_ref().map(String::len), MAX_LANG_BYTES),
    ] {
        if let Some(len) = len.filter(|l| *l > max) {
            return Err(format!("{name}: {len} bytes, longer than {max}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mention, Sample, WindowCount};
    use crate::time::from_millis;

    fn post(text: &str) -> Post {
        Post {
            id: "a".into(),
            source: "s".into(),
            text: text.into(),
            created_at: from_millis(0),
            observed_at: None,
            author: None,
            url: None,
            lang: None,
        }
    }

    #[test]
    fn truncation_keeps_whole_chars() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("héllo", 100), "héllo");
        assert_eq!(truncate("🙂🙂", 5), "🙂");
        let long = "é".repeat(1000);
        let s = sample_text(&long);
        assert!(s.len() <= SAMPLE_TEXT_BYTES, "{}", s.len());
        assert!(s.ends_with('…'));
        assert_eq!(sample_text("short"), "short");
    }

    #[test]
    fn bound_cuts_text_and_drops_oversized_fields() {
        let mut p = post(&"x".repeat(MAX_TEXT_BYTES + 10));
        p.url = Some(format!("https://e.com/{}", "u".repeat(MAX_URL_BYTES)));
        p.author = Some("me".into());
        p.lang = Some("en".into());
        let done = bound(&mut p).unwrap();
        assert!(done.text_cut);
        assert_eq!(done.dropped, ["url"]);
        assert_eq!(p.text.len(), MAX_TEXT_BYTES);
        assert_eq!((p.url, p.author.as_deref()), (None, Some("me")));

        let mut p = post("t");
        p.id = "i".repeat(MAX_ID_BYTES + 1);
        assert!(bound(&mut p).unwrap_err().starts_with("id: "));
        assert!(oversized_field(&p).unwrap_err().starts_with("id: "));
        let mut p = post("t");
        p.lang = Some("l".repeat(40));
        assert_eq!(
            oversized_field(&p).unwrap_err(),
            "lang: 40 bytes, longer than 35"
        );
    }

    /// The sizes the module's documentation promises, for the worst text there is (every
    /// byte a control character, escaped as six).
    #[test]
    fn bounded_messages_stay_far_below_the_bus_limit() {
        let worst = |n: usize| "\u{1}".repeat(n);
        let mut p = post(&worst(MAX_TEXT_BYTES * 2));
        p.id = worst(MAX_ID_BYTES);
        p.source = "s".repeat(MAX_SOURCE_BYTES);
        p.url = Some(worst(MAX_URL_BYTES));
        p.author = Some(worst(MAX_AUTHOR_BYTES));
        p.lang = Some(worst(MAX_LANG_BYTES));
        bound(&mut p).unwrap();
        let m = Mention {
            topic: "t".repeat(100),
            post: p,
        };
        let mention = serde_json::to_vec(&m).unwrap().len();
        assert!(mention < 430 * 1024, "{mention}");
        let wc = WindowCount {
            topic: "t".repeat(100),
            window_start: from_millis(0),
            window_end: from_millis(0),
            count: u64::MAX,
            samples: vec![
                Sample {
                    text: sample_text(&worst(10_000)),
                    url: Some(worst(MAX_URL_BYTES)),
                };
                MAX_SAMPLES
            ],
        };
        let count = serde_json::to_vec(&wc).unwrap().len();
        assert!(count < 380 * 1024, "{count}");
    }
}
