"""A service with tracing on: one trace from the bridge's request through the command batch to
the event store append; and /ready turning 503 when its database disappears."""

from __future__ import annotations

import asyncio
import copy
import uuid

import asyncpg
import orjson
import pytest
from infrastructure import database_dsn, unique_name
from service_process import ServiceProcess, load_sample, wait_for

from app.migrate import migrate

pytestmark = pytest.mark.e2e


async def create_database(server_dsn: str, name: str) -> str:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    connection = await asyncpg.connect(database_dsn(server_dsn, name))
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return database_dsn(server_dsn, name)


async def drop_database(server_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def traced(broker_url, postgres):
    """The service with tracing to stdout, on a database this module drops itself."""
    name = unique_name("traced")
    dsn = asyncio.run(create_database(postgres[0], name))
    service = ServiceProcess(broker_url, dsn, OTEL_ENABLED="true").start()
    yield service, (postgres[0], name)
    service.stop()
    asyncio.run(drop_database(postgres[0], name))


def spans(service) -> list[dict]:
    found = []
    for line in service.log().splitlines():
        if line.startswith('{"name"'):
            span = orjson.loads(line)
            if "context" in span:
                found.append(span)
    return found


def test_one_trace_runs_from_the_bridge_through_the_batch_to_the_event_store(traced):
    service, _ = traced
    record_id = f"001T{uuid.uuid4().hex[:14]}"
    envelope = copy.deepcopy(load_sample("account_create"))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    with service.client() as http:
        assert http.post("/events/salesforce/", json=envelope).status_code == 202

    def chain():
        found = spans(service)
        requests = [s for s in found if s["name"] == "POST /events/salesforce/"]
        for request in requests:
            trace = request["context"]["trace_id"]
            in_trace = {s["name"]: s for s in found if s["context"]["trace_id"] == trace}
            if {"process salesforce events", "event_store.append"} <= set(in_trace):
                return request, in_trace
        return None

    request, in_trace = wait_for(chain, timeout=15, interval=0.3)
    batch, append = in_trace["process salesforce events"], in_trace["event_store.append"]
    assert request["kind"] == "SpanKind.SERVER"
    assert request["attributes"]["http.response.status_code"] == 202
    assert batch["kind"] == "SpanKind.CONSUMER"
    assert batch["parent_id"] == request["context"]["span_id"]
    assert append["parent_id"] == batch["context"]["span_id"]
    assert append["attributes"]["crm.events"] == 1
    assert request["resource"]["attributes"]["service.name"] == service.env["APP_ID"]


def test_ready_turns_503_naming_postgres_when_the_database_is_gone(traced):
    """Runs last in this module: it takes the service's database away."""
    service, (server_dsn, name) = traced
    with service.client() as http:
        assert http.get("/ready").status_code == 200
        asyncio.run(drop_database(server_dsn, name))

        answer = wait_for(lambda: (r := http.get("/ready")).status_code == 503 and r.json(),
                          timeout=15, interval=0.3)
        assert answer["status"] == "not ready"
        assert answer["checks"]["postgres"]["ok"] is False
        assert answer["checks"]["broker"]["ok"] is True
        assert http.get("/health").status_code == 200  # alive, just not ready
