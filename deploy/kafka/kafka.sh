#!/usr/bin/env bash
# A single-node Apache Kafka (KRaft: broker + controller in one process) for development and tests.
#
#   deploy/kafka/kafka.sh fetch    download the broker jars from Maven Central (once; re-runs reuse them)
#   deploy/kafka/kafka.sh start    format storage (first time) and start, wait until it answers
#   deploy/kafka/kafka.sh stop     stop it cleanly (SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT seconds)
#   deploy/kafka/kafka.sh status   say whether it runs
#   deploy/kafka/kafka.sh launch | wait      start without waiting / wait until it answers (cluster nodes)
#   deploy/kafka/kafka.sh kill | pause | resume   SIGKILL / SIGSTOP / SIGCONT it (fault tests)
#   deploy/kafka/kafka.sh node I start|stop|kill|pause|resume   one node of the cluster
#   deploy/kafka/kafka.sh cluster-start N | cluster-stop   N nodes (KRaft, each broker and controller) on
#       free ports, data in $KAFKA_CLUSTER_DIR (.kafka/cluster)/node-<i>; topics replicated 3 ways with
#       min.insync.replicas 2; the bootstrap list is written to $KAFKA_CLUSTER_DIR/bootstrap
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_DATA_DIR
# (.kafka/data-$KAFKA_PORT), KAFKA_LIBS_DIR (.kafka/libs), KAFKA_HEAP_OPTS (-Xms256m -Xmx768m),
# KAFKA_START_TIMEOUT (90), KAFKA_STOP_TIMEOUT (30), KAFKA_PARTITIONS default partitions of new topics (8).
# A cluster node also reads KAFKA_NODE_ID (1), KAFKA_VOTERS (its own controller only), KAFKA_CLUSTER_ID
# (a new one), KAFKA_REPLICATION (1: replication factor of internal and new topics; min.insync.replicas is 2
# from 3 on), KAFKA_BROKER_SESSION_MS (9000; 3000 for cluster nodes: how soon a dead broker's partitions
# get new leaders).
# KAFKA_SASL_SSL_PORT adds a SASL_SSL listener (SCRAM-SHA-512, TLS) on that port, as managed Kafka services
# require, with the user KAFKA_SASL_USERNAME (mission-pulse) / KAFKA_SASL_PASSWORD (mission-pulse-secret);
# its CA and server certificate are made by tls.sh in $KAFKA_DATA_DIR/tls (clients trust tls/ca.pem).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data_dir="${KAFKA_DATA_DIR:-$root/.kafka/data-$port}"
libs_dir="${KAFKA_LIBS_DIR:-$root/.kafka/libs}"
heap_opts="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
start_timeout="${KAFKA_START_TIMEOUT:-90}"
stop_timeout="${KAFKA_STOP_TIMEOUT:-30}"
partitions="${KAFKA_PARTITIONS:-8}"
pid_file="$data_dir/kafka.pid"
node_id="${KAFKA_NODE_ID:-1}"
voters="${KAFKA_VOTERS:-$node_id@127.0.0.1:$controller_port}"
replication="${KAFKA_REPLICATION:-1}"
min_isr=$((replication >= 3 ? 2 : 1))
cluster_dir="${KAFKA_CLUSTER_DIR:-$root/.kafka/cluster}"
sasl_port="${KAFKA_SASL_SSL_PORT:-}"
sasl_user="${KAFKA_SASL_USERNAME:-mission-pulse}"
sasl_password="${KAFKA_SASL_PASSWORD:-mission-pulse-secret}"

log() { printf '[kafka] %s\n' "$*" >&2; }

fetch() {
  local version
  version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
  if [[ -f "$libs_dir/kafka_2.13-$version.jar" ]]; then
    return 0
  fi
  rm -rf "$libs_dir"
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch the Kafka jars"; exit 1; }
  log "fetching Apache Kafka $version from Maven Central into $libs_dir (first run only) ..."
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies -Dkafka.libs="$libs_dir"
  log "fetched $(find "$libs_dir" -name '*.jar' | wc -l) jars"
}

java_run() {
  # shellcheck disable=SC2086  # heap options are several words
  exec ${detach:-} java $heap_opts -Dlog4j.configuration="file:$here/log4j.properties" -Dkafka.logs.dir="$data_dir" \
    -cp "$libs_dir/*" "$@"
}

