#!/usr/bin/env bash
# kafka.sh runs Apache Kafka's own command-line tools against the broker started by
# hack/services.sh, with the jars it cached. Examples:
#
#   hack/kafka.sh topics --list
#   hack/kafka.sh topics --create --topic demo --partitions 3
#   echo hello | hack/kafka.sh console-producer --topic demo
#   hack/kafka.sh console-consumer --topic demo --from-beginning --max-messages 1
#   hack/kafka.sh consumer-groups --list
#
# --bootstrap-server is added for you (KOMMERCE_KAFKA_PORT, default 59092).
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${KOMMERCE_CACHE_DIR:-$HOME/.cache/kommerce}
version=$(sed -nE 's#.*<kafka.version>([^<]+)</kafka.version>.*#\1#p' "$HACK/tools/kafka/pom.xml")
libs=$CACHE/kafka/$version/libs
[[ -f $libs/.complete ]] || { echo "kafka.sh: run hack/services.sh up kafka first" >&2; exit 1; }
tool=${1:-}
shift || true
case $tool in
topics) class=org.apache.kafka.tools.TopicCommand ;;
console-producer) class=org.apache.kafka.tools.ConsoleProducer ;;
console-consumer) class=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
consumer-groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
*) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
exec java -Xmx256m -Dlog4j2.configurationFile="$HACK/tools/kafka/log4j2-tools.properties" \
	-cp "$libs/*" "$class" --bootstrap-server "127.0.0.1:${KOMMERCE_KAFKA_PORT:-59092}" "$@"
