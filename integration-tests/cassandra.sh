#!/usr/bin/env bash
# A real Apache Cassandra node for tests, from Maven Central jars (no Docker, no tarball):
# one single-token node on 127.0.0.1 with free ports, small heap and caches.
#
#   integration-tests/cassandra.sh start   # fetch jars (cached), configure, start, wait until ready
#   integration-tests/cassandra.sh ensure  # start unless already running; print CASSANDRA_CONTACT=…
#   integration-tests/cassandra.sh stop    # stop, keeping data and ports
#   integration-tests/cassandra.sh resume  # start again on the kept data and ports (outage tests)
#   integration-tests/cassandra.sh status
#
# After `start`, $STATE/env holds CASSANDRA_CONTACT=127.0.0.1:PORT (the CQL native port).
# Jars are cached in ${VIRAL_CACHE:-~/.cache/viral}; state lives in $STATE
# (default target/cassandra), wiped on each start.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version=$(sed -n 's:.*<cassandra.version>\(.*\)</cassandra.version>.*:\1:p' "$here/cassandra/pom.xml")
cache=${VIRAL_CACHE:-$HOME/.cache/viral}/cassandra-$version
STATE=${VIRAL_CASSANDRA_STATE:-$root/target/cassandra}
READY_TIMEOUT=${VIRAL_CASSANDRA_READY_TIMEOUT:-180}

log() { printf 'cassandra.sh: %s\n' "$*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fetch() {
  if [ -f "$cache/.complete" ]; then return; fi
  log "fetching Apache Cassandra $version from Maven Central into $cache"
  rm -rf "$cache" && mkdir -p "$cache"
  mvn -q -B -Dstyle.color=never -f "$here/cassandra/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$cache/libs" -DincludeScope=runtime
  touch "$cache/.complete"
}

start() {
  command -v java >/dev/null || { log "java not found (Java 17 is required)"; exit 1; }
  stop quiet
  fetch
  rm -rf "$STATE" && mkdir -p "$STATE/triggers"
  # Ports are chosen once and kept in $STATE/ports, so `resume` comes back on the same ones.
  printf 'NATIVE_PORT=%s\nSTORAGE_PORT=%s\nJMX_PORT=%s\n' \
    "$(free_port)" "$(free_port)" "$(free_port)" > "$STATE/ports"
  . "$STATE/ports"
  # Only what a one-node test cluster needs; everything else keeps Cassandra's defaults
  # (other directories default under -Dcassandra.storagedir=$STATE).
  # Caches, memtables and thread pools are small for 2-core CI machines.
  cat > "$STATE/cassandra.yaml" <<YAML
cluster_name: viral-test
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$STORAGE_PORT"
listen_address: 127.0.0.1
broadcast_address: 127.0.0.1
rpc_address: 127.0.0.1
broadcast_rpc_address: 127.0.0.1
storage_port: $STORAGE_PORT
native_transport_port: $NATIVE_PORT
start_native_transport: true
authenticator: AllowAllAuthenticator
authorizer: AllowAllAuthorizer
data_file_directories: ["$STATE/data"]
commitlog_directory: "$STATE/commitlog"
saved_caches_directory: "$STATE/saved_caches"
hints_directory: "$STATE/hints"
commitlog_sync: periodic
commitlog_sync_period: 10000ms
commitlog_segment_size: 8MiB
auto_snapshot: false
memtable_heap_space: 64MiB
memtable_offheap_space: 64MiB
key_cache_size: 8MiB
prepared_statements_cache_size: 8MiB
file_cache_size: 32MiB
concurrent_reads: 4
concurrent_writes: 4
concurrent_counter_writes: 4
concurrent_compactors: 1
YAML
  cat > "$STATE/logback.xml" <<XML
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$STATE/cassandra.log</file>
    <append>true</append>
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
XML
  launch
}

