#!/bin/sh
# A Kafka broker (KRaft, broker and controller in one process) that talks only TLS: the entrypoint of the
# official apache/kafka image in deploy/compose.yaml and deploy/k8s/kafka.yaml.
#   - clients and the other brokers: SASL_SSL with SCRAM-SHA-512 on KAFKA_CLIENT_PORT (9092);
#   - the controllers' quorum: TLS with client certificates (mutual TLS) on KAFKA_CONTROLLER_PORT (9093).
# There is no PLAINTEXT listener. The SCRAM users (KAFKA_SASL_USERNAME for the services, "broker" for
# the brokers) are written when the storage is formatted, on every node, as KRaft requires.
#
# Environment (the two passwords have no default: without them the broker does not start):
#   KAFKA_SASL_PASSWORD      the services' SCRAM password (MP_KAFKA_PASSWORD on their side)
#   KAFKA_BROKER_PASSWORD    the brokers' own SCRAM password
#   KAFKA_SASL_USERNAME      the services' SCRAM user (mission-pulse)
#   KAFKA_TLS_DIR            what deploy/kafka/tls.sh made: broker.p12, truststore.p12, password
#                            (/var/lib/kafka/tls)
#   KAFKA_NODE_ID            this node's id (the ordinal of a StatefulSet pod's name, else 1)
#   KAFKA_ADVERTISED_HOST    the name clients reach this node by, covered by the certificate (hostname)
#   KAFKA_CONTROLLER_QUORUM_VOTERS  id@host:port,... (this node alone)
#   KAFKA_CLUSTER_ID         the same on every node (required with more than one voter)
#   KAFKA_DATA_DIR (/var/lib/kafka/data), KAFKA_HOME (/opt/kafka), KAFKA_REPLICATION (1: topics' and
#   internal topics' replication; min.insync.replicas 2 from 3 on), KAFKA_PARTITIONS (8)
# POSIX sh: the official image has no bash.
set -eu

fail() { echo "[kafka] $*" >&2; exit 64; }

home="${KAFKA_HOME:-/opt/kafka}"
data="${KAFKA_DATA_DIR:-/var/lib/kafka/data}"
tls="${KAFKA_TLS_DIR:-/var/lib/kafka/tls}"
user="${KAFKA_SASL_USERNAME:-mission-pulse}"
password="${KAFKA_SASL_PASSWORD:-}"
broker_password="${KAFKA_BROKER_PASSWORD:-}"
client_port="${KAFKA_CLIENT_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-9093}"
host="${KAFKA_ADVERTISED_HOST:-$(hostname)}"
replication="${KAFKA_REPLICATION:-1}"
partitions="${KAFKA_PARTITIONS:-8}"

ordinal="${HOSTNAME:-}"
ordinal="${ordinal##*-}"
case "$ordinal" in
  '' | *[!0-9]*) ordinal=1 ;;
esac
node_id="${KAFKA_NODE_ID:-$ordinal}"
voters="${KAFKA_CONTROLLER_QUORUM_VOTERS:-$node_id@$host:$controller_port}"
min_isr=1
[ "$replication" -ge 3 ] && min_isr=2

[ -n "$password" ] || fail "KAFKA_SASL_PASSWORD is not set: the broker takes no client without a password"
[ -n "$broker_password" ] || fail "KAFKA_BROKER_PASSWORD is not set: the brokers authenticate each other"
for secret in "$password" "$broker_password" "$user"; do
  case "$secret" in
    *[!A-Za-z0-9._~+/=-]*) fail "SCRAM users and passwords may hold only letters, digits and ._~+/=-" ;;
  esac
done
for file in broker.p12 truststore.p12 password; do
  [ -r "$tls/$file" ] || fail "$tls/$file is missing: make it with deploy/kafka/tls.sh (docs/deploy.md)"
done
case "$voters" in
  *,*) [ -n "${KAFKA_CLUSTER_ID:-}" ] || fail "KAFKA_CLUSTER_ID must be set, the same on every node" ;;
esac
store_password="$(cat "$tls/password")"
scram="org.apache.kafka.common.security.scram.ScramLoginModule required"

umask 077
mkdir -p "$data/log"
cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=SASL_SSL://:$client_port,CONTROLLER://:$controller_port
advertised.listeners=SASL_SSL://$host:$client_port
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram username="broker" password="$broker_password";
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$store_password
ssl.key.password=$store_password
ssl.truststore.type=PKCS12
ssl.truststore.location=$tls/truststore.p12
ssl.truststore.password=$store_password
log.dirs=$data/log
num.partitions=$partitions
default.replication.factor=$replication
min.insync.replicas=$min_isr
offsets.topic.replication.factor=$replication
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_isr
group.initial.rebalance.delay.ms=0
PROPS
# what the healthcheck (and an operator's kafka-*.sh tools) connect with
cat >"$data/client.properties" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$scram username="broker" password="$broker_password";
ssl.truststore.type=PKCS12
ssl.truststore.location=$tls/truststore.p12
ssl.truststore.password=$store_password
PROPS

if [ ! -f "$data/log/meta.properties" ]; then
  cluster_id="${KAFKA_CLUSTER_ID:-$("$home/bin/kafka-storage.sh" random-uuid | tail -n 1)}"
  "$home/bin/kafka-storage.sh" format -t "$cluster_id" -c "$data/server.properties" \
    --add-scram "SCRAM-SHA-512=[name=$user,password=$password]" \
    --add-scram "SCRAM-SHA-512=[name=broker,password=$broker_password]" >/dev/null
  echo "[kafka] storage formatted (cluster $cluster_id) with the SCRAM users $user and broker" >&2
fi
echo "[kafka] node $node_id: SASL_SSL on $host:$client_port, controllers over mutual TLS on $controller_port" >&2
exec "$home/bin/kafka-server-start.sh" "$data/server.properties"
