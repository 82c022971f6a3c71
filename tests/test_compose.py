"""The full stack's docker-compose.yml, image and broker config, checked without Docker.

There is no Docker engine here, so docker-compose 1.29's ``config`` validates
and interpolates the compose file offline, and the real Mosquitto runs the
shipped broker config: the password file that deploy/mosquitto/entrypoint.sh
writes, and the ACL. On CI (CI=true) a missing docker-compose or Mosquitto
fails the run; elsewhere those tests skip and say what to install.
"""

from __future__ import annotations

import grp
import os
import pwd
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from prometheus_client import start_http_server
from servers.mosquitto import free_port, mosquitto_binary, wait_for_port

from campuslab.ingest.metrics import IngestMetrics

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DEPLOY = ROOT / "deploy" / "mosquitto"
ON_CI = os.environ.get("CI") == "true"

CAMPUSLAB_SERVICES = {"simulator", "ingest-1", "ingest-2", "api", "analytics"}
SERVICES = {"mosquitto", "influxdb", "grafana"} | CAMPUSLAB_SERVICES
INGESTORS = ("ingest-1", "ingest-2")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|_KEY$")


def require(available: bool, what: str, install: str) -> None:
    """Fail on CI, skip elsewhere, when a tool the test needs is missing."""
    if available:
        return
    message = f"{what} is not installed ({install})"
    if ON_CI:
        pytest.fail(f"{message}. On CI a missing tool is a failure, not a skip.")
    pytest.skip(message)  # not on CI (see above)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def compose_env() -> dict[str, str]:
    """This process's environment without the stack's variables: only the env file counts."""
    return {k: v for k, v in os.environ.items() if k not in env_example()}


