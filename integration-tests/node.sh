# The life cycle of a test node (a Java server from Maven Central jars: Kafka, Cassandra),
# shared by kafka.sh and cassandra.sh so both start, stop, resume and report alike.
# Sourced, not run. Before sourcing, the script sets:
#
#   NAME           kafka | cassandra: log prefix, <NAME>/pom.xml, <NAME>.version in it,
#                  the cache directory and the log file ($STATE/$NAME.log)
#   TITLE          what is fetched, for the log ("Apache Kafka")
#   STATE_VAR      the variable that may name the state directory (else target/$NAME)
#   READY_TIMEOUT  seconds a launch may take to serve
#   STOP_TIMEOUT   seconds SIGTERM may take before SIGKILL
#   CONFIG_FILE    the file in $STATE whose presence makes it resumable
#
# and, after sourcing, defines:
#
#   configure      write the node's config into the new, empty $STATE (ports from
#                  `pick_ports`, which the config must list for `resume` to reuse them)
#   run_node       the server in the foreground; `exec java …` so its pid is the launch's
#   node_ready N   whether it serves; N is the log's line count before this launch
#   address        the KEY=host:port line tests and .ci/run read from $STATE/env
#
# then ends with `node_main "$@"`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
version=$(sed -n "s:.*<$NAME.version>\(.*\)</$NAME.version>.*:\1:p" "$here/$NAME/pom.xml")
cache=${VIRAL_CACHE:-$HOME/.cache/viral}/$NAME-$version
STATE=${!STATE_VAR:-$root/target/$NAME}
node_log() { printf '%s\n' "$STATE/$NAME.log"; }

log() { printf '%s.sh: %s\n' "$NAME" "$*" >&2; }

# Whether process $1 runs: a zombie (killed, not yet reaped by its new parent) does not.
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != Z ]
}

# `pick_ports A B …` writes A=port, B=port, … to $STATE/ports, all bound at once so they
# differ. They are free now, not reserved: `start` tries new ones if the node finds one
# taken by the time it binds.
pick_ports() {
  python3 - "$@" > "$STATE/ports" <<'PY'
import socket, sys
held = []
for name in sys.argv[1:]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    print(f"{name}={s.getsockname()[1]}")
PY
  . "$STATE/ports"
}

# Whether the log has a line containing $2 after its first $1 lines. awk reads the file
# itself: `tail | grep -q` would fail under pipefail when grep stops early (SIGPIPE).
log_has_since() {
  awk -v from="$1" -v text="$2" 'NR > from && index($0, text) { found = 1; exit }
    END { exit !found }' "$(node_log)"
}

fetch() {
  if [ -f "$cache/.complete" ]; then return; fi
  log "fetching $TITLE $version from Maven Central into $cache"
  rm -rf "$cache" && mkdir -p "$cache"
  # Maven's output goes to stderr: stdout is for the KEY=host:port line tests read.
  mvn -q -B -Dstyle.color=never -f "$here/$NAME/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$cache/libs" -DincludeScope=runtime >&2
  touch "$cache/.complete"
}

# Start the node on the prepared $STATE and wait until it serves. Returns 1, with
# nothing left running, if it exits or is not ready in time.
launch() {
  [ ! -f "$STATE/ports" ] || . "$STATE/ports"
  # Only this launch's lines count (a resumed node's log already says it is ready).
  local seen=0 log_file
  log_file=$(node_log)
  [ -f "$log_file" ] && seen=$(wc -l < "$log_file")
  run_node >>"$log_file" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" > "$STATE/pid"
  log "starting (pid $pid): $(address)"
  local t0=$SECONDS
  while [ $((SECONDS - t0)) -lt "$READY_TIMEOUT" ]; do
    if ! alive "$pid"; then
      log "it exited; last lines of $log_file:"; tail -n 40 "$log_file" >&2
      rm -f "$STATE/pid"
      return 1
    fi
    if node_ready "$seen"; then
      address > "$STATE/env"
      log "ready after $((SECONDS - t0)) s: $(address)"
      return 0
    fi
    sleep 1
  done
  log "not ready in $READY_TIMEOUT s; stopping it. Last lines of $log_file:"
  tail -n 40 "$log_file" >&2
  stop quiet
  return 1
}

start() {
  command -v java >/dev/null || { log "java not found (Java 17 is required)"; exit 1; }
  stop quiet
  fetch
  local attempt
  for attempt in 1 2 3; do
    rm -rf "$STATE" && mkdir -p "$STATE"
    configure
    launch && return
    # Another process took a port between pick_ports and the bind: new ports.
    grep -q "Address already in use" "$(node_log)" || exit 1
    log "a port was taken (attempt $attempt); trying new ports"
  done
  exit 1
}

stop() {
  local pidfile="$STATE/pid"
  [ -f "$pidfile" ] || { [ "${1:-}" = quiet ] || log "not running"; return 0; }
  local pid; pid=$(cat "$pidfile")
  if alive "$pid"; then
    # SIGTERM lets the node shut down cleanly (Cassandra drains, Kafka closes its logs).
    kill "$pid"
    local _
    for _ in $(seq 1 "$STOP_TIMEOUT"); do alive "$pid" || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  [ "${1:-}" = quiet ] || log "stopped"
}

status() {
  if [ -f "$STATE/pid" ] && alive "$(cat "$STATE/pid")"; then
    cat "$STATE/env" 2>/dev/null; echo "running (pid $(cat "$STATE/pid"))"
  else
    echo "not running"; return 1
  fi
}

resume() {
  [ -f "$STATE/$CONFIG_FILE" ] || { log "nothing to resume in $STATE; use start"; exit 1; }
  if status >/dev/null 2>&1; then cat "$STATE/env"; return; fi
  launch || exit 1
}

ensure() {
  if ! status >/dev/null 2>&1; then start; fi
  cat "$STATE/env"
}

node_main() {
  case "${1:-}" in
    start) start ;;
    ensure) ensure ;;
    stop) stop ;;
    resume) resume ;;
    status) status ;;
    fetch) fetch ;;
    *) echo "usage: $0 start|ensure|stop|resume|status|fetch" >&2; exit 2 ;;
  esac
}
