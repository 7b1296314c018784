//! The core benchmark's workload, shared by `benches/core.rs` and `examples/corework.rs`.

use viral_core::matcher::{Scratch, TopicMatcher, TopicSpec};
use viral_core::window::{MentionRef, WindowEngine, WindowSpec};

pub struct Pre {
    pub id: String,
    pub text: String,
    pub t: i64,
}

const WORDS: &[&str] = &[
    "just", "saw", "the", "new", "ad", "for", "and", "honestly", "love", "it", "my", "mom",
    "drinks", "every", "morning", "can't", "believe", "price", "today", "thread", "🔥", "lol",
];

/// `n` posts over `topics` topics, ~100 ASCII chars each, every post mentioning one topic,
/// timestamps ~20 ms apart with a little disorder, 1% re-sent ids.
pub fn posts(n: usize, topics: usize) -> (Vec<TopicSpec>, Vec<Pre>) {
    let specs: Vec<TopicSpec> = (0..topics)
        .map(|i| TopicSpec {
            name: format!("brand-{i}"),
            terms: vec![format!("brand{i} cola"), format!("brand{i}cola")],
        })
        .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let posts = (0..n)
        .map(|i| {
            let topic = (rnd() % topics as u64) as usize;
            let mut text = String::new();
            for k in 0..16 {
                if k == 6 {
                    text.push_str(if i % 3 == 0 { "#Brand" } else { "brand" });
                    text.push_str(&topic.to_string());
                    text.push_str(if i % 3 == 0 { "Cola " } else { " cola " });
                }
                text.push_str(WORDS[(rnd() % WORDS.len() as u64) as usize]);
                text.push(' ');
            }
            let id = if i % 100 == 99 { i - 1 } else { i };
            Pre {
                id: format!("synthetic:{id}"),
                text,
                t: 1_600_000_000_000 + (i as i64) * 20 - (rnd() % 2000) as i64,
            }
        })
        .collect();
    (specs, posts)
}

pub fn run(matcher: &TopicMatcher, spec: WindowSpec, posts: &[Pre]) -> viral_core::WindowStats {
    let mut engine = WindowEngine::new(spec);
    let (mut scratch, mut ids) = (Scratch::default(), Vec::new());
    for p in posts {
        ids.clear();
        matcher.find_into(&p.text, &mut scratch, &mut ids);
        for &t in &ids {
            engine.push(MentionRef {
                topic: matcher.name(t),
                id: &p.id,
                event_time: p.t,
                observed_at: None,
                text: "",
                url: None,
                seq: 0,
            });
            engine.closed().for_each(drop);
        }
    }
    engine.flush();
    engine.closed().for_each(drop);
    engine.stats()
}