running() {
  [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# A CA and a certificate for 127.0.0.1/localhost signed by it, made as the deployed brokers' are.
make_tls() {
  sh "$here/tls.sh" "$data_dir/tls" localhost,127.0.0.1
}

launch() {
  fetch
  if running; then
    log "already running on 127.0.0.1:$port (pid $(cat "$pid_file"))"
    return 0
  fi
  mkdir -p "$data_dir/log"
  local listeners="PLAINTEXT://127.0.0.1:$port" protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  local scram=()
  if [[ -n "$sasl_port" ]]; then
    make_tls
    listeners="$listeners,SASL_SSL://127.0.0.1:$sasl_port"
    protocols="$protocols,SASL_SSL:SASL_SSL"
    scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]")
  fi
  cat >"$data_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=$listeners,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
log.dirs=$data_dir/log
num.partitions=$partitions
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
default.replication.factor=$replication
min.insync.replicas=$min_isr
broker.session.timeout.ms=${KAFKA_BROKER_SESSION_MS:-9000}
broker.heartbeat.interval.ms=$(( ${KAFKA_BROKER_SESSION_MS:-9000} / 4 ))
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
PROPS
  if [[ -n "$sasl_port" ]]; then
    cat >>"$data_dir/server.properties" <<PROPS
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.location=$data_dir/tls/broker.p12
ssl.keystore.type=PKCS12
ssl.keystore.password=$(cat "$data_dir/tls/password")
ssl.key.password=$(cat "$data_dir/tls/password")
PROPS
  fi
  if [[ ! -f "$data_dir/log/meta.properties" ]]; then
    local cluster_id
    cluster_id="${KAFKA_CLUSTER_ID:-$( (java_run kafka.tools.StorageTool random-uuid) 2>/dev/null | tail -n 1)}"
    (java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$data_dir/server.properties" "${scram[@]}") >/dev/null
  fi
  log "starting on 127.0.0.1:$port (data in $data_dir) ..."
  # a session of its own: a Ctrl-C at the terminal (SIGINT to the whole foreground group) must not stop the
  # broker under the services still using it; `stop` does, once they are gone (make run's trap)
  (detach=setsid java_run kafka.Kafka "$data_dir/server.properties") >"$data_dir/console.log" 2>&1 &
  echo $! >"$pid_file"
}

wait_ready() {
  local waited=0
  until answers && grep -q "Kafka Server started" "$data_dir/server.log" 2>/dev/null; do
    if ! running; then
      log "the broker exited while starting; last lines of $data_dir/console.log:"
      tail -n 20 "$data_dir/console.log" >&2
      exit 1
    fi
    if ((waited >= start_timeout)); then
      log "the broker did not answer within ${start_timeout}s; see $data_dir/server.log"
      stop
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "ready on 127.0.0.1:$port after ${waited}s"
}

start() {
  launch
  wait_ready
}

signal_node() {  # kill | pause | resume
  running || { log "not running"; return 1; }
  local pid
  pid="$(cat "$pid_file")"
  case "$1" in
    kill) kill -KILL "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; rm -f "$pid_file" ;;
    pause) kill -STOP "$pid" ;;
    resume) kill -CONT "$pid" ;;
  esac
  log "$1: pid $pid"
}

free_ports() {  # n free TCP ports on 127.0.0.1
  "${PYTHON:-python3}" - "$1" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
PY
}

# The environment a node of the cluster runs with (ports from $cluster_dir/ports).
node_env() {
  local i=$1 ports n
  read -r -a ports <"$cluster_dir/ports"
  n=$((${#ports[@]} / 2))
  local voters_list="" j
  for ((j = 1; j <= n; j++)); do
    voters_list+="${voters_list:+,}$j@127.0.0.1:${ports[$((2 * j - 1))]}"
  done
  echo "KAFKA_NODE_ID=$i KAFKA_PORT=${ports[$((2 * i - 2))]} KAFKA_CONTROLLER_PORT=${ports[$((2 * i - 1))]}" \
    "KAFKA_DATA_DIR=$cluster_dir/node-$i KAFKA_VOTERS=$voters_list KAFKA_REPLICATION=$((n >= 3 ? 3 : n))" \
    "KAFKA_CLUSTER_ID=$(cat "$cluster_dir/cluster-id") KAFKA_BROKER_SESSION_MS=${KAFKA_BROKER_SESSION_MS:-3000}"
}

cluster_start() {
  local n=${1:-3} i bootstrap=""
  fetch
  mkdir -p "$cluster_dir"
  [[ -f "$cluster_dir/ports" ]] || free_ports $((2 * n)) >"$cluster_dir/ports"
  [[ -f "$cluster_dir/cluster-id" ]] ||
    (java_run kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1) >"$cluster_dir/cluster-id"
  for ((i = 1; i <= n; i++)); do
    env $(node_env "$i") "$0" launch
  done
  for ((i = 1; i <= n; i++)); do
    env $(node_env "$i") "$0" wait
    bootstrap+="${bootstrap:+,}127.0.0.1:$(env $(node_env "$i") bash -c 'echo $KAFKA_PORT')"
  done
  echo "$bootstrap" >"$cluster_dir/bootstrap"
  log "cluster of $n ready: MP_KAFKA_BOOTSTRAP=$bootstrap (also in $cluster_dir/bootstrap)"
}

cluster_stop() {
  local n i
  [[ -f "$cluster_dir/ports" ]] || return 0
  read -r -a ports <"$cluster_dir/ports"
  n=$((${#ports[@]} / 2))
  # All at once: the last node left alone cannot finish a controlled shutdown without a quorum.
  for ((i = 1; i <= n; i++)); do
    env $(node_env "$i") "$0" stop &
  done
  wait
}

stop() {
  if ! running; then
    rm -f "$pid_file"
    return 0
  fi
  local pid waited=0
  pid="$(cat "$pid_file")"
  log "stopping (pid $pid) ..."
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= stop_timeout)); then
      log "did not stop within ${stop_timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$pid_file"
  log "stopped"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  launch) launch ;;
  wait) wait_ready ;;
  stop) stop ;;
  kill | pause | resume) signal_node "$1" ;;
  cluster-start) cluster_start "${2:-3}" ;;
  node) env $(node_env "$2") "$0" "$3" ;;
  cluster-stop) cluster_stop ;;
  status) if running; then echo "running on 127.0.0.1:$port (pid $(cat "$pid_file"))"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 fetch|start|stop|status|launch|wait|kill|pause|resume|cluster-start N|cluster-stop|node I COMMAND" >&2; exit 2 ;;
esac
