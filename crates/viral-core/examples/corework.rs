//! The core's work — matching, windowing, de-duplication — on pre-parsed posts, measured
//! in CPU time: the honest "per core" figure on a shared machine whose wall clock
//! includes time stolen by neighbours (criterion measures wall time). Also the target for
//! instruction-count profiling with callgrind.
//!
//! Usage:
//!   corework synthetic [posts] [topics] [hop_minutes] [rounds]
//!   corework jsonl CONFIG.toml POSTS.jsonl [hop_minutes] [rounds]
//! The second form reads posts written by `viral generate` and the `[[topics]]` of a
//! viral config, parses everything first, and times only the core.

#[path = "../benches/common/workload.rs"]
mod workload;

use cpu_time::ProcessTime;
use serde::Deserialize;
use viral_core::{Post, TopicMatcher, TopicSpec, WindowSpec};

#[derive(Deserialize)]
struct Topics {
    topics: Vec<Topic>,
}

#[derive(Deserialize)]
struct Topic {
    name: String,
    terms: Vec<String>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize, default: usize| {
        args.get(i)
            .and_then(|a| a.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(default)
    };
    let (label, specs, posts, hop, rounds) = match args.first().map(String::as_str) {
        Some("jsonl") => {
            let config = std::fs::read_to_string(&args[1]).expect("readable config");
            let topics: Topics = toml::from_str(&config).expect("[[topics]] in the config");
            let specs: Vec<TopicSpec> = topics
                .topics
                .into_iter()
                .map(|t| TopicSpec {
                    name: t.name,
                    terms: t.terms,
                })
                .collect();
            let text = std::fs::read_to_string(&args[2]).expect("readable posts");
            let posts: Vec<workload::Pre> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<Post>(l).ok())
                .map(|p| workload::Pre {
                    t: p.event_time(),
                    id: p.id,
                    text: p.text,
                })
                .collect();
            (
                format!("{} generated posts", posts.len()),
                specs,
                posts,
                num(3, 30),
                num(4, 5),
            )
        }
        _ => {
            let (n, topics) = (num(1, 200_000), num(2, 10));
            let (specs, posts) = workload::posts(n, topics);
            (
                format!("{n} synthetic posts"),
                specs,
                posts,
                num(3, 30),
                num(4, 5),
            )
        }
    };
    let matcher = TopicMatcher::new(&specs).expect("valid topics");
    let spec = WindowSpec::from_millis(1_800_000, hop as i64 * 60_000, 60_000).expect("valid spec");
    let mut best = f64::MAX;
    let mut stats = Default::default();
    for _ in 0..rounds {
        let t = ProcessTime::now();
        stats = workload::run(&matcher, spec, &posts);
        best = best.min(t.elapsed().as_secs_f64());
    }
    let stats: viral_core::WindowStats = stats;
    println!(
        "{label}, {} topics, 30m/{hop}m windows: {} mentions, {:.2} M mentions/s per CPU-second, {:.2} M posts/s (best of {rounds})",
        specs.len(),
        stats.mentions,
        stats.mentions as f64 / best / 1e6,
        posts.len() as f64 / best / 1e6,
    );
}
