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
# (default target/kafka), wiped on each start. The life cycle is node.sh's; this file
# says what is Kafka's: its config, its command and when it serves.
NAME=kafka
TITLE="Apache Kafka"
STATE_VAR=VIRAL_KAFKA_STATE
READY_TIMEOUT=120
STOP_TIMEOUT=30
CONFIG_FILE=server.properties
. "$(dirname "$0")/node.sh"

java_opts=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  -Dorg.slf4j.simpleLogger.defaultLogLevel=info)

kafka_java() {
  java "${java_opts[@]}" -cp "$cache/libs/*" "$@"
}

# The broker's port, from its config (state directories from before the ports file
# have only that).
port() {
  sed -n 's/^listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),.*/\1/p' "$STATE/server.properties"
}

configure() {
  mkdir -p "$STATE/data"
  pick_ports PORT CONTROLLER_PORT
  cat > "$STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
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
  local uuid log_file
  log_file=$(node_log)
  uuid=$(kafka_java kafka.tools.StorageTool random-uuid 2>>"$log_file" | tail -n 1)
  kafka_java kafka.tools.StorageTool format -t "$uuid" -c "$STATE/server.properties" --standalone \
    >>"$log_file" 2>&1
}

run_node() {
  exec java "${java_opts[@]}" -cp "$cache/libs/*" kafka.Kafka "$STATE/server.properties"
}

node_ready() {
  log_has_since "$1" "Kafka Server started"
}

address() {
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$(port)"
}

node_main "$@"
