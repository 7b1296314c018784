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
# (default target/cassandra), wiped on each start. The life cycle is node.sh's; this file
# says what is Cassandra's: its config, its command and when it serves.
NAME=cassandra
TITLE="Apache Cassandra"
STATE_VAR=VIRAL_CASSANDRA_STATE
READY_TIMEOUT=${VIRAL_CASSANDRA_READY_TIMEOUT:-180}
STOP_TIMEOUT=60
CONFIG_FILE=cassandra.yaml
. "$(dirname "$0")/node.sh"

configure() {
  mkdir -p "$STATE/triggers"
  # Ports are chosen once and kept in $STATE/ports, so `resume` comes back on the same ones.
  pick_ports NATIVE_PORT STORAGE_PORT JMX_PORT
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
}

# JVM flags, in groups:
java_opts() {
  local jamms=("$cache/libs"/jamm-*.jar)
  # Small heap for 2-core, shared CI machines; G1 as Cassandra's jvm17-server.options.
  printf '%s\n' -Xms512m -Xmx1g -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:+ExitOnOutOfMemoryError -Djava.net.preferIPv4Stack=true -Djava.awt.headless=true
  # jamm measures object sizes (memtables, caches); as an agent it uses Instrumentation,
  # as Cassandra's own scripts do (5.0.9 also starts without it, on a slower fallback).
  printf '%s\n' "-javaagent:${jamms[0]}"
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

run_node() {
  local opts; mapfile -t opts < <(java_opts)
  exec java "${opts[@]}" -cp "$cache/libs/*" org.apache.cassandra.service.CassandraDaemon
}

# Ready = the log says so for this launch AND the native port takes a TCP connection.
node_ready() {
  log_has_since "$1" "Startup complete" && (exec 3<>"/dev/tcp/127.0.0.1/$NATIVE_PORT") 2>/dev/null
}

address() {
  echo "CASSANDRA_CONTACT=127.0.0.1:$NATIVE_PORT"
}

node_main "$@"
