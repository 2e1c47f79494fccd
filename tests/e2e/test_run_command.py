"""`crm-events run` (what `make run` starts): an embedded broker and PostgreSQL, the worker and a
bridge process; an event posted to the bridge is readable from the worker; Ctrl-C (SIGINT to the
process group, as a terminal sends it) stops everything it started and leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import orjson
import pytest
from service_process import load_sample, wait_for

from app.embedded import EmbeddedBroker, EmbeddedPostgres, free_port

pytestmark = pytest.mark.e2e


def test_run_starts_worker_and_bridge_and_ctrl_c_leaves_nothing_behind(tmp_path):
    run, ports = start_run(tmp_path)
    worker_port, bridge_port = ports["WEB_PORT"], ports["BRIDGE_PORT"]
    try:
        def healthy(port: int) -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(lambda: healthy(worker_port) and healthy(bridge_port), timeout=120, interval=0.5)
        assert all(listening(port) for port in ports.values())

        posted = httpx.post(f"http://127.0.0.1:{bridge_port}/events/salesforce/",
                            json=load_sample("account_create"), headers={"X-API-Key": "run-key"})
        assert posted.status_code == 202, posted.text
        record = "001Hs00003FqYbKIAV"
        view = wait_for(lambda: (r := httpx.get(
            f"http://127.0.0.1:{worker_port}/clients",
            params={"provider": "salesforce", "external_id": record})).status_code == 200
            and r.json(), timeout=30, interval=0.2)
        assert view["external_ids"]["salesforce"] == record

        os.killpg(run.pid, signal.SIGINT)
        run.wait(timeout=60)
        # worker, bridge, broker and PostgreSQL all gone: nothing answers on their ports
        wait_for(lambda: not any(listening(port) for port in ports.values()), timeout=30,
                 interval=0.5)
        # one JSON object per line, but for the two banners; the embedded PostgreSQL's Python
        # warning (XDG_RUNTIME_DIR unset) too
        lines = (tmp_path / "run.log").read_text().splitlines()
        banners = [line for line in lines if not line.startswith("{")]
        assert all(line.startswith(("crm-events on ", "webhook bridge on "))
                   for line in banners), banners
        logged = [orjson.loads(line) for line in lines if line.startswith("{")]
        assert any(line["logger"] == "py.warnings" and "RuntimeDirWarning" in line["message"]
                   for line in logged)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)


def start_run(tmp_path) -> tuple[subprocess.Popen, dict[str, int]]:
    """`crm-events run` on free ports and a DATA_DIR of its own, in a process group of its own
    (as a terminal would start it); the ports by setting."""
    ports = {name: free_port() for name in ("WEB_PORT", "BRIDGE_PORT", "EMBEDDED_BROKER_PORT",
                                            "EMBEDDED_POSTGRES_PORT")}
    env = {**os.environ, "DATA_DIR": str(tmp_path), "BRIDGE_API_KEYS": "run-key",
           **{name: str(port) for name, port in ports.items()}}
    for name in ("KAFKA_BROKER_URL", "DATABASE_URL", "XDG_RUNTIME_DIR"):  # the last: a warning
        env.pop(name, None)
    with open(tmp_path / "run.log", "wb") as log:
        run = subprocess.Popen([sys.executable, "-m", "app", "run"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    return run, ports


def stop_leftovers(tmp_path, ports: dict[str, int]) -> None:
    """What a SIGKILLed run leaves (its broker and PostgreSQL, as the next run would reclaim)."""
    EmbeddedBroker(ports["EMBEDDED_BROKER_PORT"], tmp_path / "broker.log")._stop_leftover()
    EmbeddedPostgres(tmp_path / "postgres", ports["EMBEDDED_POSTGRES_PORT"]).stop("immediate")


def test_sigterm_while_run_starts_leaves_nothing_behind(tmp_path):
    """Before Faust's worker handles SIGTERM itself, a stop still stops what was started."""
    run, ports = start_run(tmp_path)
    try:
        wait_for(lambda: listening(ports["EMBEDDED_BROKER_PORT"]), timeout=60, interval=0.05)
        run.send_signal(signal.SIGTERM)  # PostgreSQL is starting, the worker not yet

        assert run.wait(timeout=60) != 0
        wait_for(lambda: not any(listening(port) for port in ports.values()), timeout=30,
                 interval=0.5)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        stop_leftovers(tmp_path, ports)


def test_a_killed_run_takes_its_bridge_process_along(tmp_path):
    """A SIGKILLed run left its bridge process holding BRIDGE_PORT, and the next run's bridge
    could not start; the kernel now stops the bridge when its parent ends."""
    run, ports = start_run(tmp_path)
    try:
        wait_for(lambda: listening(ports["BRIDGE_PORT"]) and listening(ports["WEB_PORT"]),
                 timeout=120, interval=0.5)
        run.kill()
        run.wait(timeout=30)

        wait_for(lambda: not listening(ports["BRIDGE_PORT"]), timeout=30, interval=0.5)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        stop_leftovers(tmp_path, ports)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0
