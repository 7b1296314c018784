#!/usr/bin/env bash
# Build and run viral's fuzz targets on the stable toolchain (docs/FUZZING.md).
#
#   fuzz/fuzz.sh build               build every target (cargo-fuzz, no sanitizer)
#   fuzz/fuzz.sh smoke [SECONDS]     each target over its committed corpus, then SECONDS
#                                    (default 20) of fuzzing; two at a time; fails on any
#                                    crash, timeout or out-of-memory (what CI runs)
#   fuzz/fuzz.sh run TARGET [SECONDS] [-- LIBFUZZER_FLAGS…]
#                                    one campaign (default 600 s); new inputs go to
#                                    fuzz/out/TARGET, findings to fuzz/artifacts/TARGET
#
# No nightly toolchain is needed: RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags
# cargo-fuzz passes, and `-s none` leaves out AddressSanitizer (which needs a nightly
# standard library). Safe Rust gains little from ASan; what the targets look for are
# panics, broken properties, hangs and unbounded memory, which libFuzzer reports itself.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(post_json bus_mention bus_window_count jetstream_event mastodon_sse x_stream ingest_body config)
# Limits under which an input counts as a finding: 2 GiB of memory, 10 s for one input.
FLAGS=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1)
export RUSTC_BOOTSTRAP=1 CARGO_INCREMENTAL=0
# One target directory for the whole repository (the fuzz build lands in its own
# x86_64-unknown-linux-gnu/ subdirectory, next to the workspace's debug/).
TARGET_DIR=${CARGO_TARGET_DIR:-../target}
BIN="$TARGET_DIR/x86_64-unknown-linux-gnu/release"

dict() {
  case $1 in
    config) echo dict/toml.dict ;;
    *) echo dict/json.dict ;;
  esac
}

build() {
  cargo fuzz build -s none --target-dir "$TARGET_DIR" --codegen-units 16
}

# run TARGET SECONDS OUT [FLAGS…]: the committed corpus read, new inputs written to OUT.
run() {
  local t=$1 secs=$2 out=$3
  shift 3
  mkdir -p "$out" "artifacts/$t"
  "$BIN/$t" -max_total_time="$secs" -dict="$(dict "$t")" -artifact_prefix="artifacts/$t/" \
    "${FLAGS[@]}" "$@" "$out" "corpus/$t"
}

smoke() {
  local secs=${1:-20} failed=()
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  # Two at a time: one per core.
  for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do
    local pids=() names=()
    for t in "${TARGETS[@]:i:2}"; do
      run "$t" "$secs" "$scratch/$t" >"$scratch/$t.log" 2>&1 &
      pids+=($!)
      names+=("$t")
    done
    for j in "${!pids[@]}"; do
      local t=${names[$j]}
      if wait "${pids[$j]}"; then
        printf '%-18s ok   %s\n' "$t" "$(grep -E '^Done [0-9]+ runs' "$scratch/$t.log" || true)"
      else
        printf '%-18s FAILED\n' "$t"
        tail -n 40 "$scratch/$t.log"
        failed+=("$t")
      fi
    done
  done
  if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz targets failed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    return 1
  fi
}

case ${1:-} in
  build) build ;;
  smoke) build && smoke "${2:-20}" ;;
  run)
    t=${2:?target}
    secs=${3:-600}
    shift $(($# < 3 ? $# : 3))
    [ "${1:-}" = "--" ] && shift
    run "$t" "$secs" "out/$t" "$@"
    ;;
  *)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
