#!/usr/bin/env bash
# A real Apache Kafka broker for tests, from Maven Central jars (no Docker, no tarball):
# one combined broker/controller node in KRaft mode on 127.0.0.1 with free ports.
#
#   integration-tests/kafka.sh start   # fetch jars (cached), format, start, wait until ready
#   integration-tests/kafka.sh ensure  # start unless already running; print KAFKA_BOOTSTRAP=…
#   integration-tests/kafka.sh stop    # stop, keeping data and ports
#   integration-tests/kafka.sh resume  # start again on the kept data and ports (outage tests)
#   integration-tests/kafka.sh status
#
# After `start`, $STATE/env holds KAFKA_BOOTSTRAP=127.0.0.1:PORT; tests read
# VIRAL_TEST_KAFKA (export it from that file) and skip nothing: `.ci/run` always starts it.
# Jars are cached in ${VIRAL_CACHE:-~/.cache/viral}; state lives in $STATE
# (default target/kafka), wiped on each start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
cache=${VIRAL_CACHE:-$HOME/.cache/viral}/kafka-$version
STATE=${VIRAL_KAFKA_STATE:-$root/target/kafka}

log() { printf 'kafka.sh: %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fetch() {
  if [ -f "$cache/.complete" ]; then return; fi
  log "fetching Apache Kafka $version from Maven Central into $cache"
  rm -rf "$cache" && mkdir -p "$cache"
  mvn -q -B -Dstyle.color=never -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$cache/libs" -DincludeScope=runtime
  touch "$cache/.complete"
}

java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info)

kafka_java() {
  java "${java_opts[@]}" -cp "$cache/libs/*" "$@"
}

start() {
  command -v java >/dev/null || { log "java not found (Java 17 is required)"; exit 1; }
  stop quiet
  fetch
  rm -rf "$STATE" && mkdir -p "$STATE/data"
  local port cport
  port=$(free_port); cport=$(free_port)
  cat > "$STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  local uuid
  uuid=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$STATE/kafka.log" | tail -n 1)
  kafka_java kafka.tools.StorageTool format -t "$uuid" -c "$STATE/server.properties" --standalone \
    >>"$STATE/kafka.log" 2>&1
  launch
}

# Start the broker on the prepared $STATE and wait until it serves.
launch() {
  local port
  port=$(sed -n 's/^listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),.*/\1/p' "$STATE/server.properties")
  # Only this launch's lines count (a resumed broker's log already says "started").
  local seen=0
  [ -f "$STATE/kafka.log" ] && seen=$(wc -l < "$STATE/kafka.log")
  # java itself in the background (not a subshell around it), so $! is the broker's pid
  # and `stop` really stops it.
  java "${java_opts[@]}" -cp "$cache/libs/*" kafka.Kafka "$STATE/server.properties" \
    >>"$STATE/kafka.log" 2>&1 &
  echo $! > "$STATE/pid"
  log "starting broker (pid $(cat "$STATE/pid")) on 127.0.0.1:$port"
  for _ in $(seq 1 120); do
    if ! kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
      log "the broker exited; last lines of $STATE/kafka.log:"; tail -n 30 "$STATE/kafka.log" >&2; exit 1
    fi
    if tail -n +"$((seen + 1))" "$STATE/kafka.log" 2>/dev/null | grep -q "Kafka Server started"; then
      echo "KAFKA_BOOTSTRAP=127.0.0.1:$port" > "$STATE/env"
      log "ready: KAFKA_BOOTSTRAP=127.0.0.1:$port"
      return
    fi
    sleep 1
  done
  log "the broker did not become ready in 120 s; see $STATE/kafka.log"; exit 1
}

stop() {
  local pidfile="$STATE/pid"
  [ -f "$pidfile" ] || { [ "${1:-}" = quiet ] || log "not running"; return 0; }
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  [ "${1:-}" = quiet ] || log "stopped"
}

status() {
  if [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
    cat "$STATE/env" 2>/dev/null; echo "running (pid $(cat "$STATE/pid"))"
  else
    echo "not running"; return 1
  fi
}

resume() {
  [ -f "$STATE/server.properties" ] || { log "nothing to resume in $STATE; use start"; exit 1; }
  status >/dev/null 2>&1 && { cat "$STATE/env"; return; }
  launch
}

ensure() {
  if status >/dev/null 2>&1; then cat "$STATE/env"; else start; cat "$STATE/env"; fi
}

case "${1:-}" in
  start) start ;;
  ensure) ensure ;;
  stop) stop ;;
  resume) resume ;;
  status) status ;;
  fetch) fetch ;;
  *) echo "usage: $0 start|ensure|stop|resume|status|fetch" >&2; exit 2 ;;
esac
