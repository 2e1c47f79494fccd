"""Real infrastructure for tests: Kafka and PostgreSQL from the environment, from testcontainers
when a Docker engine is reachable, or the embedded ones otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from app.embedded import EmbeddedBroker, EmbeddedPostgres, free_port


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


# Settings a service needs on the broker the tests use (see `kafka_broker`).
BROKER_SETTINGS: dict[str, str] = {}


@contextlib.contextmanager
def kafka_broker() -> Iterator[str]:
    if os.environ.get("KAFKA_BROKER_URL"):
        yield os.environ["KAFKA_BROKER_URL"]
    elif docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            yield f"kafka://{kafka.get_bootstrap_server()}"
    else:
        broker = EmbeddedBroker(free_port(), Path(tempfile.mkdtemp()) / "broker.log").start()
        # tansu under-reports a partition's end offset after batched writes
        BROKER_SETTINGS["TABLE_RECOVERY_CONSISTENCY_CHECK"] = "false"
        try:
            yield broker.url
        finally:
            broker.stop()


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """The server DSN, and the embedded server when it is ours (fault tests restart it)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"], None
    elif docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:17", driver=None) as postgres:
            yield postgres.get_connection_url(), None
    else:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg", free_port()).start()
        try:
            yield server.dsn, server
        finally:
            server.stop("immediate")


def database_dsn(server_dsn: str, name: str) -> str:
    """The DSN of database `name` on the same server."""
    base, _, _ = server_dsn.rpartition("/")
    return f"{base}/{name}"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Topics made up front, so that a test knows their partitions before it produces."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    finally:
        await admin.close()


async def preload_topic(bootstrap: str, topic: str, partitions: int,
                        messages: list[tuple[bytes, bytes]]) -> None:
    """Create `topic` and put (key, value) messages on it, all acknowledged."""
    await create_topics(bootstrap, [topic], partitions)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def worker_report(script: Path, *args: str) -> dict:
    """Run a test's Faust worker script to its end: the JSON report it prints last."""
    root = Path(__file__).resolve().parents[1]
    worker = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                            text=True, timeout=120, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert worker.returncode == 0, worker.stderr[-3000:]
    return json.loads(worker.stdout.strip().splitlines()[-1])
