"""What the service-level benchmarks need: a broker (the configured one, or an embedded one for
this run) and the service run as a real process, with the harness the end-to-end tests use."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.embedded import EmbeddedBroker, free_port

TESTS = Path(__file__).parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "reliability")]

from infrastructure import BROKER_SETTINGS  # noqa: E402
from service_process import ServiceProcess, load_sample, wait_for  # noqa: E402
from stream_fixtures import bootstrap_of, change_stream, produce  # noqa: E402

__all__ = ["ServiceProcess", "load_sample", "wait_for", "benchmark_broker", "percentile",
           "bootstrap_of", "change_stream", "produce", "started_and_settled"]

SETTLE_S = 2.0


def started_and_settled(service: ServiceProcess) -> ServiceProcess:
    """Start, then wait until /ready (broker, PostgreSQL, tables recovered) and a little more:
    the first consumer-group rebalance reopens every table store, and Faust runs a full garbage
    collection per table as it does (70 ms each, seen as 300 ms stalls): start-up, not load."""
    service.start()
    wait_for(lambda: httpx.get(f"{service.url}/ready", timeout=5).status_code == 200,
             timeout=120, interval=0.2)
    time.sleep(SETTLE_S)
    return service


@contextlib.contextmanager
def benchmark_broker() -> Iterator[str]:
    """KAFKA_BROKER_URL, or an embedded tansu broker that lives as long as the run."""
    if os.environ.get("KAFKA_BROKER_URL"):
        yield os.environ["KAFKA_BROKER_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="crm-bench-broker-") as directory:
        broker = EmbeddedBroker(free_port(), Path(directory) / "broker.log").start()
        BROKER_SETTINGS["TABLE_RECOVERY_CONSISTENCY_CHECK"] = "false"
        try:
            yield broker.url
        finally:
            broker.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if len(ordered) < 2:
        return ordered[0] if ordered else float("nan")
    return statistics.quantiles(ordered, n=1000, method="inclusive")[int(fraction * 1000) - 1]
