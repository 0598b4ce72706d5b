"""docker-compose.yml checked statically (no Docker engine here): it must run the real product."""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support import BIN, REPO, command_env
from weather_app.kafka.clients import Brokers, tls_failure
from weather_app.settings import _ENVIRONMENT, KafkaSecurity, Settings

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES: dict = COMPOSE["services"]
THREE_BROKERS = dict(
    line.split("=", 1)
    for line in (REPO / "three-brokers.env").read_text().splitlines()
    if line and not line.startswith("#")
)
SETTINGS_NAMES = set(_ENVIRONMENT) | {"WEATHER_DELAY_SEC"}
SPARK_NAMES = {"SPARK_MASTER", "SPARK_PACKAGES", "SPARK_REMOTE"}  # read by spark/session.py
_VARIABLE = re.compile(r"\$\{(\w+):-([^}]*)\}")


def resolve(value: object, env: dict[str, str]) -> str:
    """Compose's ${NAME:-default} substitution."""
    return _VARIABLE.sub(lambda m: env.get(m.group(1), m.group(2)), str(value))


def argv(service: dict) -> list[str]:
    entrypoint = service.get("entrypoint") or []
    return [*entrypoint, *service.get("command", [])]


def app_services() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("weather-app")}


def kafka_services(profile: str | None) -> dict[str, dict]:
    return {
        name: s
        for name, s in SERVICES.items()
        if s["image"].startswith("apache/kafka")
        and (not s.get("profiles") or profile in s["profiles"])
    }


@pytest.mark.parametrize("name", sorted(app_services()))
def test_every_app_command_is_a_real_cli_of_the_project(name):
    args = argv(SERVICES[name])
    if args[:3] == ["faust", "-A", "weather_app"]:
        command = [str(BIN / "faust"), *args[1:4], "--help"]
        flags = [a for a in args[4:] if a.startswith("-")]
    else:
        assert args[:2] == ["python", "-m"], args
        command = [sys.executable, "-m", args[2], "--help"]
        flags = [a for a in args[3:] if a.startswith("-")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=command_env())
    assert result.returncode == 0, result.stderr
    for flag in flags:
        assert flag in result.stdout, f"{name}: {flag} is not an option of {args}"


def test_environment_names_match_the_settings():
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            if variable.startswith(("WEATHER_", "KAFKA_BROKER")) or variable in SPARK_NAMES:
                assert variable in SETTINGS_NAMES | SPARK_NAMES, f"{name}: unknown {variable}"
    session = (REPO / "spark" / "session.py").read_text()
    assert all(f'"{variable}"' in session for variable in SPARK_NAMES)
    assert set(THREE_BROKERS) - {"KAFKA_QUORUM_VOTERS", "KAFKA_MIN_INSYNC_REPLICAS"} <= (
        SETTINGS_NAMES
    )


