#!/bin/sh
# The `secure` compose profile's certificates and secrets (docs/security.md):
#   scripts/kafka-secure-setup.sh [FOLDER]          (default: ./secrets)
# makes a certificate authority, the broker's certificate (signed by it, named kafka-secure and
# localhost) and random SCRAM passwords, as files for compose's `secrets:`. Existing files are
# kept: run it again to fill in what is missing; delete the folder to start over.
set -eu
folder=${1:-secrets}
mkdir -p "$folder"
cd "$folder"
umask 077

password() {
    [ -s "$1" ] || openssl rand -hex 24 >"$1"
}
password kafka-admin-password
password kafka-weather-password

if [ ! -s kafka-ca.pem ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -sha256 \
        -keyout kafka-ca.key -out kafka-ca.pem -subj "/CN=weather-kafka-ca" 2>/dev/null
fi
if [ ! -s kafka-broker.pem ]; then
    openssl req -newkey rsa:3072 -nodes -sha256 -subj "/CN=kafka-secure" \
        -keyout kafka-broker.key -out kafka-broker.csr 2>/dev/null
    printf 'subjectAltName=DNS:kafka-secure,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
        >kafka-broker.ext
    openssl x509 -req -in kafka-broker.csr -CA kafka-ca.pem -CAkey kafka-ca.key \
        -CAcreateserial -days 825 -sha256 -extfile kafka-broker.ext -out kafka-broker.pem 2>/dev/null
    # Kafka's PEM keystore: the unencrypted PKCS#8 key, then the certificate chain
    openssl pkcs8 -topk8 -nocrypt -in kafka-broker.key -out kafka-broker-keystore.pem
    cat kafka-broker.pem kafka-ca.pem >>kafka-broker-keystore.pem
    rm -f kafka-broker.csr kafka-broker.ext
fi
chmod 644 kafka-ca.pem kafka-broker.pem
# the containers run as other users than the one running this script
chmod 644 kafka-broker-keystore.pem kafka-admin-password kafka-weather-password
echo "secrets in $(pwd): kafka-ca.pem, kafka-broker-keystore.pem, kafka-*-password"
