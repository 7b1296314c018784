//! Core throughput: topic matching + windowing + de-duplication on pre-parsed posts, the
//! work every mention costs in the aggregator and in `viral replay` apart from JSON.
//! Figures go to docs/BENCHMARKS.md.

#[path = "common/workload.rs"]
mod workload;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use viral_core::matcher::TopicMatcher;
use viral_core::window::WindowSpec;
use workload::{posts, run};

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
            let (mut scratch, mut ids) = (viral_core::matcher::Scratch::default(), Vec::new());
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
