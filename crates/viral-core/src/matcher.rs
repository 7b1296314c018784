//! Topic matching, the same code in the producer and in `viral replay`
//! (docs/ARCHITECTURE.md, "Matching").
//!
//! Text and terms are normalised with Unicode NFKC, lower-cased, and split into words
//! (maximal runs of `char::is_alphanumeric`). A term matches when its words occur as a
//! contiguous run of the text's words.
//!
//! Implementation: both sides are rewritten to a canonical form in which every word is
//! followed by one space (`" ocean spray "`). Terms are indexed by their first word; for
//! each word of the text one hash lookup finds the terms starting with it, and a term
//! matches when the bytes after that word start with the rest of the term (`" spray "`).
//! Exact, and cheaper than a byte automaton: the cost is per word, not per byte. ASCII
//! text (most of it) skips NFKC and Unicode lower-casing, which are the identity and
//! ASCII lower-casing there.

use rustc_hash::FxHashMap;
use thiserror::Error;
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// A tracked topic: its name and the terms that mention it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub terms: Vec<String>,
}

/// Why a set of topics cannot be matched.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum MatcherError {
    #[error("topic {topic:?}: term {term:?} contains no letters or digits, so it can never match")]
    EmptyTerm { topic: String, term: String },
    #[error("topic {topic:?} has no terms")]
    NoTerms { topic: String },
}

/// Index of a topic in the order the topics were given.
pub type TopicId = usize;

/// A term, split after its first word.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    topic: TopicId,
    /// The words after the first: `["spray"]` for "ocean spray", none for one word.
    rest: Vec<Box<[u8]>>,
}

/// Finds the topics a text mentions.
#[derive(Debug, Clone)]
pub struct TopicMatcher {
    names: Vec<String>,
    /// First word of a term → the terms that start with it.
    by_first_word: FxHashMap<Box<[u8]>, Vec<Term>>,
}

/// Reusable buffer for [`TopicMatcher::find_into`], so matching allocates nothing.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    canonical: Vec<u8>,
}

impl TopicMatcher {
    pub fn new(topics: &[TopicSpec]) -> Result<Self, MatcherError> {
        let mut by_first_word: FxHashMap<Box<[u8]>, Vec<Term>> = FxHashMap::default();
        let mut canon = Vec::new();
        for (i, topic) in topics.iter().enumerate() {
            if topic.terms.is_empty() {
                return Err(MatcherError::NoTerms {
                    topic: topic.name.clone(),
                });
            }
            for term in &topic.terms {
                normalize_into(term, &mut canon);
                let mut words = canon.split(|&b| b == b' ').filter(|w| !w.is_empty());
                let Some(first) = words.next() else {
                    return Err(MatcherError::EmptyTerm {
                        topic: topic.name.clone(),
                        term: term.clone(),
                    });
                };
                let t = Term {
                    topic: i,
                    rest: words.map(Box::from).collect(),
                };
                let entry = by_first_word.entry(first.into()).or_default();
                if !entry.contains(&t) {
                    entry.push(t);
                }
            }
        }
        Ok(Self {
            names: topics.iter().map(|t| t.name.clone()).collect(),
            by_first_word,
        })
    }

    /// Topic names, indexed by [`TopicId`].
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn name(&self, id: TopicId) -> &str {
        &self.names[id]
    }

    /// Appends the ids of the topics `text` mentions to `out`, each once, in topic order.
    pub fn find_into(&self, text: &str, scratch: &mut Scratch, out: &mut Vec<TopicId>) {
        if self.by_first_word.is_empty() {
            return;
        }
        let buf = &mut scratch.canonical;
        normalize_into(text, buf);
        let first = out.len();
        let mut rest = buf.as_slice();
        while let Some((word, after)) = next_word(rest) {
            if let Some(terms) = self.by_first_word.get(word) {
                for t in terms {
                    if starts_with_words(after, &t.rest) && !out[first..].contains(&t.topic) {
                        out.push(t.topic);
                    }
                }
            }
            rest = after;
        }
        out[first..].sort_unstable();
    }

    /// Convenience form of [`find_into`](Self::find_into) returning topic names.
    pub fn find(&self, text: &str) -> Vec<&str> {
        let (mut scratch, mut ids) = (Scratch::default(), Vec::new());
        self.find_into(text, &mut scratch, &mut ids);
        ids.into_iter().map(|i| self.name(i)).collect()
    }
}