def docker_compose(env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    require(binary is not None, "docker-compose", "apt-get install docker-compose")
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config"],
        cwd=ROOT,
        env=compose_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    """The compose file as docker-compose 1.29 resolves it with .env.example."""
    result = docker_compose(ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def services(config: dict) -> dict[str, dict]:
    return config["services"]


# -- the compose file ----------------------------------------------------------
def test_compose_file_has_every_service_of_the_stack(config):
    assert set(services(config)) == SERVICES


def test_campuslab_services_run_one_image_built_from_the_repository(config):
    for name in CAMPUSLAB_SERVICES:
        service = services(config)[name]
        assert service["image"] == "campuslab:latest", name
        assert Path(service["build"]["context"]) == ROOT, name
    assert services(config)["mosquitto"]["image"] == "eclipse-mosquitto:2"
    assert services(config)["influxdb"]["image"].startswith("influxdb:2.7")


def test_each_service_runs_its_campuslab_command(config):
    def command(name: str) -> str:
        return " ".join(services(config)[name]["command"])

    assert command("api") == "api --host 0.0.0.0 --port 8000"
    assert command("analytics") == "analytics run --every 15m --days 8"
    assert command("simulator") == (
        "simulate --mqtt-url mqtt://mosquitto:1883 --format senml --backfill 7d --then-live"
    )


def test_two_ingestors_share_the_load_with_their_own_client_id_and_spool(config):
    client_ids = set()
    spools = set()
    for name in INGESTORS:
        service = services(config)[name]
        command = service["command"]
        assert command[0] == "ingest"
        assert " --share-group campuslab" in " ".join(command)
        assert command[command.index("--mqtt-url") + 1] == "mqtt://mosquitto:1883"
        client_ids.add(command[command.index("--client-id") + 1])
        assert service["environment"]["CAMPUSLAB_SPOOL_DIR"] == "/spool"
        (spool,) = [v.split(":")[0] for v in service["volumes"] if v.split(":")[1] == "/spool"]
        spools.add(spool)
    assert len(client_ids) == len(INGESTORS), "each ingestor needs its own persistent session"
    assert len(spools) == len(INGESTORS), "each ingestor needs its own spool volume"


def test_every_long_running_service_that_can_say_so_has_a_healthcheck(config):
    for name in ("mosquitto", "influxdb", "grafana", "api", *INGESTORS):
        test = services(config)[name].get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    assert "/api/v1/health" in " ".join(services(config)["api"]["healthcheck"]["test"])
    assert "/api/health" in " ".join(services(config)["grafana"]["healthcheck"]["test"])


def test_the_ingestor_healthcheck_turns_healthy_once_its_metrics_say_connected(config):
    ingest = services(config)["ingest-1"]
    metrics_port = ingest["environment"]["CAMPUSLAB_METRICS_PORT"]
    kind, python, flag, snippet = ingest["healthcheck"]["test"]
    assert (kind, python, flag) == ("CMD", "python", "-c")
    assert f"127.0.0.1:{metrics_port}/metrics" in snippet
    port = free_port()
    snippet = snippet.replace(f":{metrics_port}/", f":{port}/")
    metrics = IngestMetrics()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    try:
        assert subprocess.run([sys.executable, "-c", snippet], timeout=30).returncode == 1
        metrics.connected.set(1)
        assert subprocess.run([sys.executable, "-c", snippet], timeout=30).returncode == 0
    finally:
        server.shutdown()
        server.server_close()


def test_services_wait_for_what_they_need_to_be_healthy(config):
    expected = {
        "grafana": {"influxdb"},
        "api": {"influxdb"},
        "analytics": {"influxdb"},
        "ingest-1": {"mosquitto", "influxdb"},
        "ingest-2": {"mosquitto", "influxdb"},
        # the broker drops messages published before the shared subscription exists
        "simulator": {"mosquitto", "ingest-1", "ingest-2"},
    }
    for name, needs in expected.items():
        depends_on = services(config)[name]["depends_on"]
        assert set(depends_on) == needs, name
        assert all(d["condition"] == "service_healthy" for d in depends_on.values()), name


def test_every_service_restarts_and_the_ui_ports_are_published(config):
    for name, service in services(config).items():
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name
    published = {
        name: [p.split(":")[-2] for p in service.get("ports", [])]
        for name, service in services(config).items()
    }
    assert "3000" in published["grafana"]
    assert "8000" in published["api"]
    assert "1883" in published["mosquitto"]
    assert "8086" in published["influxdb"]


def test_volumes_are_named_and_data_lives_in_them(config):
    declared = set(config["volumes"])
    mounts: dict[str, set[str]] = {}
    for name, service in services(config).items():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            assert source.startswith("/") or source in declared, (name, volume)
            if not source.startswith("/"):
                mounts.setdefault(name, set()).add(target)
    assert mounts["mosquitto"] == {"/mosquitto/data"}
    assert mounts["influxdb"] == {"/var/lib/influxdb2", "/etc/influxdb2"}
    assert mounts["grafana"] == {"/var/lib/grafana"}
    assert mounts["api"] == {"/data"}  # keys and uploaded timetables outlive the container
    assert {"mosquitto-data", "influxdb-data", "grafana-data"} <= declared


def test_grafana_gets_provisioning_and_its_data_source_settings(config):
    grafana = services(config)["grafana"]
    targets = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert targets["/etc/grafana/provisioning"] == str(ROOT / "dashboards" / "provisioning")
    assert targets["/var/lib/grafana/dashboards/campuslab"] == str(ROOT / "dashboards" / "json")
    assert grafana["environment"]["INFLUX_URL"] == "http://influxdb:8086"
    assert {"INFLUX_BUCKET", "INFLUX_TOKEN", "GF_SECURITY_ADMIN_PASSWORD"} <= set(
        grafana["environment"]
    )


def test_secrets_flow_from_the_env_file_to_the_services_that_need_them(config):
    values = env_example()
    env = {name: service.get("environment", {}) for name, service in services(config).items()}
    assert env["mosquitto"]["MQTT_INGEST_PASSWORD"] == values["MQTT_INGEST_PASSWORD"]
    assert env["mosquitto"]["MQTT_SIMULATOR_PASSWORD"] == values["MQTT_SIMULATOR_PASSWORD"]
    for name in INGESTORS:
        assert env[name]["CAMPUSLAB_MQTT_USERNAME"] == "campuslab-ingest"
        assert env[name]["CAMPUSLAB_MQTT_PASSWORD"] == values["MQTT_INGEST_PASSWORD"]
    assert env["simulator"]["CAMPUSLAB_MQTT_USERNAME"] == "campuslab-simulator"
    assert env["simulator"]["CAMPUSLAB_MQTT_PASSWORD"] == values["MQTT_SIMULATOR_PASSWORD"]
    assert env["influxdb"]["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert env["influxdb"]["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == values["INFLUXDB_ADMIN_TOKEN"]
    assert env["influxdb"]["DOCKER_INFLUXDB_INIT_PASSWORD"] == values["INFLUXDB_ADMIN_PASSWORD"]
    assert env["api"]["CAMPUSLAB_SUPPRESSION_K"] == values["CAMPUSLAB_SUPPRESSION_K"] == "5"
    for name in ("api", "analytics", *INGESTORS):
        assert env[name]["CAMPUSLAB_STORE"] == "influxdb", name
        assert env[name]["CAMPUSLAB_INFLUX_URL"] == "http://influxdb:8086", name
        assert env[name]["CAMPUSLAB_INFLUX_TOKEN"] == values["INFLUXDB_ADMIN_TOKEN"], name
        assert env[name]["CAMPUSLAB_INFLUX_ORG"] == values["INFLUXDB_ORG"], name
        assert env[name]["CAMPUSLAB_INFLUX_BUCKET"] == values["INFLUXDB_BUCKET"], name
    assert env["grafana"]["INFLUX_TOKEN"] == values["INFLUXDB_ADMIN_TOKEN"]
    assert env["grafana"]["GF_SECURITY_ADMIN_PASSWORD"] == values["GRAFANA_ADMIN_PASSWORD"]


def test_the_compose_file_holds_no_secret():
    text = COMPOSE_FILE.read_text()
    for name, value in env_example().items():
        if SECRET_NAME.search(name):
            assert value not in text, f"{name}'s value is written into docker-compose.yml"
    raw = yaml.safe_load(text)
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:?[?-][^}]*)?\}", str(value)), (name, key)
    assert not re.search(r"mqtts?://[^/\s:@]+:[^/\s@]+@", text), "credentials in an MQTT URL"
    assert not re.search(r"[A-Za-z0-9]{32,}", text), "a token-like string"
    assert not re.search(r"(?<![\w-])(-P|--password)\s+\w", text), "a password on a command line"


