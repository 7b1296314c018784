//! Core throughput: topic matching + windowing + de-duplication on pre-parsed posts, the
//! work every mention costs in the aggregator and in `viral replay` apart from JSON.
//! Figures go to docs/BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use viral_core::matcher::{TopicMatcher, TopicSpec};
use viral_core::window::{MentionRef, WindowEngine, WindowSpec};

struct Pre {
    id: String,
    text: String,
    t: i64,
}

const WORDS: &[&str] = &[
    "just", "saw", "the", "new", "ad", "for", "and", "honestly", "love", "it", "my", "mom",
    "drinks", "every", "morning", "can't", "believe", "price", "today", "thread", "🔥", "lol",
];

/// `n` posts over `topics` topics, ~100 ASCII chars each, every post mentioning one topic,
/// timestamps ~20 ms apart with a little disorder, 1% re-sent ids.
fn posts(n: usize, topics: usize) -> (Vec<TopicSpec>, Vec<Pre>) {
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

fn run(matcher: &TopicMatcher, spec: WindowSpec, posts: &[Pre]) -> u64 {
    let mut engine = WindowEngine::new(spec);
    let (mut scratch, mut ids, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for p in posts {
        ids.clear();
        matcher.find_into(&p.text, &mut scratch, &mut ids);
        for &t in &ids {
            engine.push(
                MentionRef {
                    topic: matcher.name(t),
                    id: &p.id,
                    event_time: p.t,
                    text: "",
                    url: None,
                },
                &mut out,
            );
        }
        out.clear();
    }
    engine.flush(&mut out);
    engine.stats().counted
}

fn bench(c: &mut Criterion) {
    const N: usize = 200_000;
    let mut g = c.benchmark_group("core");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    for (topics, label) in [(10, "10 topics"), (1000, "1k topics")] {
        let (specs, posts) = posts(N, topics);
        let matcher = TopicMatcher::new(&specs).expect("valid topics");
        for (spec, name) in [
            (
                WindowSpec::from_millis(1_800_000, 1_800_000, 60_000),
                "tumbling 30m",
            ),
            (
                WindowSpec::from_millis(1_800_000, 300_000, 60_000),
                "hopping 30m/5m",
            ),
        ] {
            let spec = spec.expect("valid spec");
            g.bench_function(format!("match+window+dedup, {label}, {name}"), |b| {
                b.iter_batched(
                    || (),
                    |_| run(&matcher, spec, &posts),
                    BatchSize::SmallInput,
                )
            });
        }
        g.bench_function(format!("match only, {label}"), |b| {
            let (mut scratch, mut ids) = (Vec::new(), Vec::new());
            b.iter(|| {
                for p in &posts {
                    ids.clear();
                    matcher.find_into(&p.text, &mut scratch, &mut ids);
                }
                ids.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
