"""A rebuild followed by a restart of `crm-events run`: the embedded broker forgets its topics, so
the rebuilt generation's changelog is gone. The restarted worker switched to it anyway and
answered 404 for every record; it now drops that generation with a warning and keeps serving the
previous one from its store."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest
from service_process import load_sample, wait_for
from test_run_command import listening, start_run, stop_leftovers

pytestmark = pytest.mark.e2e

RECORD = "001Hs00003FqYbKIAV"  # the account of the `account_create` sample


@pytest.fixture
def data_dir():
    """Outside pytest's temporary root: a pytest session starting meanwhile makes that root
    private again, and the embedded PostgreSQL's own user could no longer reach its data to
    stop it."""
    path = Path(tempfile.mkdtemp(prefix="rebuild-restart-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_rebuild_the_broker_restart_lost_is_dropped_and_the_records_still_read(data_dir):
    run, ports = start_run(data_dir)
    try:
        worker = f"http://127.0.0.1:{ports['WEB_PORT']}"
        wait_for(lambda: healthy(worker) and healthy(f"http://127.0.0.1:{ports['BRIDGE_PORT']}"),
                 timeout=120, interval=0.5)
        posted = httpx.post(f"http://127.0.0.1:{ports['BRIDGE_PORT']}/events/salesforce/",
                            json=load_sample("account_create"), headers={"X-API-Key": "run-key"})
        assert posted.status_code == 202, posted.text
        wait_for(lambda: account_status(worker) == 200, timeout=30, interval=0.2)
        rebuilt = rebuild_clients(ports)
        assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        stop(run, ports)

        run, ports = start_run(data_dir)  # the same DATA_DIR: PostgreSQL and tables kept
        worker = f"http://127.0.0.1:{ports['WEB_PORT']}"
        wait_for(lambda: healthy(worker), timeout=120, interval=0.5)

        assert account_status(worker) == 200
        served = httpx.get(f"{worker}/projections", params={"projection": "clients"}).json()
        assert "clients-g1" in str(served), served
        log = (data_dir / "run.log").read_text()
        assert "clients: generation 2 is dropped" in log
        assert "crm-events projections rebuild clients" in log
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        stop_leftovers(data_dir, ports)


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def account_status(worker: str) -> int:
    return httpx.get(f"{worker}/clients", timeout=5,
                     params={"provider": "salesforce", "external_id": RECORD}).status_code


def rebuild_clients(ports: dict[str, int]) -> subprocess.CompletedProcess:
    """`crm-events projections rebuild clients` against the running embedded services."""
    env = {**os.environ,
           "KAFKA_BROKER_URL": f"kafka://127.0.0.1:{ports['EMBEDDED_BROKER_PORT']}",
           "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{ports['EMBEDDED_POSTGRES_PORT']}"
                           "/postgres"}
    return subprocess.run([sys.executable, "-m", "app", "projections", "rebuild", "clients"],
                          env=env, capture_output=True, text=True, timeout=120)


def stop(run: subprocess.Popen, ports: dict[str, int]) -> None:
    """Ctrl-C, as a terminal sends it; the broker stops with it and forgets its topics."""
    os.killpg(run.pid, signal.SIGINT)
    run.wait(timeout=60)
    wait_for(lambda: not any(listening(port) for port in ports.values()), timeout=30,
             interval=0.5)
