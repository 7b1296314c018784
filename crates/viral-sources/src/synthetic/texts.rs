//! What synthetic posts say.
//!
//! The demo is only convincing if the pipeline's real matcher finds the topics in the
//! posts, so every surface form of a term (as written, Title Case, UPPER CASE, #Hashtag)
//! is checked once, up front, with the matching rule's own word splitting
//! ([`viral_core::matcher::words`]) and dropped if it would not match: `#OceanSpray` is
//! used only when the topic also has the one-word term `oceanspray`, and upper-casing
//! that changes a word (`ß` → `SS`) is skipped. Noise sentences that happen to contain a
//! configured term are dropped the same way, so noise really matches nothing.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use viral_core::matcher::words;

/// Everyday posts; `{}` is a mention. Each `{}` has a separator (space, punctuation) or
/// the end of the text on both sides, so the mention's words stay whole words.
const TEMPLATES: &[&str] = &[
    "Just tried {} again, honestly 🔥",
    "Anyone else obsessed with {}?",
    "my mom sent me a {} meme lol",
    "Is {} worth the hype? thread 🧵",
    "Saw the new {} ad on TV, not bad",
    "{} + a sunny afternoon = perfect",
    "Why is {} so expensive now",
    "Can't decide if I love or hate {}",
    "Breakfast of champions: {}.",
    "hot take: {} was better in the 90s",
    "grocery list: eggs, bread, {}",
    "{}",
];

/// What a topic's posts say while it is going viral.
const SPIKE_TEMPLATES: &[&str] = &[
    "OMG the {} skateboard video 😂😂",
    "everyone is talking about {} right now",
    "that {} clip has 10M views already?!",
    "ok the {} trend got me, bought two bottles",
    "Dreams + {} = the internet today",
    "why is my whole feed {} 😭",
];

/// Posts about nothing tracked, so that the matcher has something to reject.
const NOISE: &[&str] = &[
    "Lovely weather in Lisbon today",
    "Who's watching the game tonight?",
    "coffee first, then emails",
    "new blog post on Rust async cancellation",
    "traffic on the A1 is unreal",
    "finally finished that 1000-piece puzzle 🧩",
    "my cat just knocked a plant off the shelf",
    "Does anyone have a good sourdough recipe?",
    "Monday again. How.",
    "the sunset tonight 🌅 #nofilter",
    "Reading a great book about lighthouses",
    "train delayed 20 min, as usual",
    "Happy birthday to my little brother! 🎂",
    "just ran my first 10k!!",
    "can't believe it's already November",
    "trying to learn the ukulele, send help",
];

/// How a topic's posts are split among the ways of writing a term, in percent.
const PLAIN_PCT: u32 = 50;
const TITLE_PCT: u32 = 15;
const UPPER_PCT: u32 = 12;
/// Share of a spiking topic's posts that use the viral templates, in percent.
const SPIKE_TEMPLATE_PCT: u32 = 60;

/// The checked ways of writing one term.
#[derive(Debug, Clone)]
struct TermForms {
    plain: String,
    title: Option<String>,
    upper: Option<String>,
    hashtag: Option<String>,
}

/// Texts for every topic (by index) and for noise.
#[derive(Debug, Clone)]
pub(crate) struct Texts {
    /// `None` for a topic none of whose terms can appear in a post.
    topics: Vec<Option<Vec<TermForms>>>,
    noise: Vec<&'static str>,
}

impl Texts {
    pub(crate) fn new(topics: &[(String, Vec<String>)]) -> Self {
        let term_words: Vec<Vec<Vec<String>>> = topics
            .iter()
            .map(|(_, terms)| terms.iter().map(|t| words(t)).collect())
            .collect();
        let per_topic = topics
            .iter()
            .zip(&term_words)
            .map(|((name, terms), own)| {
                let forms: Vec<TermForms> = terms
                    .iter()
                    .filter_map(|term| term_forms(term, own))
                    .collect();
                if forms.is_empty() {
                    tracing::warn!(topic = %name, "synthetic: the topic has no term with letters or digits; it gets no posts");
                    None
                } else {
                    Some(forms)
                }
            })
            .collect();
        let all_terms: Vec<Vec<String>> = term_words.into_iter().flatten().collect();
        let noise: Vec<&'static str> = NOISE
            .iter()
            .copied()
            .filter(|s| !mentions(s, &all_terms))
            .collect();
        if noise.is_empty() {
            tracing::warn!(
                "synthetic: every noise sentence mentions a configured term; no noise posts"
            );
        }
        Self {
            topics: per_topic,
            noise,
        }
    }

    pub(crate) fn topic_count(&self) -> usize {
        self.topics.len()
    }

    pub(crate) fn has_topic(&self, topic: usize) -> bool {
        matches!(self.topics.get(topic), Some(Some(_)))
    }

    pub(crate) fn has_noise(&self) -> bool {
        !self.noise.is_empty()
    }

    /// A post mentioning `topic`; empty if the topic has no usable term (callers check
    /// [`Self::has_topic`] first).
    pub(crate) fn topic_text(&self, topic: usize, spiking: bool, rng: &mut ChaCha8Rng) -> String {
        let Some(Some(terms)) = self.topics.get(topic) else {
            return String::new();
        };
        let Some(forms) = pick(terms, rng) else {
            return String::new();
        };
        let roll = rng.random_range(0..100);
        let form = if roll < PLAIN_PCT {
            None
        } else if roll < PLAIN_PCT + TITLE_PCT {
            forms.title.as_ref()
        } else if roll < PLAIN_PCT + TITLE_PCT + UPPER_PCT {
            forms.upper.as_ref()
        } else {
            forms.hashtag.as_ref()
        }
        .unwrap_or(&forms.plain);
        let templates = if spiking && rng.random_range(0..100) < SPIKE_TEMPLATE_PCT {
            SPIKE_TEMPLATES
        } else {
            TEMPLATES
        };
        let template = pick(templates, rng).copied().unwrap_or("{}");
        template.replacen("{}", form, 1)
    }