/// The first word of canonical bytes and what follows it.
fn next_word(canonical: &[u8]) -> Option<(&[u8], &[u8])> {
    // Words are separated by exactly one space and the text ends with one.
    let rest = canonical.strip_prefix(b" ")?;
    let len = memchr::memchr(b' ', rest)?;
    Some(rest.split_at(len))
}

/// Do the next words of `canonical` equal `words`?
fn starts_with_words(mut canonical: &[u8], words: &[Box<[u8]>]) -> bool {
    for w in words {
        match next_word(canonical) {
            Some((got, after)) if got == &w[..] => canonical = after,
            _ => return false,
        }
    }
    true
}

/// Writes the canonical form of `text` into `out`: its words, NFKC-normalised and
/// lower-cased, each followed by one space, after a leading space (`" a b "`). A text
/// without words becomes `" "`.
pub fn normalize_into(text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(text.len() + 2);
    out.push(b' ');
    if !fast_words(text, out) {
        out.truncate(1);
        let nfkc: String = text.nfkc().collect();
        push_words(nfkc.to_lowercase().chars(), out);
    }
    if out.last() != Some(&b' ') {
        out.push(b' ');
    }
}

/// ASCII letters and digits lower-cased; 0 for every other ASCII byte (a separator).
static ASCII_WORD: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() {
            t[i] = b.to_ascii_lowercase();
        }
        i += 1;
    }
    t
};

/// One pass for text that is already in NFKC (nearly all of it: ASCII, emoji, accents):
/// ASCII bytes through a table, other characters lower-cased one by one. Returns false,
/// having written garbage, when the text may not be NFKC or contains a capital sigma
/// (whose lower case depends on its neighbours); the caller then takes the literal path.
/// Checking each character's quick-check property and the order of combining classes
/// is exactly what `is_nfkc_quick` does over the whole text; ASCII has class 0 and is
/// always NFKC, so it only resets the order.
fn fast_words(text: &str, out: &mut Vec<u8>) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_ascii() {
        ascii_words(bytes, out, &mut true);
        return true;
    }
    let mut at_sep = true;
    let mut last_ccc = 0u8;
    let mut i = 0;
    let mut buf = [0u8; 4];
    while i < bytes.len() {
        let run = bytes[i..]
            .iter()
            .position(|&b| b >= 0x80)
            .unwrap_or(bytes.len() - i);
        if run > 0 {
            ascii_words(&bytes[i..i + run], out, &mut at_sep);
            last_ccc = 0;
            i += run;
            continue;
        }
        let Some(c) = text[i..].chars().next() else {
            return false;
        };
        i += c.len_utf8();
        let ccc = canonical_combining_class(c);
        if c == 'Σ'
            || (ccc != 0 && last_ccc > ccc)
            || is_nfkc_quick(std::iter::once(c)) != IsNormalized::Yes
        {
            return false;
        }
        last_ccc = ccc;
        for l in c.to_lowercase() {
            if l.is_alphanumeric() {
                out.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                at_sep = false;
            } else if !at_sep {
                out.push(b' ');
                at_sep = true;
            }
        }
    }
    true
}

/// Branch-free over a run of ASCII: word boundaries are unpredictable, so a branch per
/// byte would mispredict at every one of them (measured: slower than this, although it
/// runs more instructions). Consecutive separators collapse to one space.
fn ascii_words(run: &[u8], out: &mut Vec<u8>, at_sep: &mut bool) {
    let start = out.len();
    out.resize(start + run.len(), 0);
    let dst = &mut out[start..];
    let (mut n, mut sep) = (0usize, *at_sep);
    for &b in run {
        let w = ASCII_WORD[(b & 0x7f) as usize];
        let is_word = w != 0;
        // At byte k, n <= k < run.len(): always in bounds.
        dst[n] = if is_word { w } else { b' ' };
        n += (is_word | !sep) as usize;
        sep = !is_word;
    }
    out.truncate(start + n);
    *at_sep = sep;
}

fn push_words(chars: impl Iterator<Item = char>, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    for c in chars {
        if c.is_alphanumeric() {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        } else if out.last() != Some(&b' ') {
            out.push(b' ');
        }
    }
}

