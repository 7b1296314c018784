#!/usr/bin/env bash
# Benchmark `viral replay` on a generated file of 1M posts (override with POSTS=N):
# throughput and peak RSS. Prints one summary line; figures go to docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
POSTS=${POSTS:-1000000}
DIR=${BENCH_DIR:-target/bench}
mkdir -p "$DIR"
cargo build --release -q -p viral
VIRAL=target/release/viral
INPUT="$DIR/posts-$POSTS.jsonl"
if [ ! -s "$INPUT" ]; then
  "$VIRAL" generate --config bench/replay.toml --duration 1000h --limit "$POSTS" --output "$INPUT"
fi
BYTES=$(stat -c %s "$INPUT")
# Peak RSS from the kernel (VmHWM) via a tiny wrapper, so no extra tools are needed.
python3 - "$VIRAL" "$INPUT" "$DIR/counts.jsonl" "$POSTS" "$BYTES" <<'PY'
import json, resource, subprocess, sys, time
viral, inp, out, posts, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t0 = time.perf_counter()
p = subprocess.run([viral, "replay", "--config", "bench/replay.toml", "--input", inp, "--output", out],
                   stderr=subprocess.PIPE, text=True, check=True)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
summary = json.loads(p.stderr.strip().splitlines()[-1])
cpu = ru.ru_utime + ru.ru_stime
print(f"replay: {posts} posts ({size/1e6:.0f} MB), {summary['mentions']} mentions, "
      f"{summary['windows']} windows in {wall:.2f} s wall, {cpu:.2f} s CPU: "
      f"{posts/cpu/1e6:.2f} M posts/s/core, {summary['mentions']/cpu/1e6:.2f} M mentions/s/core, "
      f"{size/cpu/1e6:.0f} MB/s/core; peak RSS {ru.ru_maxrss/1024:.1f} MiB")
print(json.dumps(summary))
PY
