#!/bin/bash
# Starts the `secure` profile's Apache Kafka (KRaft, one node): a SASL_SSL listener with
# SCRAM-SHA-512 for clients and between brokers, users created when the storage is formatted
# (KRaft takes SCRAM users only then), passwords read from compose secrets, never from the
# environment or the command line of a long-running process.
set -euo pipefail
secrets=/run/secrets
admin_password=$(cat "$secrets/kafka-admin-password")
weather_password=$(cat "$secrets/kafka-weather-password")
config=/tmp/server.properties
jaas="org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"$admin_password\";"
umask 077
cat >"$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@kafka-secure:9093
listeners=SASL_SSL://:9094,CONTROLLER://:9093
advertised.listeners=SASL_SSL://kafka-secure:9094
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$jaas
ssl.keystore.type=PEM
ssl.keystore.location=$secrets/kafka-broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/kafka-ca.pem
ssl.client.auth=none
log.dirs=/var/lib/kafka/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPERTIES
# what the health check's admin client uses
cat >/tmp/admin-client.properties <<PROPERTIES
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=$jaas
ssl.truststore.type=PEM
ssl.truststore.location=$secrets/kafka-ca.pem
PROPERTIES
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
    /opt/kafka/bin/kafka-storage.sh format --config "$config" \
        --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]" \
        --add-scram "SCRAM-SHA-512=[name=weather,password=$weather_password]" >/dev/null
fi
unset admin_password weather_password jaas
exec /opt/kafka/bin/kafka-server-start.sh "$config"
