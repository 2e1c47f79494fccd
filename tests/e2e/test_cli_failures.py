"""The operator commands fail the way an operator can act on: a bad setting or argument is one
line and exit 2, PostgreSQL or Kafka not answering is one line naming which and exit 1, an
answer that is not the service's is reported, never a traceback; and `--url` takes a trailing
slash. Runs the real CLI against a small HTTP server, the test database and unused ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from service_process import SAMPLES

from app.embedded import free_port, hold_data_dir

NOWHERE_DB = "postgresql://u@127.0.0.1:1/db"
NOWHERE_KAFKA = "kafka://127.0.0.1:1"


def crm_events(*args: str, **settings: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items()
           if name not in ("KAFKA_BROKER_URL", "DATABASE_URL", "WEB_PORT")}
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True,
                          timeout=120, env={**env, **settings})


def failed_with(done: subprocess.CompletedProcess, exit_code: int) -> str:
    """The command's last line on stderr, once sure it failed with no traceback."""
    assert done.returncode == exit_code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "Unclosed" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


@dataclass
class FakeService:
    """An HTTP server answering each path as told (else a 404 page), recording the requests."""

    url: str
    answers: dict[str, tuple[int, bytes] | None] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)


@pytest.fixture
def fake_service() -> Iterator[FakeService]:
    fake = FakeService("")

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.answer()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.answer()

        def answer(self) -> None:
            fake.received.append(f"{self.command} {self.path}")
            if fake.answers.get(self.path, ()) is None:  # hangs up without an answer
                self.close_connection = True
                return
            status, body = fake.answers.get(self.path, (404, b"<html><h1>Not Found</h1></html>"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


READY = orjson.dumps({"status": "ready", "checks": {"broker": {"ok": True}}})


# -- PostgreSQL and Kafka -----------------------------------------------------------------------

@pytest.mark.parametrize("command", [["migrate"], ["projections", "rebuild", "clients"],
                                     ["dead-letter", "list"],
                                     ["dead-letter", "replay", "--stage", "crm"]])
def test_an_unreachable_database_is_one_line_and_exit_1(command):
    done = crm_events(*command, DATABASE_URL=NOWHERE_DB, KAFKA_BROKER_URL=NOWHERE_KAFKA)

    assert failed_with(done, 1).startswith("database unreachable: ConnectionRefusedError: ")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("command", [["projections", "rebuild", "clients"],
                                     ["dead-letter", "list"],
                                     ["dead-letter", "replay", "--stage", "crm"]])
def test_an_unreachable_broker_is_one_line_and_exit_1(command, module_database):
    done = crm_events(*command, DATABASE_URL=module_database, KAFKA_BROKER_URL=NOWHERE_KAFKA)

    assert failed_with(done, 1).startswith(
        "broker unreachable: KafkaConnectionError: Unable to bootstrap from")
    assert len(done.stderr.splitlines()) == 1, done.stderr  # not aiokafka's own line before it


def test_a_malformed_database_url_is_a_configuration_error():
    done = crm_events("dead-letter", "list", DATABASE_URL="postgresql://u@127.0.0.1:abc/db",
                      KAFKA_BROKER_URL=NOWHERE_KAFKA)
    assert failed_with(done, 2).startswith("configuration error: DATABASE_URL: ")


def test_migrate_starts_no_broker(module_database, tmp_path):
    done = crm_events("migrate", DATABASE_URL=module_database, DATA_DIR=str(tmp_path),
                      EMBEDDED_BROKER_PORT=str(free_port()))

    assert done.returncode == 0, done.stderr
    assert "schema at version" in done.stdout
    assert not (tmp_path / "broker.log").exists()  # what an embedded broker writes first


# -- settings and arguments ---------------------------------------------------------------------

@pytest.mark.parametrize("command", [["migrate"], ["run"]])
def test_a_data_dir_another_process_holds_is_left_alone(tmp_path, command):
    """A second `run` or `migrate` on the DATA_DIR of a running `run` stopped its broker and
    PostgreSQL (each reclaims what a crashed run left): now it refuses, touching nothing."""
    held = hold_data_dir(tmp_path)
    try:
        done = crm_events(*command, DATA_DIR=str(tmp_path), BRIDGE_API_KEYS="k")
        line = failed_with(done, 2)
    finally:
        held.close()

    assert line == (f"configuration error: DATA_DIR: {tmp_path} is in use by another "
                    f"crm-events process (pid {os.getpid()})")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm-events.lock"]
    hold_data_dir(tmp_path).close()  # let go: free for the next


@pytest.mark.parametrize(("command", "setting"), [(["migrate"], "EMBEDDED_POSTGRES_PORT"),
                                                  (["run"], "EMBEDDED_BROKER_PORT")])
def test_an_embedded_port_in_use_is_named_and_nothing_is_left_running(tmp_path, command,
                                                                      setting):
    """Else the service would fail on its own while its caller took the other process for it
    (a second run's broker joined the first's, or a worker waited forever on a non-Kafka)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = crm_events(*command, DATA_DIR=str(tmp_path), BRIDGE_API_KEYS="k",
                          **{setting: str(port)})

    assert failed_with(done, 2) == (f"configuration error: {setting}: 127.0.0.1:{port} is in "
                                    "use by another process")
    assert not (tmp_path / "broker.pid").exists()


def test_a_worker_creates_its_data_dir_or_names_it(module_database, tmp_path):
    missing = tmp_path / "not" / "yet"
    crm_events("worker", DATA_DIR=str(missing), DATABASE_URL=module_database,
               KAFKA_BROKER_URL=NOWHERE_KAFKA)  # fails later, at the broker
    assert missing.is_dir()

    (tmp_path / "a-file").write_text("")
    for command, settings in (("worker", {"DATABASE_URL": module_database}),
                              ("bridge", {"BRIDGE_API_KEYS": "k"})):
        done = crm_events(command, DATA_DIR=str(tmp_path / "a-file" / "x"),
                          KAFKA_BROKER_URL=NOWHERE_KAFKA, **settings)
        assert failed_with(done, 2).startswith("configuration error: DATA_DIR: cannot create ")


def test_a_worker_logs_json_from_its_first_line(module_database):
    """LOG_FORMAT=json: the lines before Faust's worker sets its logging up are JSON too (here
    aiokafka's, failing to reach the broker), and the command's last line says what failed."""
    done = crm_events("worker", DATABASE_URL=module_database, KAFKA_BROKER_URL=NOWHERE_KAFKA,
                      LOG_FORMAT="json")
    last = failed_with(done, 1)
    logged = done.stderr.strip().splitlines()[:-1]

    assert last.startswith("broker unreachable: ") and logged
    assert all(orjson.loads(line)["level"] for line in logged), logged


def test_run_refuses_its_http_ports_taken_before_starting_anything(tmp_path):
    same = crm_events("run", DATA_DIR=str(tmp_path), BRIDGE_API_KEYS="k", WEB_PORT="7001",
                      BRIDGE_PORT="7001")
    assert failed_with(same, 2) == "configuration error: BRIDGE_PORT: must differ from WEB_PORT"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = crm_events("run", DATA_DIR=str(tmp_path), BRIDGE_API_KEYS="k",
                          WEB_PORT=str(port), BRIDGE_PORT=str(free_port()))
    assert failed_with(done, 2) == (f"configuration error: WEB_PORT: 127.0.0.1:{port} is in "
                                    "use by another process")
    assert list(tmp_path.iterdir()) == []  # no broker, no PostgreSQL started


@pytest.mark.parametrize(("settings", "line"), [
    ({"KAFKA_BROKER_URL": "kafka://127.0.0.1:abc"}, "configuration error: KAFKA_BROKER_URL: "),
    ({"KAFKA_BROKER_URL": "PLAINTEXT://kafka:9092"}, "configuration error: KAFKA_BROKER_URL: "),
    ({"DATABASE_URL": "mysql://db/crm"}, "configuration error: DATABASE_URL: "),
    # blank secrets would let anyone sign HubSpot webhooks or log in as Pipedrive
    ({"HUBSPOT_CLIENT_SECRET": " "}, "configuration error: HUBSPOT_CLIENT_SECRET: "),
    ({"PIPEDRIVE_WEBHOOK_USER": "hook", "PIPEDRIVE_WEBHOOK_PASSWORD": ""},
     "configuration error: PIPEDRIVE_WEBHOOK_PASSWORD: "),
    ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "2"}, "DB_POOL_MIN (5) is above DB_POOL_MAX (2)"),
    ({"DEAD_LETTER_TOPIC": "crm.domain-events"}, "DOMAIN_EVENTS_TOPIC and DEAD_LETTER_TOPIC"),
    ({"KAFKA_COMMIT_INTERVAL_S": "inf"}, "configuration error: KAFKA_COMMIT_INTERVAL_S: "),
    # blank is unset: the worker, which needs real infrastructure, says so
    ({"KAFKA_BROKER_URL": "", "DATABASE_URL": "postgresql://db/crm"},
     "`worker` needs both"),
])
def test_the_worker_refuses_bad_settings_in_one_line_before_starting(settings, line):
    done = crm_events("worker", **{"KAFKA_BROKER_URL": "kafka://127.0.0.1:1",
                                   "DATABASE_URL": "postgresql://u@127.0.0.1:1/db", **settings})
    assert line in failed_with(done, 2)


@pytest.mark.parametrize("command", ["status", "send-samples"])
def test_a_bad_setting_is_named_in_one_line_with_exit_2(command):
    done = crm_events(command, WEB_PORT="abc", BRIDGE_API_KEYS="k")
    assert failed_with(done, 2).startswith("configuration error: WEB_PORT: ")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("url", ["foo", "http://[::1", "ftp://127.0.0.1", "http://h:abc"])
@pytest.mark.parametrize("command", ["status", "send-samples"])
def test_a_malformed_url_is_an_argument_error(command, url):
    done = crm_events(command, "--url", url, "--key", "k")
    assert failed_with(done, 2).startswith(f"crm-events {command}: error: argument --url: ")


@pytest.mark.parametrize(("arguments", "error"), [
    (["send-samples", "--repeat", "abc"], "argument --repeat: 'abc' is not a whole number"),
    (["dead-letter", "list", "--limit", "0"], "argument --limit: must be at least 1, not 0"),
    (["dead-letter", "replay", "--id", "0:1", "--limit", "-1"],
     "argument --limit: must be at least 1, not -1"),
    (["dead-letter", "list", "--stage", "bogus"], "argument --stage: invalid choice: 'bogus'"),
    (["dead-letter", "replay", "--id", "abc"], "argument --id: 'abc' is not PARTITION:OFFSET"),
])
def test_a_bad_argument_is_refused_before_anything_is_contacted(arguments, error):
    # nothing answers at these addresses: the command must stop before trying them
    done = crm_events(*arguments, DATABASE_URL=NOWHERE_DB, KAFKA_BROKER_URL=NOWHERE_KAFKA)
    assert error in failed_with(done, 2)


# -- status -------------------------------------------------------------------------------------

def test_status_reports_answers_that_are_not_the_services_and_exits_1(fake_service):
    fake_service.answers["/health"] = (200, b'{"status": "ok"}')
    fake_service.answers["/projections"] = (200, b"projections: fine")  # not JSON
    # /ready answers the 404 page

    done = crm_events("status", "--url", fake_service.url)

    assert done.returncode == 1 and done.stderr == ""
    assert done.stdout.splitlines()[1:] == [
        "health       200 ok",
        "ready        404 not the service's answer: <html><h1>Not Found</h1></html>",
        "projections  200 not the service's answer: projections: fine"]


def test_status_names_a_readiness_check_that_does_not_answer(fake_service):
    fake_service.answers.update({"/health": (200, b'{"status": "ok"}'), "/ready": None,
                                 "/projections": (200, b'{"projections": {}}')})

    done = crm_events("status", "--url", fake_service.url)

    assert done.returncode == 1
    assert done.stdout.splitlines()[2].startswith("ready        unreachable: "), done.stdout


def test_status_exits_1_when_the_projections_cannot_be_read_though_the_service_is_ready(
        fake_service):
    fake_service.answers.update({"/health": (200, b'{"status": "ok"}'), "/ready": (200, READY),
                                 "/projections": (401, b'{"error": "missing or invalid '
                                                        b'X-API-Key"}')})

    done = crm_events("status", "--url", fake_service.url, "--key", "wrong")

    assert done.returncode == 1
    assert "projections  401 missing or invalid X-API-Key" in done.stdout


def test_status_exits_1_when_the_database_cannot_be_counted_though_the_service_is_ready(
        fake_service):
    fake_service.answers.update({"/health": (200, b'{"status": "ok"}'), "/ready": (200, READY),
                                 "/projections": (200, b'{"projections": {}}')})

    done = crm_events("status", "--url", fake_service.url, "--database", DATABASE_URL=NOWHERE_DB)

    assert done.returncode == 1
    assert "ready        200 ready: broker ok" in done.stdout
    assert "database     unreachable: ConnectionRefusedError" in done.stdout


def test_a_trailing_slash_on_url_is_dropped(fake_service):
    fake_service.answers.update({"/health": (200, b'{"status": "ok"}'), "/ready": (200, READY),
                                 "/projections": (200, b'{"projections": {}}'),
                                 "/events/salesforce/": (202, b"{}")})

    status = crm_events("status", "--url", f"{fake_service.url}/")
    posted = crm_events("send-samples", "--url", f"{fake_service.url}/", "--key", "k")

    assert status.returncode == 0, status.stdout
    assert posted.returncode == 0, posted.stderr
    assert f"12 of 12 events posted to {fake_service.url}/events/salesforce/ (202: 12)" in (
        posted.stdout)
    assert set(fake_service.received) == {"GET /health", "GET /ready", "GET /projections",
                                          "POST /events/salesforce/"}


# -- send-samples -------------------------------------------------------------------------------

def test_send_samples_says_none_was_posted_when_the_service_is_unreachable():
    done = crm_events("send-samples", "--url", f"http://127.0.0.1:{free_port()}", "--key", "k")

    assert "account_create (round 1): unreachable" in failed_with(done, 1)
    assert "0 of 12 events posted" in done.stdout and "(unreachable: 1)" in done.stdout
    assert "stopped: the service is unreachable" in done.stdout


def samples_folder(tmp_path: Path, **files: bytes) -> Path:
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_bytes(content)
    return tmp_path


@pytest.mark.parametrize(("files", "repeat", "error"), [
    ({}, "1", "no *.json files"),
    ({"broken": b'{"id": '}, "1", "broken.json: not JSON"),
    ({"listed": b"[1, 2]"}, "1", "listed.json: not an EventBridge envelope"),
    ({"anonymous": b'{"detail": {}}'}, "2", 'anonymous: no "id", which --repeat renames'),
])
def test_send_samples_refuses_a_folder_it_cannot_post(fake_service, tmp_path, files, repeat,
                                                      error):
    done = crm_events("send-samples", "--url", fake_service.url, "--key", "k", "--repeat", repeat,
                      "--samples", str(samples_folder(tmp_path, **files)))

    assert error in failed_with(done, 2)
    assert fake_service.received == []


def test_send_samples_refuses_a_path_that_does_not_exist(fake_service, tmp_path):
    done = crm_events("send-samples", "--url", fake_service.url, "--key", "k",
                      "--samples", str(tmp_path / "nowhere"))
    assert failed_with(done, 2) == f"samples: {tmp_path / 'nowhere'}: no such file or folder"


def test_send_samples_posts_a_single_file(fake_service):
    fake_service.answers["/events/salesforce/"] = (202, b"{}")

    done = crm_events("send-samples", "--url", fake_service.url, "--key", "k",
                      "--samples", str(SAMPLES / "account_create.json"))

    assert done.returncode == 0, done.stderr
    assert "1 of 1 events posted" in done.stdout
    assert fake_service.received == ["POST /events/salesforce/"]