    pub(crate) fn noise_text(&self, rng: &mut ChaCha8Rng) -> String {
        pick(&self.noise, rng)
            .copied()
            .unwrap_or_default()
            .to_owned()
    }
}

fn pick<'a, T>(items: &'a [T], rng: &mut ChaCha8Rng) -> Option<&'a T> {
    if items.is_empty() {
        None
    } else {
        items.get(rng.random_range(0..items.len()))
    }
}

/// The forms of `term` that the matching rule finds as one of `own_terms`, or `None` if
/// not even the term as written is found (it has no letters or digits).
fn term_forms(term: &str, own_terms: &[Vec<String>]) -> Option<TermForms> {
    let plain = term.trim().to_owned();
    if !mentions(&plain, own_terms) {
        return None;
    }
    let keep = |form: String| (form != plain && mentions(&form, own_terms)).then_some(form);
    let hashtag: String = words(term).iter().map(|w| capitalize(w)).collect();
    Some(TermForms {
        title: keep(title_case(&plain)),
        upper: keep(plain.to_uppercase()),
        hashtag: keep(format!("#{hashtag}")),
        plain,
    })
}

/// Whether the words of `text` contain one of `terms` (each a word sequence) as a
/// contiguous run: the matching rule (docs/ARCHITECTURE.md, "Matching").
fn mentions(text: &str, terms: &[Vec<String>]) -> bool {
    let text = words(text);
    terms
        .iter()
        .filter(|t| !t.is_empty())
        .any(|t| text.windows(t.len()).any(|w| w == t.as_slice()))
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Upper-case the first letter of every word, keeping the separators as they are.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_word_start = true;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if at_word_start {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            at_word_start = false;
        } else {
            out.push(c);
            at_word_start = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! The forms and noise chosen here, checked against the real matcher.

    use rand::SeedableRng;

    use super::*;
    use crate::synthetic::tests::{matcher, topics};

    #[test]
    fn noise_that_would_mention_a_topic_is_never_used() {
        // "coffee first, then emails" and "train delayed …" are noise sentences.
        let topics = vec![(
            "coffee".to_owned(),
            vec!["coffee".to_owned(), "train".to_owned()],
        )];
        let texts = Texts::new(&topics);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..500 {
            let text = texts.noise_text(&mut rng).to_lowercase();
            assert!(
                !text.contains("coffee") && !text.contains("train"),
                "{text:?}"
            );
        }
    }

    /// Every topic post mentions its own topic under the real matcher, and contains one of
    /// its terms case-insensitively or as a hashtag.
    fn assert_topic_texts_match(topics: &[(String, Vec<String>)]) -> Vec<String> {
        let m = matcher(topics);
        let texts = Texts::new(topics);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut seen = Vec::new();
        for (i, (name, terms)) in topics.iter().enumerate() {
            for n in 0..2000 {
                let text = texts.topic_text(i, n % 2 == 0, &mut rng);
                assert!(
                    m.find(&text).contains(&name.as_str()),
                    "{text:?} does not mention {name}"
                );
                let lower = text.to_lowercase();
                let contains = terms.iter().any(|t| {
                    let hashtag: String = t.chars().filter(|c| c.is_alphanumeric()).collect();
                    lower.contains(&t.to_lowercase())
                        || lower.contains(&format!("#{}", hashtag.to_lowercase()))
                });
                assert!(contains, "{text:?} contains none of {terms:?}");
                seen.push(text);
            }
        }
        seen
    }

    #[test]
    fn topic_posts_contain_their_terms_in_varied_forms() {
        let seen = assert_topic_texts_match(&topics());
        assert!(
            seen.iter().any(|t| t.contains("#OceanSpray")),
            "a hashtag form"
        );
        assert!(seen.iter().any(|t| t.contains("#Cranberry")));
        assert!(
            seen.iter().any(|t| t.contains("OCEAN SPRAY")),
            "an upper-case form"
        );
        assert!(
            seen.iter().any(|t| t.contains("Ocean Spray")),
            "a title-case form"
        );
        let distinct: std::collections::HashSet<&String> = seen.iter().collect();
        assert!(
            distinct.len() > 50,
            "only {} distinct texts",
            distinct.len()
        );
    }

    #[test]
    fn forms_the_matcher_would_miss_are_never_used() {
        // `#OceanSpray` is one word, "oceanspray", which is not a term here; "STRASSE" is not
        // "straße" after lower-casing. (Terms without words are covered below: the matcher
        // refuses them, so they cannot be checked with it.)
        let topics = vec![
            ("ocean-spray".to_owned(), vec!["ocean spray".to_owned()]),
            ("street".to_owned(), vec!["Straße".to_owned()]),
            ("hyphen".to_owned(), vec!["e-mail".to_owned()]),
        ];
        let seen = assert_topic_texts_match(&topics);
        assert!(!seen.iter().any(|t| t.contains("#OceanSpray")));
        assert!(!seen.iter().any(|t| t.contains("STRASSE")));
        assert!(
            seen.iter().any(|t| t.contains("#Straße")),
            "one-word terms get hashtags"
        );
        assert!(
            seen.iter().any(|t| t.contains("E-MAIL")),
            "upper case that keeps the words"
        );
    }
}