/// The words of `text` under the matching rule (for tests and tools).
pub fn words(text: &str) -> Vec<String> {
    let mut buf = Vec::new();
    normalize_into(text, &mut buf);
    String::from_utf8_lossy(&buf)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(topics: &[(&str, &[&str])]) -> TopicMatcher {
        TopicMatcher::new(
            &topics
                .iter()
                .map(|(n, t)| TopicSpec {
                    name: n.to_string(),
                    terms: t.iter().map(|s| s.to_string()).collect(),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn design_examples() {
        let one = matcher(&[("one", &["oceanspray"])]);
        let two = matcher(&[("two", &["ocean spray"])]);
        assert_eq!(one.find("I love #OceanSpray"), ["one"]);
        assert!(two.find("I love #OceanSpray").is_empty());
        assert_eq!(two.find("Ocean-Spray!"), ["two"]);
        assert!(one.find("Ocean-Spray!").is_empty());
    }

    #[test]
    fn words_must_be_whole() {
        let m = matcher(&[("t", &["spray"])]);
        assert!(m.find("sprays and hairspray").is_empty());
        assert_eq!(m.find("spray"), ["t"]);
        assert_eq!(m.find("@spray_"), ["t"]);
    }

    #[test]
    fn several_topics_each_once_in_topic_order() {
        let m = matcher(&[("b", &["ocean", "spray"]), ("a", &["ocean spray"])]);
        assert_eq!(m.find("ocean spray ocean spray"), ["b", "a"]);
    }

    #[test]
    fn unicode_nfkc_and_lowercase() {
        let m = matcher(&[("cafe", &["Café Ｄｅｌ"])]);
        // Full-width letters fold to ASCII under NFKC; decomposed é recomposes.
        assert_eq!(m.find("CAFE\u{301} del mar"), ["cafe"]);
        assert_eq!(words("Ｃａｆé—Ｄｅｌ🙂x"), ["café", "del", "x"]);
    }

    #[test]
    fn separators_are_everything_but_alphanumerics() {
        assert_eq!(words("#a_b@c d…e  f"), ["a", "b", "c", "d", "e", "f"]);
        assert_eq!(words("ünïcode ΣΑΣ 42"), ["ünïcode", "σας", "42"]);
        assert_eq!(words("İz 🔥ok"), ["i", "z", "ok"]);
        assert!(words("  !!! ").is_empty());
    }

    #[test]
    fn bad_terms_are_rejected() {
        let err = TopicMatcher::new(&[TopicSpec {
            name: "x".into(),
            terms: vec!["#!".into()],
        }])
        .unwrap_err();
        assert!(matches!(err, MatcherError::EmptyTerm { .. }));
    }

    proptest::proptest! {
        /// The fast paths (ASCII, already-NFKC) agree with the rule read literally.
        #[test]
        fn fast_paths_equal_the_literal_rule(text in "(?s).{0,40}|[a-zA-Z0-9 #@_Σσ🔥éİ\u{301}ﬁＡ-]{0,40}") {
            let literal: Vec<String> = text
                .nfkc()
                .collect::<String>()
                .to_lowercase()
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            proptest::prop_assert_eq!(words(&text), literal);
        }
    }

    proptest::proptest! {
        /// The indexed matcher finds exactly the topics whose term's words occur as a
        /// contiguous run of the text's words.
        #[test]
        fn matcher_equals_naive_contiguous_word_runs(
            text in "[ab cA#\\-]{0,30}",
            terms in proptest::collection::vec("[ab cB]{1,8}", 1..4),
        ) {
            let specs: Vec<TopicSpec> = terms
                .iter()
                .enumerate()
                .filter(|(_, t)| !words(t).is_empty())
                .map(|(i, t)| TopicSpec { name: format!("t{i}"), terms: vec![t.clone()] })
                .collect();
            let m = TopicMatcher::new(&specs).unwrap();
            let tw = words(&text);
            let naive: Vec<&str> = specs
                .iter()
                .filter(|s| {
                    let w = words(&s.terms[0]);
                    tw.windows(w.len()).any(|x| x == w.as_slice())
                })
                .map(|s| s.name.as_str())
                .collect();
            proptest::prop_assert_eq!(m.find(&text), naive);
        }
    }
}
