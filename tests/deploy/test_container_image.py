"""deploy/Dockerfile builds a slim two-stage image that runs `crm-events worker` as an
unprivileged user, exposes the web port and checks /health; its build context (.dockerignore)
holds the sources it copies and nothing local. Checked without a Docker engine: the Dockerfile is
parsed, and its health-check command really runs against a loopback HTTP server."""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from deploy_files import DOCKERFILE, ROOT, compose_service, dockerignore_excludes, kubernetes_object
from dockerfile_parse import DockerfileParser

from app.settings import Settings

PACKAGES = ("app", "domain", "projections")


def stages() -> list[list[dict]]:
    """The Dockerfile's instructions, one list per FROM."""
    found: list[list[dict]] = []
    for instruction in DockerfileParser(path=str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            found.append([])
        if found and instruction["instruction"] != "COMMENT":
            found[-1].append(instruction)
    return found


def values(stage: list[dict], name: str) -> list[str]:
    return [instruction["value"] for instruction in stage if instruction["instruction"] == name]


def env_of(stage: list[dict]) -> dict[str, str]:
    pairs = [item.split("=", 1) for value in values(stage, "ENV") for item in shlex.split(value)]
    return dict(pairs)


def base_image(from_value: str) -> str:
    """The image a FROM names, with global ARG defaults substituted."""
    image = from_value.split()[0]
    for instruction in DockerfileParser(path=str(DOCKERFILE)).structure:
        if instruction["instruction"] == "ARG" and "=" in instruction["value"]:
            name, default = instruction["value"].split("=", 1)
            image = image.replace(f"${{{name}}}", default)
    return image


def test_image_is_built_in_a_builder_stage_and_run_from_a_clean_slim_stage():
    builder, *_, runtime = stages()
    assert len(stages()) >= 2
    assert values(builder, "FROM")[0].endswith(" AS builder")
    for stage in (builder, runtime):
        assert base_image(values(stage, "FROM")[0]).startswith("python:3.11-slim")
    assert any("pip install" in run for run in values(builder, "RUN"))
    assert not any("pip install" in run for run in values(runtime, "RUN"))
    assert "--from=builder /opt/venv /opt/venv" in values(runtime, "COPY")
    assert env_of(runtime)["PATH"].startswith("/opt/venv/bin:")


def test_runtime_stage_runs_as_the_unprivileged_user_kubernetes_expects():
    runtime = stages()[-1]
    user = values(runtime, "USER")[-1].split(":")[0]
    assert user not in ("root", "0")
    pods = kubernetes_object("Deployment", "crm-events")["spec"]["template"]["spec"]
    assert int(user) == pods["securityContext"]["runAsUser"]
    creation = " ".join(values(runtime, "RUN"))
    assert f"--uid {user}" in creation


def test_image_runs_the_worker_and_serves_on_the_web_port():
    runtime = stages()[-1]
    web_port = Settings.model_fields["web_port"].default
    assert values(runtime, "EXPOSE") == [str(web_port)]
    assert json.loads(values(runtime, "ENTRYPOINT")[-1]) == ["crm-events"]
    assert json.loads(values(runtime, "CMD")[-1]) == ["worker"]
    env = env_of(runtime)
    assert env["WEB_HOST"] == "0.0.0.0"  # the default 127.0.0.1 is unreachable from outside
    assert env["WEB_PORT"] == str(web_port)
    mounts = kubernetes_object("Deployment", "crm-events")["spec"]["template"]["spec"][
        "containers"][0]["volumeMounts"]
    assert env["DATA_DIR"] in {mount["mountPath"] for mount in mounts}  # writable when read-only
    assert set(env) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"} <= {
        name.upper() for name in Settings.model_fields}


def test_entrypoint_names_the_console_script_and_its_commands():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["crm-events"] == "app.cli:main"
    usage = subprocess.run([sys.executable, "-m", "app", "--help"], capture_output=True,
                           text=True, cwd=ROOT, timeout=60)
    assert usage.returncode == 0, usage.stderr
    assert "worker" in usage.stdout and "migrate" in usage.stdout


def test_build_context_holds_every_source_the_builder_copies_and_no_local_state():
    builder = stages()[0]
    copied = [path for value in values(builder, "COPY") if not value.startswith("--")
              for path in value.split()[:-1]]
    assert {"pyproject.toml", "README.md", *PACKAGES} <= set(copied)
    for path in copied:
        assert (ROOT / path).exists(), path
        assert not dockerignore_excludes(path), f".dockerignore leaves out {path}"
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*"):
            relative = source.relative_to(ROOT).as_posix()
            if source.is_file() and "__pycache__" not in relative:
                assert not dockerignore_excludes(relative), f".dockerignore leaves out {relative}"
    for local in (".venv/bin/python", ".git/HEAD", ".run/broker.log", "deploy/.env",
                  "deploy/salesforce.env", "tests/conftest.py", "app/__pycache__/cli.pyc"):
        assert dockerignore_excludes(local), f"{local} would enter the build context"


class HealthEndpoint(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's naming)
        status = self.status if self.path == "/health" else 404
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"status": "ok"}' if status == 200 else b'{"status": "starting"}')

    def log_message(self, *args):
        pass


def serve_health(address: str):
    server = ThreadingHTTPServer((address, 0), HealthEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def health_server(request):
    """A /health endpoint where the health command looks: loopback for the image (WEB_HOST
    0.0.0.0), the address the hostname resolves to for compose (its workers bind there)."""
    address = "127.0.0.1"
    if request.param == "docker-compose.yml":
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            pytest.skip(f"this host's name resolves to {address}, not a loopback address")
    server, thread = serve_health(address)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def health_commands() -> dict[str, list[str]]:
    healthcheck = values(stages()[-1], "HEALTHCHECK")[-1]
    image = json.loads(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert "--start-period=" in healthcheck and "--timeout=" in healthcheck
    compose = compose_service("worker")["healthcheck"]["test"]
    assert compose[0] == "CMD"
    return {"Dockerfile": image, "docker-compose.yml": compose[1:]}


@pytest.mark.parametrize("health_server", ["Dockerfile", "docker-compose.yml"], indirect=True)
@pytest.mark.parametrize("status,healthy", [(200, True), (503, False)])
def test_health_check_command_passes_only_when_health_answers_200(
        request, status, healthy, health_server, monkeypatch):
    source = request.node.callspec.params["health_server"]
    monkeypatch.setattr(HealthEndpoint, "status", status)
    command = health_commands()[source]
    assert command[0] == "python"
    env = {**os.environ, "WEB_HOST": stages_env()["WEB_HOST"],
           "WEB_PORT": str(health_server.server_address[1])}
    result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                            timeout=30)
    assert (result.returncode == 0) is healthy, result.stderr


def test_image_health_check_asks_a_specific_web_host_when_one_is_set():
    server, thread = serve_health("127.0.0.2")  # not the loopback default: WEB_HOST decides
    try:
        env = {**os.environ, "WEB_HOST": "127.0.0.2", "WEB_PORT": str(server.server_address[1])}
        command = health_commands()["Dockerfile"]
        result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True,
                                timeout=30)
        assert result.returncode == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def stages_env() -> dict[str, str]:
    return env_of(stages()[-1])
