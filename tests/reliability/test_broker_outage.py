"""Broker unreachable: the bridge answers 503 (EventBridge retries) and accepts again after."""

from __future__ import annotations

import signal
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from service_process import ServiceProcess, load_sample, wait_for

from app.embedded import EmbeddedBroker, free_port


@pytest.fixture
def own_broker():
    """A broker only this test stops and restarts (on the same port)."""
    broker = EmbeddedBroker(free_port(), Path(tempfile.mkdtemp()) / "broker.log").start()
    yield broker
    broker.stop()


def envelope_for(record_id: str) -> dict:
    envelope = load_sample("account_create")
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    return envelope


def test_bridge_answers_503_while_the_broker_is_down_and_202_when_it_is_back(
        own_broker, fresh_database):
    service = ServiceProcess(own_broker.url, fresh_database, BRIDGE_ACK_TIMEOUT_S="2").start()
    try:
        with service.client() as http:
            assert http.post("/events/salesforce/",
                             json=envelope_for("001OUTAGE000000001")).status_code == 202
            own_broker.stop()

            started = time.monotonic()
            during = http.post("/events/salesforce/", json=envelope_for("001OUTAGE000000002"))
            assert during.status_code == 503
            assert during.headers["Retry-After"] == "1"
            assert time.monotonic() - started < 10

            own_broker.start()
            after = wait_for(lambda: (r := http.post(
                "/events/salesforce/", json=envelope_for("001OUTAGE000000003"))
            ).status_code == 202 and r, timeout=60, interval=1)
            assert after.json()["status"] == "accepted"
            assert service.process.poll() is None
    finally:
        service.stop()


def test_a_worker_stops_promptly_on_sigterm_while_its_broker_is_down(own_broker, fresh_database):
    """aiokafka's consumer raised CancelledError out of its stop when a fetch was waiting out
    a retry backoff; Faust's consumer thread then ended silently and the stop waited 60 s."""
    service = ServiceProcess(own_broker.url, fresh_database).start()
    try:
        with service.client() as http:
            wait_for(lambda: http.get("/ready").status_code == 200, timeout=60, interval=0.5)
        own_broker.stop()
        time.sleep(3)  # the fetcher finds the broker gone and backs off between retries

        started = time.monotonic()
        service.process.send_signal(signal.SIGTERM)
        returncode = service.process.wait(timeout=90)
        stopped_in = time.monotonic() - started

        assert returncode == 0
        assert stopped_in < 20, f"stopped in {stopped_in:.0f} s:\n{service.log()[-3000:]}"
        assert "Error while stopping child <ConsumerThread" not in service.log()
    finally:
        service.stop()