def test_every_variable_the_compose_file_reads_is_documented_in_env_example():
    lines = [
        line for line in COMPOSE_FILE.read_text().splitlines() if not line.lstrip().startswith("#")
    ]
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", "\n".join(lines)))
    assert used, "the compose file reads no variables?"
    assert used <= set(env_example()), used - set(env_example())


def test_a_missing_env_file_stops_compose_with_a_pointer_to_env_example(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = docker_compose(empty)
    assert result.returncode != 0
    assert ".env.example" in result.stderr


def test_the_env_file_stays_out_of_git_and_out_of_the_image():
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert ignored.returncode == 0, "add .env to .gitignore: it holds the stack's secrets"
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# -- the image -------------------------------------------------------------------
def test_the_image_holds_every_package_folder_and_runs_campuslab_as_non_root():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = {
        folder.split("/")[0] for folder in pyproject["tool"]["setuptools"]["package-dir"].values()
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = {
        source
        for line in re.findall(r"^COPY (?!--)(.+)$", dockerfile, re.MULTILINE)
        for source in line.split()[:-1]
    }
    assert folders | {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert not (folders & ignored)
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["campuslab"\]', dockerfile, re.MULTILINE)
    # `campuslab dashboards sync` in the image finds the dashboards it pushes
    assert "dashboards" in copied and "dashboards" not in ignored
    assert "ENV CAMPUSLAB_DASHBOARDS_DIR=/opt/campuslab/dashboards" in dockerfile


# -- the broker config, on the real Mosquitto ---------------------------------------
def directives(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.strip().partition(" ")
            found.setdefault(key, value)
    return found


def test_the_stack_broker_keeps_the_shipped_broker_settings_and_requires_a_login():
    stack = directives((DEPLOY / "mosquitto.conf").read_text())
    shipped = directives((ROOT / "tests" / "servers" / "mosquitto.conf").read_text())
    for key in ("persistence", "max_inflight_messages", "max_queued_messages"):
        assert stack[key] == shipped[key], key
    assert stack["max_inflight_messages"] == "1000"
    assert stack["max_queued_messages"] == "2000000"
    assert stack["listener"] == "1883"
    assert stack["allow_anonymous"] == "false"
    assert {"password_file", "acl_file"} <= set(stack)


@dataclass
class Session:
    """One MQTT connection whose CONNACK, SUBACKs, PUBACKs and messages a test can await."""

    client: mqtt.Client
    connected: threading.Event = field(default_factory=threading.Event)
    connect_reason: mqtt.ReasonCode | None = None
    messages: queue.Queue = field(default_factory=queue.Queue)
    acks: dict[int, mqtt.ReasonCode] = field(default_factory=dict)
    acked: threading.Condition = field(default_factory=threading.Condition)

    def wait_ack(self, mid: int, timeout: float = 5.0) -> mqtt.ReasonCode:
        with self.acked:
            assert self.acked.wait_for(lambda: mid in self.acks, timeout), f"no ack for {mid}"
            return self.acks[mid]

    def subscribe(self, topic: str) -> mqtt.ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        return self.wait_ack(mid)

    def publish(self, topic: str, payload: bytes) -> mqtt.ReasonCode:
        return self.wait_ack(self.client.publish(topic, payload, qos=1).mid)

    def received(self, timeout: float = 5.0) -> tuple[str, bytes]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass
class StackBroker:
    port: int
    passwords: dict[str, str]
    auth_dir: Path
    sessions: list[Session] = field(default_factory=list)

    def connect(self, username: str | None, password: str | None = None) -> Session:
        """An MQTT 5 connection (so denied PUBLISHes say why in the PUBACK)."""
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"test-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv5,
        )
        session = Session(client)
        if username is not None:
            client.username_pw_set(username, password or self.passwords[username])

        def on_connect(client, userdata, flags, reason, properties):
            session.connect_reason = reason
            session.connected.set()
            if reason.is_failure:
                client.disconnect()  # refused: do not retry

        def on_ack(mid: int, reason: mqtt.ReasonCode) -> None:
            with session.acked:
                session.acks[mid] = reason
                session.acked.notify_all()

        client.on_connect = on_connect
        client.on_subscribe = lambda c, u, mid, reasons, p: on_ack(mid, reasons[0])
        client.on_publish = lambda c, u, mid, reason, p: on_ack(mid, reason)
        client.on_message = lambda c, u, m: session.messages.put((m.topic, m.payload))
        client.connect("127.0.0.1", self.port)
        client.loop_start()
        assert session.connected.wait(5), f"no CONNACK for {username}"
        self.sessions.append(session)
        return session

    def login(self, username: str) -> Session:
        session = self.connect(username)
        assert not session.connect_reason.is_failure, session.connect_reason
        return session


OBSERVER = "campuslab-test-observer"


def adapt(config: str, port: int, auth_dir: Path, data_dir: Path) -> str:
    """The shipped config on a free loopback port with its files in a temp dir."""
    replacements = {
        "listener": f"listener {port} 127.0.0.1",
        "password_file": f"password_file {auth_dir}/passwd",
        "acl_file": f"acl_file {auth_dir}/acl",
        "persistence_location": f"persistence_location {data_dir}/",
    }
    lines, seen = [], set()
    for line in config.splitlines():
        key = line.split(" ", 1)[0]
        if key in replacements:
            assert key not in seen, f"{key} twice in deploy/mosquitto/mosquitto.conf"
            seen.add(key)
            line = replacements[key]
        lines.append(line)
    assert seen == set(replacements), set(replacements) - seen
    # As root, Mosquitto drops to the `mosquitto` user, which cannot read files in
    # pytest's private temp folders: stay root there.
    if os.geteuid() == 0:
        lines.append("user root")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def stack_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackBroker]:
    """The real Mosquitto with deploy/mosquitto's config, its passwd from entrypoint.sh."""
    binary = mosquitto_binary()
    require(binary is not None, "Mosquitto", "apt-get install mosquitto")
    require(
        shutil.which("mosquitto_passwd") is not None,
        "mosquitto_passwd",
        "apt-get install mosquitto",
    )
    work = tmp_path_factory.mktemp("stack-mosquitto")
    auth_dir, data_dir = work / "auth", work / "data"
    data_dir.mkdir()
    # Only this test's observer may read everything: it shows what was (not) delivered.
    acl = work / "acl"
    acl.write_text((DEPLOY / "acl").read_text() + f"\nuser {OBSERVER}\ntopic read #\n")
    passwords = {
        "campuslab-ingest": secrets.token_hex(12),
        "campuslab-simulator": secrets.token_hex(12),
        OBSERVER: secrets.token_hex(12),
    }
    me = pwd.getpwuid(os.geteuid()).pw_name
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MOSQUITTO_AUTH_DIR": str(auth_dir),
        "MOSQUITTO_ACL_SOURCE": str(acl),
        "MOSQUITTO_DATA_DIR": str(data_dir),
        "MOSQUITTO_RUN_AS": me,
        "MOSQUITTO_RUN_AS_GROUP": grp.getgrgid(os.getegid()).gr_name,
        "MQTT_INGEST_PASSWORD": passwords["campuslab-ingest"],
        "MQTT_SIMULATOR_PASSWORD": passwords["campuslab-simulator"],
    }
    subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), "true"], env=environment, check=True, timeout=30
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", str(auth_dir / "passwd"), OBSERVER, passwords[OBSERVER]],
        check=True,
        timeout=30,
    )
    port = free_port()
    config = work / "mosquitto.conf"
    config.write_text(adapt((DEPLOY / "mosquitto.conf").read_text(), port, auth_dir, data_dir))
    with (work / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
    broker = StackBroker(port, passwords, auth_dir)
    try:
        wait_for_port(port)
        yield broker
    finally:
        for session in broker.sessions:
            session.close()
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def test_the_entrypoint_writes_hashed_passwords_only_the_broker_can_read(stack_broker):
    passwd = stack_broker.auth_dir / "passwd"
    text = passwd.read_text()
    assert {line.split(":")[0] for line in text.splitlines()} == {
        "campuslab-ingest",
        "campuslab-simulator",
        "campuslab-healthcheck",
        OBSERVER,
    }
    assert not any(password in text for password in stack_broker.passwords.values())
    assert passwd.stat().st_mode & 0o077 == 0
    assert (stack_broker.auth_dir / "acl").stat().st_mode & 0o077 == 0


def test_the_entrypoint_refuses_to_start_without_the_passwords(tmp_path):
    require(
        shutil.which("mosquitto_passwd") is not None,
        "mosquitto_passwd",
        "apt-get install mosquitto",
    )
    result = subprocess.run(
        ["sh", str(DEPLOY / "entrypoint.sh"), "true"],
        env={
            "PATH": os.environ.get("PATH", ""),
            "MOSQUITTO_AUTH_DIR": str(tmp_path / "auth"),
            "MQTT_SIMULATOR_PASSWORD": "x",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "MQTT_INGEST_PASSWORD" in result.stderr
    assert not (tmp_path / "auth").exists()


def test_anonymous_and_wrong_password_logins_are_refused(stack_broker):
    anonymous = stack_broker.connect(None)
    assert anonymous.connect_reason.is_failure
    assert str(anonymous.connect_reason) == "Not authorized"
    wrong = stack_broker.connect("campuslab-ingest", "not-the-password")
    assert wrong.connect_reason.is_failure


def test_the_container_healthcheck_passes_against_the_broker(stack_broker):
    require(
        shutil.which("mosquitto_sub") is not None,
        "mosquitto_sub",
        "apt-get install mosquitto-clients",
    )
    result = subprocess.run(
        ["sh", str(DEPLOY / "healthcheck.sh")],
        env={
            "PATH": os.environ.get("PATH", ""),
            "MOSQUITTO_AUTH_DIR": str(stack_broker.auth_dir),
            "MOSQUITTO_PORT": str(stack_broker.port),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


def test_ingestors_shared_subscription_receives_what_the_simulator_publishes(stack_broker):
    ingest = stack_broker.login("campuslab-ingest")
    assert not ingest.subscribe("$share/campuslab/campus/#").is_failure
    simulator = stack_broker.login("campuslab-simulator")
    payload = f'{{"value": 612, "id": "{uuid.uuid4()}"}}'.encode()
    assert simulator.publish("campus/x/y/co2", payload) == 0
    assert ingest.received() == ("campus/x/y/co2", payload)


def test_the_simulator_receives_nothing_through_its_own_subscription(stack_broker):
    observer = stack_broker.login(OBSERVER)
    observer.subscribe("campus/#")
    simulator = stack_broker.login("campuslab-simulator")
    # Mosquitto grants the SUBSCRIBE, then checks `read` for each message it would deliver.
    simulator.subscribe("campus/#")
    payload = uuid.uuid4().hex.encode()
    assert simulator.publish("campus/x/y/co2", payload) == 0
    assert observer.received() == ("campus/x/y/co2", payload)  # it was delivered to readers
    with pytest.raises(queue.Empty):
        simulator.received(timeout=1.0)


def test_the_simulator_cannot_publish_outside_campus(stack_broker):
    observer = stack_broker.login(OBSERVER)
    observer.subscribe("#")
    simulator = stack_broker.login("campuslab-simulator")
    denied = simulator.publish("building-control/rfb/setpoint", b"35")
    assert str(denied) == "Not authorized"
    # Mosquitto delivers one connection's messages in order: once the allowed one
    # arrives, the denied one would have arrived before it.
    marker = uuid.uuid4().hex.encode()
    assert simulator.publish("campus/x/y/co2", marker) == 0
    assert observer.received() == ("campus/x/y/co2", marker)


def test_the_ingestors_cannot_publish(stack_broker):
    observer = stack_broker.login(OBSERVER)
    observer.subscribe("campus/#")
    ingest = stack_broker.login("campuslab-ingest")
    assert str(ingest.publish("campus/x/y/co2", b"9999")) == "Not authorized"
    marker = uuid.uuid4().hex.encode()
    simulator = stack_broker.login("campuslab-simulator")
    assert simulator.publish("campus/x/y/co2", marker) == 0
    assert observer.received() == ("campus/x/y/co2", marker)
