#!/bin/sh
# TLS for the Kafka brokers, made with the JDK's keytool (in every broker image, and wherever Kafka runs):
#
#   deploy/kafka/tls.sh DIR HOST[,HOST...]
#
# writes into DIR (once; an existing DIR/broker.p12 is kept):
#   ca.pem          the CA clients trust (MP_KAFKA_CA_FILE); its private key stays in ca.p12
#   broker.p12      the brokers' key and certificate (server and client use: the controller listener
#                   authenticates brokers by it), valid for every HOST (a name, or an IP address)
#   truststore.p12  the CA alone, for the brokers' own connections to each other
#   password        the password of the three keystores (KAFKA_TLS_PASSWORD, or random)
# Keep DIR out of version control: ca.p12 and password let anyone issue certificates the services trust.
# POSIX sh: the official broker image has no bash.
set -eu

dir="${1:?usage: tls.sh DIR HOST[,HOST...]}"
hosts="${2:?usage: tls.sh DIR HOST[,HOST...]}"
days="${KAFKA_TLS_DAYS:-825}"

if [ -f "$dir/broker.p12" ]; then
  exit 0
fi
mkdir -p "$dir"
umask 077
password="${KAFKA_TLS_PASSWORD:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}"
printf '%s' "$password" >"$dir/password"

san=""
old_ifs="$IFS"
IFS=,
for host in $hosts; do
  case "$host" in
    *[!0-9.]*) entry="dns:$host" ;;
    *) entry="ip:$host" ;;
  esac
  san="${san:+$san,}$entry"
done
IFS="$old_ifs"

store() { keytool -storetype PKCS12 -storepass "$password" -keypass "$password" "$@" >/dev/null 2>&1; }

store -genkeypair -alias ca -keyalg RSA -keysize 3072 -validity "$days" -dname "CN=Mission Pulse Kafka CA" \
  -ext bc:c -keystore "$dir/ca.p12"
store -exportcert -rfc -alias ca -keystore "$dir/ca.p12" -file "$dir/ca.pem"
store -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity "$days" -dname "CN=mission-pulse-kafka" \
  -keystore "$dir/broker.p12"
store -certreq -alias broker -keystore "$dir/broker.p12" -file "$dir/broker.csr"
store -gencert -alias ca -keystore "$dir/ca.p12" -infile "$dir/broker.csr" -outfile "$dir/broker.pem" -rfc \
  -validity "$days" -ext "SAN=$san" -ext EKU=serverAuth,clientAuth -ext KU=digitalSignature,keyEncipherment
store -importcert -noprompt -alias ca -file "$dir/ca.pem" -keystore "$dir/broker.p12"
store -importcert -noprompt -alias broker -file "$dir/broker.pem" -keystore "$dir/broker.p12"
store -importcert -noprompt -alias ca -file "$dir/ca.pem" -keystore "$dir/truststore.p12"
rm -f "$dir/broker.csr"
chmod 644 "$dir/ca.pem"  # public: every service reads it
echo "[kafka-tls] CA and broker certificate for $hosts in $dir" >&2
