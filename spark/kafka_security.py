"""The product's Kafka security as Spark source options, the same for both sources.

Spark's connector takes the Java client's settings with a ``kafka.`` prefix; our Python source
(:mod:`spark.kafka_source`) takes the same names, so a job switches sources with one word:

* ``kafka.security.protocol``: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL;
* ``kafka.sasl.mechanism``: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512;
* ``kafka.sasl.jaas.config``: the login module with ``username="..." password="..."``;
* ``kafka.ssl.truststore.type`` ``PEM`` and ``kafka.ssl.truststore.location``: the CA file;
* ``kafka.ssl.endpoint.identification.algorithm``: ``https`` (check the host name) or empty;
* Python source only, for mutual TLS: ``kafka.ssl.certificate.location`` and
  ``kafka.ssl.key.location`` (PEM files; Spark's connector would need the key inline, where
  Spark's redaction does not reach, so mutual TLS is refused for it).

The password travels inside ``kafka.sasl.jaas.config``, whose value Spark redacts in plans,
``explain`` and the UI (``spark.redaction.regex`` matches ``password`` in a key or a value):
executors get it with the options, and no printed plan shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from weather_app.settings import SASL_MECHANISMS, SECURITY_PROTOCOLS, KafkaSecurity, SettingsError

PROTOCOL = "kafka.security.protocol"
MECHANISM = "kafka.sasl.mechanism"
JAAS = "kafka.sasl.jaas.config"
TRUSTSTORE_TYPE = "kafka.ssl.truststore.type"
TRUSTSTORE = "kafka.ssl.truststore.location"
HOSTNAME_CHECK = "kafka.ssl.endpoint.identification.algorithm"
CERTIFICATE = "kafka.ssl.certificate.location"
KEY = "kafka.ssl.key.location"
#: the options :func:`parse_security` reads (the Python source accepts them)
SECURITY_OPTIONS = (PROTOCOL, MECHANISM, JAAS, TRUSTSTORE_TYPE, TRUSTSTORE, HOSTNAME_CHECK)
SECURITY_OPTIONS_PYTHON = (*SECURITY_OPTIONS, CERTIFICATE, KEY)

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
_JAAS_VALUE = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def security_options(security: KafkaSecurity, source: str) -> dict[str, str]:
    """The source options for ``security`` (``source``: ``python`` or ``kafka``)."""
    options = {PROTOCOL: security.protocol}
    if security.sasl:
        options[MECHANISM] = security.sasl_mechanism
        options[JAAS] = jaas_config(security)
    if security.tls:
        options[HOSTNAME_CHECK] = "https" if security.ssl_check_hostname else ""
        if security.ssl_cafile is not None:
            options[TRUSTSTORE_TYPE] = "PEM"
            options[TRUSTSTORE] = str(security.ssl_cafile)
        if security.ssl_certfile is not None:
            if source != "python":
                raise SettingsError(
                    "KAFKA_SSL_CERTFILE (mutual TLS) is not passed to Spark's own connector: "
                    "use --source python"
                )
            options[CERTIFICATE] = str(security.ssl_certfile)
            options[KEY] = str(security.ssl_keyfile)
    return options


def jaas_config(security: KafkaSecurity) -> str:
    """The Java client's ``sasl.jaas.config`` for the settings' mechanism and credentials."""
    return (
        f"{_LOGIN_MODULES[security.sasl_mechanism]} required "
        f'username="{_quote(security.sasl_username or "")}" '
        f'password="{_quote(security.sasl_password or "")}";'
    )


def parse_security(get: Callable[[str], str | None]) -> KafkaSecurity:
    """The security the options describe; a mistake is a ValueError naming the option (and
    never showing the JAAS config, which holds the password)."""
    protocol = (get(PROTOCOL) or "PLAINTEXT").strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"option {PROTOCOL} must be one of {', '.join(SECURITY_PROTOCOLS)}, got {protocol!r}"
        )
    mechanism = (get(MECHANISM) or "PLAIN").strip().upper()
    if mechanism not in SASL_MECHANISMS:
        raise ValueError(
            f"option {MECHANISM} must be one of {', '.join(SASL_MECHANISMS)}, got {mechanism!r}"
        )
    username = password = None
    if protocol.startswith("SASL_"):
        values = dict(_JAAS_VALUE.findall(get(JAAS) or ""))
        if "username" not in values or "password" not in values:
            raise ValueError(
                f"option {JAAS} is required with {PROTOCOL} {protocol}: a login module with "
                'username="..." password="..."'
            )
        username, password = _unquote(values["username"]), _unquote(values["password"])
    truststore_type = (get(TRUSTSTORE_TYPE) or "PEM").strip().upper()
    if truststore_type != "PEM":
        raise ValueError(f"option {TRUSTSTORE_TYPE} must be PEM, got {truststore_type!r}")
    raw_check = get(HOSTNAME_CHECK)
    check = "https" if raw_check is None else raw_check.strip().lower()
    if check not in ("https", ""):
        raise ValueError(f"option {HOSTNAME_CHECK} must be https or empty, got {raw_check!r}")
    return KafkaSecurity(
        protocol=protocol,
        sasl_mechanism=mechanism,
        sasl_username=username,
        sasl_password=password,
        ssl_cafile=_path(get(TRUSTSTORE)),
        ssl_certfile=_path(get(CERTIFICATE)),
        ssl_keyfile=_path(get(KEY)),
        ssl_check_hostname=check == "https",
    )


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def _path(value: str | None) -> Path | None:
    return Path(value.strip()) if value and value.strip() else None