# JVM flags, in groups:
java_opts() {
  local jamm
  jamm=$(ls "$cache/libs"/jamm-*.jar | head -n 1)
  # Small heap for 2-core, shared CI machines; G1 as Cassandra's jvm17-server.options.
  printf '%s\n' -Xms512m -Xmx1g -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:+ExitOnOutOfMemoryError -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
  # jamm measures object sizes (memtables, caches); as an agent it uses Instrumentation,
  # as Cassandra's own scripts do (5.0.9 also starts without it, on a slower fallback).
  printf '%s\n' "-javaagent:$jamm"
  # Java 17 module access that Cassandra 5 needs (its conf/jvm17-server.options): without the
  # --add-opens it dies on sun.nio.ch.DirectBuffer (FileUtils), without the --add-exports on
  # sun.rmi.registry (local JMX); chronicle, netty and the attach API reach in too.
  printf '%s\n' -Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true \
    -Dio.netty.allocator.useCacheForAllThreads=true -Dio.netty.allocator.maxOrder=11
  local m
  for m in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi \
    java.rmi/sun.rmi.registry java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref \
    jdk.unsupported/sun.misc jdk.compiler/com.sun.tools.javac.file jdk.attach/sun.tools.attach; do
    printf '%s\n' --add-exports "$m=ALL-UNNAMED"
  done
  for m in java.lang.module jdk.internal.loader jdk.internal.ref jdk.internal.reflect jdk.internal.math \
    jdk.internal.module jdk.internal.util.jar sun.nio.ch java.io java.lang.reflect java.lang java.util; do
    printf '%s\n' --add-opens "java.base/$m=ALL-UNNAMED"
  done
  printf '%s\n' --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED \
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
  # Cassandra itself: config and log files in $STATE, stay in the foreground (keep stdout/err),
  # don't wait for gossip to settle or a long ring delay (there is only this node), and
  # JMX on localhost only (for nodetool when debugging).
  printf '%s\n' "-Dcassandra.config=file://$STATE/cassandra.yaml" \
    "-Dlogback.configurationFile=$STATE/logback.xml" "-Dcassandra.storagedir=$STATE" \
    "-Dcassandra.triggers_dir=$STATE/triggers" \
    -Dcassandra-foreground=yes -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=1000 -Dcassandra.superuser_setup_delay_ms=0 \
    "-Dcassandra.jmx.local.port=$JMX_PORT"
}

# Start the node on the prepared $STATE and wait until it serves CQL.
launch() {
  . "$STATE/ports"
  # Only this launch's lines count (a resumed node's log already says "Startup complete").
  local seen=0
  [ -f "$STATE/cassandra.log" ] && seen=$(wc -l < "$STATE/cassandra.log")
  local opts; mapfile -t opts < <(java_opts)
  # java itself in the background (not a subshell around it), so $! is the JVM's pid and
  # `stop` really stops it. Its stdout/stderr (JVM errors) go to the same log, in append mode.
  java "${opts[@]}" -cp "$cache/libs/*" org.apache.cassandra.service.CassandraDaemon \
    >>"$STATE/cassandra.log" 2>&1 </dev/null &
  echo $! > "$STATE/pid"
  log "starting node (pid $(cat "$STATE/pid")) with CQL on 127.0.0.1:$NATIVE_PORT"
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$READY_TIMEOUT" ]; do
    if ! kill -0 "$(cat "$STATE/pid")" 2>/dev/null; then
      log "the node exited; last lines of $STATE/cassandra.log:"; tail -n 40 "$STATE/cassandra.log" >&2
      exit 1
    fi
    # Ready = the log says so for this launch AND the native port takes a TCP connection.
    if tail -n +"$((seen + 1))" "$STATE/cassandra.log" 2>/dev/null | grep -q "Startup complete" &&
      (exec 3<>"/dev/tcp/127.0.0.1/$NATIVE_PORT") 2>/dev/null; then
      echo "CASSANDRA_CONTACT=127.0.0.1:$NATIVE_PORT" > "$STATE/env"
      log "ready after $((SECONDS - t0)) s: CASSANDRA_CONTACT=127.0.0.1:$NATIVE_PORT"
      return
    fi
    sleep 1
  done
  log "the node did not become ready in $READY_TIMEOUT s; last lines of $STATE/cassandra.log:"
  tail -n 40 "$STATE/cassandra.log" >&2
  exit 1
}

stop() {
  local pidfile="$STATE/pid"
  [ -f "$pidfile" ] || { [ "${1:-}" = quiet ] || log "not running"; return 0; }
  local pid; pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    # SIGTERM runs Cassandra's shutdown hook (drain: flush memtables, close the commit log).
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
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
  [ -f "$STATE/cassandra.yaml" ] || { log "nothing to resume in $STATE; use start"; exit 1; }
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
