"""Runs the real service (`python -m app worker`) as a subprocess against test infrastructure."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from infrastructure import BROKER_SETTINGS, unique_name

from app.embedded import free_port

API_KEY = "test-key"
SAMPLES = Path(__file__).parents[1] / "app" / "samples" / "salesforce"


def load_sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text())


class ServiceProcess:
    """`python -m app worker` (or `command`, e.g. "bridge") with its own port and data."""

    def __init__(self, broker_url: str, database_url: str, *, command: str = "worker",
                 **settings: str):
        self.command = command
        self.port = free_port()
        namespace = unique_name("t")
        self.data_dir = Path(tempfile.mkdtemp())
        self.env = {
            **os.environ,
            "KAFKA_BROKER_URL": broker_url,
            "DATABASE_URL": database_url,
            "WEB_PORT": str(self.port),
            "BRIDGE_PORT": str(self.port),
            "BRIDGE_API_KEYS": API_KEY,
            "APP_ID": namespace,
            "DATA_DIR": str(self.data_dir),
            "INBOUND_TOPIC_PREFIX": f"{namespace}.crm.inbound.",
            "DOMAIN_EVENTS_TOPIC": f"{namespace}.crm.domain-events",
            "DEAD_LETTER_TOPIC": f"{namespace}.crm.dead-letter",
            "KAFKA_SESSION_TIMEOUT_S": "6",
            "KAFKA_REBALANCE_TIMEOUT_S": "6",
            "KAFKA_HEARTBEAT_INTERVAL_S": "1",
            **BROKER_SETTINGS,
            "LOG_LEVEL": "info",
            **settings,
        }
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / "service.log"
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def topics(self) -> dict[str, str]:
        return {
            "inbound": self.env["INBOUND_TOPIC_PREFIX"] + "salesforce",
            "domain_events": self.env["DOMAIN_EVENTS_TOPIC"],
            "dead_letter": self.env["DEAD_LETTER_TOPIC"],
        }

    def start(self, timeout: float = 90.0) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "app", self.command],
                                            env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop(signal.SIGKILL)  # a process that never became healthy is not left behind
            raise
        return self

    def restart(self, timeout: float = 90.0, **settings: str | None) -> ServiceProcess:
        """Start again on the same database, topics and consumer group, with some settings
        changed (None removes one)."""
        self.stop()
        for name, value in settings.items():
            if value is None:
                self.env.pop(name, None)
            else:
                self.env[name] = value
        return self.start(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"service not healthy after {timeout}s:\n{self.log()[-5000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10, headers={"X-API-Key": API_KEY})


def wait_for(check, timeout: float = 10.0, interval: float = 0.05):
    """Poll `check` until it returns a truthy value; return it, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
