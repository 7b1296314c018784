//! The core benchmark's workload measured in CPU time, the honest "per core" figure on a
//! shared machine whose wall clock includes time stolen by neighbours (criterion measures
//! wall time). Also the target for instruction-count profiling with callgrind.
//!
//! Usage: corework [posts] [topics] [hop_minutes] [rounds]

#[path = "../benches/common/workload.rs"]
mod workload;

use cpu_time::ProcessTime;

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().unwrap_or(0));
    let mut next = |default: usize| args.next().filter(|&n| n > 0).unwrap_or(default);
    let (n, topics, hop, rounds) = (next(200_000), next(10), next(30) as i64, next(5));
    let (specs, posts) = workload::posts(n, topics);
    let matcher = viral_core::TopicMatcher::new(&specs).expect("valid topics");
    let spec =
        viral_core::WindowSpec::from_millis(1_800_000, hop * 60_000, 60_000).expect("valid spec");
    let mut best = f64::MAX;
    let mut counted = 0;
    for _ in 0..rounds {
        let t = ProcessTime::now();
        counted = workload::run(&matcher, spec, &posts);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{n} mentions, {topics} topics, 30m/{hop}m windows: {:.2} M mentions/s per CPU-second (best of {rounds}; {counted} counted)",
        n as f64 / best / 1e6
    );
}
