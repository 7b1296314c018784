#!/usr/bin/env bash
# The benchmark suite in one command: builds viral (release) and the Kafka Streams peer
# (bench/peers/kafka-streams, Maven), starts a Kafka broker of its own from Maven Central
# jars (integration-tests/kafka.sh, state in target/bench/kafka), runs viral, a bare
# consumer and Kafka Streams on the same data, and prints the tables (markdown) that
# docs/BENCHMARKS.md quotes. Takes ~15 minutes on 2 vCPUs.
#
#   bench/suite.sh                      # everything
#   bench/suite.sh --only throughput    # or memory, latency; any viral-bench suite flag
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '\n==> %s\n' "$*" >&2; }

log "building viral (release) and the benchmark harness"
cargo build --release -q -p viral-aggregator -p viral-alerter -p viral-bench
log "building the Kafka Streams peer"
mvn -q -B -Dstyle.color=never -f bench/peers/kafka-streams/pom.xml package dependency:copy-dependencies

export VIRAL_KAFKA_STATE=$PWD/target/bench/kafka
trap 'integration-tests/kafka.sh stop || true' EXIT
log "starting a broker for the suite"
integration-tests/kafka.sh start
set -a; . "$VIRAL_KAFKA_STATE/env"; set +a

rm -rf target/bench/suite
target/release/viral-bench suite --brokers "$KAFKA_BOOTSTRAP" "$@"
