#!/usr/bin/env bash
# Run a command beside a throwaway single-node Kafka on free ports, and stop the broker whatever the
# command does (success, failure, Ctrl-C). The command sees MP_KAFKA_BOOTSTRAP and KAFKA_PORT.
#   deploy/kafka/with-broker.sh pytest -q
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

read -r KAFKA_PORT KAFKA_CONTROLLER_PORT < <("$python" - <<'PY'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
PY
)
KAFKA_DATA_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mission-pulse-kafka.XXXXXX")"
export KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_DATA_DIR
export MP_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

cleanup() {
  "$here/kafka.sh" stop || true
  rm -rf "$KAFKA_DATA_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$here/kafka.sh" start
"$@"
