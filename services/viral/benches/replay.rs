//! `viral replay` on a generated file of 1M posts (JSON parsing, matching, windowing and
//! writing included), run as the binary users run. The file is generated once by
//! `viral generate` with `bench/replay.toml` and kept under target/bench.
//! `bench/replay.sh` reports the same run in CPU time and peak RSS.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const POSTS: u64 = 1_000_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn input() -> PathBuf {
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let file = dir.join(format!("posts-{POSTS}.jsonl"));
    if !file.exists() {
        let status = Command::new(env!("CARGO_BIN_EXE_viral"))
            .args(["generate", "--config"])
            .arg(root().join("bench/replay.toml"))
            .args([
                "--duration",
                "1000h",
                "--limit",
                &POSTS.to_string(),
                "--output",
            ])
            .arg(&file)
            .status()
            .expect("viral generate runs");
        assert!(status.success(), "viral generate failed");
    }
    file
}

fn bench(c: &mut Criterion) {
    let input = input();
    let config = root().join("bench/replay.toml");
    let mut g = c.benchmark_group("replay");
    g.throughput(Throughput::Elements(POSTS));
    g.sample_size(10);
    g.bench_function("1M generated posts, 10 topics, 30m windows", |b| {
        b.iter(|| {
            let out = Command::new(env!("CARGO_BIN_EXE_viral"))
                .args(["replay", "--config"])
                .arg(&config)
                .arg("--input")
                .arg(&input)
                .args(["--output", "/dev/null"])
                .output()
                .expect("viral replay runs");
            assert!(out.status.success());
            out.stderr.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