@pytest.mark.parametrize(
    ("profile", "env", "brokers", "min_isr"),
    [(None, {}, 1, 1), ("three-brokers", THREE_BROKERS, 3, 2)],
)
def test_replication_matches_the_broker_count(profile, env, brokers, min_isr):
    kafkas = kafka_services(profile)
    assert len(kafkas) == brokers
    voters = set()
    for service in kafkas.values():
        quorum = resolve(service["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"], env)
        node = resolve(service["environment"]["KAFKA_NODE_ID"], env)
        assert f"{node}@{service['hostname']}:9093" in quorum.split(",")
        kafka_env = {k: resolve(v, env) for k, v in service["environment"].items()}
        for setting in (
            "DEFAULT_REPLICATION_FACTOR",
            "OFFSETS_TOPIC_REPLICATION_FACTOR",
            "TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        ):
            assert kafka_env[f"KAFKA_{setting}"] == str(brokers)
        assert kafka_env["KAFKA_MIN_INSYNC_REPLICAS"] == str(min_isr)
        assert kafka_env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == str(min_isr)
        voters.add(quorum)
    assert len(voters) == 1 and len(voters.pop().split(",")) == brokers
    for service in app_services().values():
        if service in SECURE_APPS.values():  # its own broker: test_secure_profile_*
            continue
        app_env = {k: resolve(v, env) for k, v in service["environment"].items()}
        assert app_env["WEATHER_REPLICATION_FACTOR"] == str(brokers)
        assert len(app_env["KAFKA_BROKER"].split(",")) == brokers


def test_images_are_pinned_and_spark_versions_agree():
    for name, service in SERVICES.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", image), f"{name}: {image} is not pinned"
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pyspark = next(
        re.search(r"==([\d.]+)", d).group(1)
        for d in dependencies["optional-dependencies"]["spark"]
        if d.startswith("pyspark")
    )
    assert not [s for s in SERVICES.values() if s["image"].startswith("apache/spark")]
    assert SERVICES["spark-job"]["environment"]["SPARK_PACKAGES"].endswith(f":{pyspark}")
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim\S* AS spark-node$", dockerfile, re.M)
    assert re.search(r"^FROM spark-node$", dockerfile, re.M)  # the app: the same Spark
    assert "openjdk-17" in dockerfile and '".[spark]"' in dockerfile


def spark_nodes() -> dict[str, dict]:
    return {name: s for name, s in SERVICES.items() if s["image"].startswith("weather-spark-node")}


def test_the_spark_cluster_runs_the_installed_pyspark_without_the_project():
    """As the cluster fixture (tests/spark/cluster.py): spark-class from pyspark, on machines
    with the jobs' dependencies but not the project, which each job ships itself."""
    nodes = spark_nodes()
    assert set(nodes) == {"spark-master", "spark-worker"}
    assert {s["image"] for s in nodes.values()} == {"weather-spark-node:0.1.0"}
    for node in nodes.values():
        assert node["build"] == {"context": ".", "target": "spark-node"}
    master, worker = argv(nodes["spark-master"]), argv(nodes["spark-worker"])
    assert master[:2] == ["spark-class", "org.apache.spark.deploy.master.Master"]
    assert worker[:2] == ["spark-class", "org.apache.spark.deploy.worker.Worker"]
    port = master[master.index("--port") + 1]
    url = f"spark://{master[master.index('--host') + 1]}:{port}"
    assert worker[2] == url == SERVICES["spark-job"]["environment"]["SPARK_MASTER"]
    ui_port = master[master.index("--webui-port") + 1]
    assert f"127.0.0.1:{ui_port}/json/" in " ".join(nodes["spark-master"]["healthcheck"]["test"])
    assert SERVICES["spark-job"]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    stage = (REPO / "Dockerfile").read_text().split("FROM spark-node")[0]
    assert re.search(r"pip install [^\n]*\[spark\]", stage)
    assert "pip uninstall --yes weather-app" in stage  # the dependencies only
    for name, service in SERVICES.items():
        assert "PYTHONPATH" not in service.get("environment", {}), name
    assert "--source" not in argv(SERVICES["spark-job"])  # the Python source, shipped
    data = SERVICES["spark-job"]["environment"]["WEATHER_DATA_DIR"]
    assert f"weather-data:{data}" in nodes["spark-worker"]["volumes"]  # executors write there


def test_services_start_in_order_without_sleeps():
    for name, service in SERVICES.items():
        assert "sleep" not in " ".join(map(str, argv(service))), name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if dependency in kafka_services(None):
                assert condition["condition"] == "service_healthy", name
    for name in kafka_services("three-brokers"):
        assert "healthcheck" in SERVICES[name]
    assert SERVICES["worker"]["depends_on"]["topics"]["condition"] == (
        "service_completed_successfully"
    )


def test_worker_and_dashboard_have_health_checks_on_their_own_ports():
    worker, dashboard = SERVICES["worker"], SERVICES["dashboard"]
    metrics_port = worker["environment"]["WEATHER_METRICS_PORT"]
    assert worker["environment"]["WEATHER_METRICS_HOST"] == "0.0.0.0"
    assert f"127.0.0.1:{metrics_port}/metrics" in " ".join(worker["healthcheck"]["test"])
    command = dashboard["command"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert f"127.0.0.1:{port}/healthz" in " ".join(dashboard["healthcheck"]["test"])
    assert dashboard["ports"] == [f"127.0.0.1:{port}:{port}"]  # published on loopback only
    for service in (worker, dashboard):
        assert service["healthcheck"]["start_period"]


def test_scaled_workers_share_snapshots_but_not_their_state():
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N
    assert "weather-data:/data" in worker["volumes"]
    assert not worker["environment"]["WEATHER_STATE_DIR"].startswith("/data")


# -- the `secure` profile ----------------------------------------------------------------------

SECURE_APPS = {name: service for name, service in app_services().items() if "-secure" in name}
START_SCRIPT = (REPO / "scripts" / "kafka-secure-start.sh").read_text()
SECRETS_DIR = "/run/secrets/"


@pytest.fixture(scope="module")
def made_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("secrets")
    subprocess.run(
        ["sh", str(REPO / "scripts" / "kafka-secure-setup.sh"), str(folder)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return folder


def test_secure_profile_runs_the_pipeline_against_its_own_broker():
    assert set(SECURE_APPS) == {
        "topics-secure",
        "worker-secure",
        "producer-secure",
        "dashboard-secure",
        "spark-job-secure",
    }
    assert {name.removesuffix("-secure") for name in SECURE_APPS} >= {
        name
        for name, service in app_services().items()
        if name != "plots" and "-secure" not in name
    }  # every app service that reads Kafka (plot reads the snapshot files only)
    for name, service in SECURE_APPS.items():
        plain = SERVICES[name.removesuffix("-secure")]
        assert argv(service) == argv(plain), name
        assert service["volumes"] == ["weather-secure-data:/data"], name
    job = SECURE_APPS["spark-job-secure"]
    assert "SPARK_MASTER" not in job["environment"]  # local[*]: the secrets are in this container
    assert (
        job["environment"]["SPARK_PACKAGES"]
        == SERVICES["spark-job"]["environment"]["SPARK_PACKAGES"]
    )
    assert job["profiles"] == ["secure-jobs"]  # run on demand, as spark-job is
    kafka = SERVICES["kafka-secure"]
    assert kafka["profiles"] == ["secure"] and kafka["image"] == SERVICES["kafka"]["image"]
    assert SERVICES["topics-secure"]["depends_on"] == {
        "kafka-secure": {"condition": "service_healthy"}
    }
    assert "--command-config /tmp/admin-client.properties" in kafka["healthcheck"]["test"][1]
    mounted = {volume.split(":")[0] for volume in kafka["volumes"]}
    assert "./scripts/kafka-secure-start.sh" in mounted
    assert kafka["entrypoint"][-1] == "/opt/weather/kafka-secure-start.sh"


def test_secure_broker_listens_only_on_sasl_ssl_with_scram_and_creates_the_users():
    properties = dict(
        line.split("=", 1)
        for line in START_SCRIPT.split("<<PROPERTIES")[1].split("PROPERTIES")[0].splitlines()
        if "=" in line
    )
    assert properties["listeners"] == "SASL_SSL://:9094,CONTROLLER://:9093"
    assert properties["advertised.listeners"] == "SASL_SSL://kafka-secure:9094"
    assert properties["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert properties["inter.broker.listener.name"] == "SASL_SSL"
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert properties["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert properties["ssl.keystore.location"] == "$secrets/kafka-broker-keystore.pem"
    assert properties["ssl.truststore.location"] == "$secrets/kafka-ca.pem"
    user = SECURE_APPS["worker-secure"]["environment"]["KAFKA_SASL_USERNAME"]
    # KRaft takes SCRAM users when the storage is formatted: both, from the secret files
    assert f'--add-scram "SCRAM-SHA-512=[name={user},password=$weather_password]"' in START_SCRIPT
    assert '--add-scram "SCRAM-SHA-512=[name=admin,password=$admin_password]"' in START_SCRIPT
    assert 'weather_password=$(cat "$secrets/kafka-weather-password")' in START_SCRIPT
    kafka_secrets = set(SERVICES["kafka-secure"]["secrets"])
    assert {"kafka-weather-password", "kafka-ca.pem", "kafka-broker-keystore.pem"} <= kafka_secrets


def test_secure_apps_get_every_secret_as_a_file(made_secrets: Path):
    declared = COMPOSE["secrets"]
    for name, service in SECURE_APPS.items():
        env = service["environment"]
        assert "KAFKA_SASL_PASSWORD" not in env, name  # a file, never a variable
        assert env["KAFKA_BROKER"] == "kafka-secure:9094"
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
        files = {}
        for variable in ("KAFKA_SASL_PASSWORD_FILE", "KAFKA_SSL_CAFILE"):
            secret = env[variable].removeprefix(SECRETS_DIR)
            assert env[variable] == SECRETS_DIR + secret and secret in service["secrets"], name
            source = declared[secret]["file"]
            assert source.startswith("./secrets/"), source
            files[variable] = str(made_secrets / Path(source).name)
        # the environment the container sees, with its secrets where the script made them
        settings = Settings.from_env({**env, **files})
        security = settings.kafka_security
        assert (security.protocol, security.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
        assert (
            security.sasl_password == (made_secrets / "kafka-weather-password").read_text().strip()
        )
        assert security.ssl_check_hostname  # the broker's certificate names kafka-secure
    for variables in [s.get("environment", {}) for s in SERVICES.values()]:
        assert "KAFKA_SASL_PASSWORD" not in variables
    assert "/secrets/" in (REPO / ".gitignore").read_text().splitlines()


def test_the_setup_script_makes_a_broker_certificate_the_apps_trust(made_secrets: Path):
    ca, keystore = made_secrets / "kafka-ca.pem", made_secrets / "kafka-broker-keystore.pem"
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(made_secrets / "kafka-broker.pem")],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stderr
    names = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(keystore)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNS:kafka-secure" in names
    assert keystore.read_text().startswith("-----BEGIN PRIVATE KEY-----")  # Kafka's PEM keystore
    # a TLS listener with the broker's keystore passes the apps' own handshake check
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(keystore)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted = threading.Thread(target=_handshake_once, args=(listener, server), daemon=True)
    accepted.start()
    try:
        security = KafkaSecurity("SSL", ssl_cafile=ca)
        assert tls_failure(Brokers(f"localhost:{port}", security), 10) is None
    finally:
        accepted.join(10)
        listener.close()
    assert not accepted.is_alive()
    kept = {path.name: path.read_bytes() for path in made_secrets.iterdir()}
    subprocess.run(  # run again: what exists is kept (a restart keeps its users and CA)
        ["sh", str(REPO / "scripts" / "kafka-secure-setup.sh"), str(made_secrets)],
        capture_output=True,
        check=True,
    )
    assert {path.name: path.read_bytes() for path in made_secrets.iterdir()} == kept


def _handshake_once(listener: socket.socket, context: ssl.SSLContext) -> None:
    listener.settimeout(10)
    connection, _ = listener.accept()
    with contextlib.suppress(OSError), connection:
        connection.settimeout(10)
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(1)


def test_the_app_image_copies_every_package_the_project_installs():
    """The compose services run `plot`, the worker and the Spark jobs from the app image: a
    package the project installs but the image lacks fails only at run time (plots did)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    app_stage = (REPO / "Dockerfile").read_text().split("FROM spark-node\n")[1]
    copied = set(re.findall(r"^COPY (\S+) \./\1$", app_stage, re.M))
    assert sorted(packages) == ["plots", "spark", "weather_app"]
    assert set(packages) <= copied, f"the app image lacks {set(packages) - copied}"
