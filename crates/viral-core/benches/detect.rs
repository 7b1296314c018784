//! Detector speed: a backtest of 10 series × 16,000 five-minute windows (about the size
//! of NAB's realTweets files) through the Judge, as `viral backtest` runs it. Figures go
//! to docs/BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson};
use viral_core::time::from_millis;
use viral_core::{DetectorConfig, Judge, WindowCount};

const SERIES: usize = 10;
const WINDOWS: usize = 16_000;
const SIZE: i64 = 5 * 60_000;

/// Daily rhythm around `level` mentions a window, with a burst now and then.
fn workload() -> Vec<WindowCount> {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut out = Vec::with_capacity(SERIES * WINDOWS);
    for s in 0..SERIES {
        let level = 5.0 * (s + 1) as f64;
        for i in 0..WINDOWS {
            let hour = (i as f64 * 5.0 / 60.0) % 24.0;
            let mut mean = level * (1.0 + 0.6 * (hour / 24.0 * std::f64::consts::TAU).sin());
            if i % 1_500 == 700 {
                mean *= 10.0;
            }
            let count = Poisson::new(mean.max(0.1)).unwrap().sample(&mut rng) as u64;
            out.push(WindowCount {
                topic: format!("t{s}"),
                window_start: from_millis(i as i64 * SIZE),
                window_end: from_millis((i as i64 + 1) * SIZE),
                count,
                samples: vec![],
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let windows = workload();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(windows.len() as u64));
    g.sample_size(10);
    let detectors = [
        ("adaptive", DetectorConfig::adaptive()),
        ("threshold", DetectorConfig::threshold(100)),
        (
            "burst",
            DetectorConfig::Burst {
                factor: None,
                min_count: None,
                name: None,
                resolve_after: None,
            },
        ),
    ];
    for (name, cfg) in detectors {
        g.bench_function(
            format!("backtest 10 x 16,000 5-minute windows, {name}"),
            |b| {
                b.iter_batched(
                    || Judge::new(vec![cfg.clone()]).expect("valid detector"),
                    |mut judge| {
                        windows
                            .iter()
                            .map(|w| judge.observe(w).len())
                            .sum::<usize>()
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
