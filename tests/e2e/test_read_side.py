"""The read side over HTTP, on one service process shared by the module: freshness, filters and
pages, aggregate views, duplicates and out-of-order events injected on the domain-events topic,
a lost publish repaired from the event store, restart recovery, and a rebuild equal to live.

Each test uses record ids and field values of its own, so counts are exact whatever ran before.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from service_process import ServiceProcess, load_sample, wait_for

from app.db import create_pool
from app.event_store import PostgresEventStore
from domain.events import EventMetadata, Updated
from projections.rebuild import bootstrap_servers

pytestmark = pytest.mark.e2e

COMMIT_MS = 1_763_633_730_000


@pytest.fixture(scope="module")
def service(broker_url, module_database):
    process = ServiceProcess(broker_url, module_database).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def http(service):
    with service.client() as client:
        yield client


def tag() -> str:
    return uuid.uuid4().hex[:8]


def account(record_id: str, step: int = 0, **fields) -> dict:
    """A CREATE (step 0) or an UPDATE of the given Account fields."""
    envelope = copy.deepcopy(load_sample("account_create" if step == 0 else "account_update"))
    envelope["id"] = str(uuid.uuid4())
    payload = envelope["detail"]["payload"]
    header = payload["ChangeEventHeader"]
    header.update(recordIds=[record_id], transactionKey=str(uuid.uuid4()),
                  commitTimestamp=COMMIT_MS + step * 1000)
    if step:
        for name in ("Industry", "NumberOfEmployees", "LastModifiedDate"):
            payload.pop(name)
        header["changedFields"] = list(fields)
    payload.update(fields)
    return envelope


def opportunity(record_id: str, stage: str, amount: float) -> dict:
    envelope = account(record_id)
    envelope["detail-type"] = "OpportunityChangeEvent"
    payload = envelope["detail"]["payload"]
    payload["ChangeEventHeader"]["entityName"] = "Opportunity"
    envelope["detail"]["payload"] = {"ChangeEventHeader": payload["ChangeEventHeader"],
                                     "Name": f"Deal {record_id}", "StageName": stage,
                                     "Amount": amount, "CloseDate": "2027-01-31"}
    return envelope


def post(http: httpx.Client, envelope: dict) -> None:
    response = http.post("/events/salesforce/", json=envelope)
    assert response.status_code == 202, response.text


def by_external_id(http: httpx.Client, collection: str, external_id: str) -> dict | None:
    response = http.get(f"/{collection}", params={"provider": "salesforce",
                                                  "external_id": external_id})
    return response.json() if response.status_code == 200 else None


def at_version(http: httpx.Client, collection: str, external_id: str, version: int) -> dict:
    return wait_for(lambda: (v := by_external_id(http, collection, external_id))
                    and v["version"] >= version and v, timeout=20)


def view_rows(http: httpx.Client, view: str, **match) -> list[dict]:
    rows = http.get(f"/views/{view}").json()["rows"]
    return [row for row in rows if all(row.get(k) == v for k, v in match.items())]


def everything(http: httpx.Client) -> dict:
    """Every list (all pages) and every aggregate view the API serves."""
    snapshot = {}
    for collection in ("clients", "contacts", "deals"):
        items, after = [], None
        while True:
            page = http.get(f"/{collection}", params={"limit": 500, **(
                {"after": after} if after else {})}).json()
            items += page["items"]
            if not (after := page["next"]):
                break
        snapshot[collection] = items
    for view in ("clients-by-status", "clients-by-industry", "deals-by-stage"):
        snapshot[view] = http.get(f"/views/{view}").json()["rows"]
    return snapshot


def test_a_posted_change_is_readable_within_seconds(http):
    record = f"001FRESH{tag()}"
    started = time.monotonic()

    post(http, account(record, Industry="Freshness"))
    view = at_version(http, "clients", record, 1)

    latency = time.monotonic() - started
    print(f"post-to-readable latency: {latency * 1000:.0f} ms")
    assert latency < 5.0
    assert view["industry"] == "Freshness"
    assert http.get(f"/clients/{view['aggregate_id']}").json() == view


def test_a_read_waits_for_the_version_its_writer_expects(http, service):
    record = f"001WAIT{tag()}"
    lookup = {"provider": "salesforce", "external_id": record}

    def read_waiting(path: str, **params) -> tuple[httpx.Response, float, float]:
        """The response, when its request went out and when it was answered."""
        with service.client() as own:  # the test's client posts meanwhile
            asked = time.monotonic()
            response = own.get(path, params=params, timeout=30)
            return response, asked, time.monotonic()

    def post_while_read_waits(change: dict, path: str, **params) -> httpx.Response:
        with ThreadPoolExecutor(max_workers=1) as reader:
            waiting = reader.submit(read_waiting, path, **params, wait=10)
            time.sleep(0.5)  # the read is waiting when the record is posted
            posted = time.monotonic()
            post(http, change)
            response, asked, answered = waiting.result()
        # asked before the post, answered once the change was visible, not at the wait's end
        assert asked < posted <= answered < asked + 5
        return response

    created = post_while_read_waits(account(record, Industry="Waiting"), "/clients", **lookup)
    assert created.status_code == 200, created.text
    assert created.json()["version"] == 1 and created.json()["industry"] == "Waiting"

    record_path = f"/clients/{created.json()['aggregate_id']}"
    updated = post_while_read_waits(account(record, step=1, Industry="Waited"), record_path,
                                    min_version=2)
    assert updated.status_code == 200, updated.text
    assert updated.json()["version"] == 2 and updated.json()["industry"] == "Waited"

    # a version not reached within the wait: the record as it stands, after the wait
    stale, asked, answered = read_waiting(record_path, min_version=3, wait=0.3)
    assert stale.status_code == 200 and stale.json()["version"] == 2
    assert answered - asked >= 0.3
    missing, asked, answered = read_waiting("/clients", provider="salesforce",
                                            external_id=f"001NONE{tag()}", wait=0.3)
    assert missing.status_code == 404 and answered - asked >= 0.3


@pytest.mark.parametrize(("params", "reason"), [
    ({"wait": "soon"}, "wait must be a number of seconds"),
    ({"wait": "11"}, "wait must be between 0 and 10 seconds"),
    ({"wait": "-1"}, "wait must be between 0 and 10 seconds"),
    ({"min_version": "0"}, "min_version must be at least 1"),
    ({"min_version": "two"}, "min_version must be an integer"),
])
def test_waiting_reads_refuse_what_they_cannot_wait_for(http, params, reason):
    lookup = http.get("/clients", params={"provider": "salesforce", "external_id": "001X",
                                          **params})
    by_id = http.get(f"/clients/{uuid.uuid4()}", params=params)

    for response in (lookup, by_id):
        assert response.status_code == 400 and reason in response.text, response.text
    listing = http.get("/clients", params={"wait": "1"})
    assert listing.status_code == 400 and "go with a lookup" in listing.text


@pytest.mark.parametrize(("path", "params", "reason"), [
    ("/clients/{id}", {"limit": "5"}, "unknown parameters"),
    ("/clients/{id}", {"min_version": "1", "wait": "0.1", "extra": "1"}, "unknown parameters"),
    ("/clients", {"provider": "salesforce", "external_id": "001X", "limit": "abc"},
     "a lookup by provider and external_id takes"),
    ("/clients", {"limit": "\uff15"}, "limit must be an integer"),  # a full-width 5
    ("/clients", {"limit": "1_0"}, "limit must be an integer"),
    ("/clients", {"limit": "501"}, "limit must be between 1 and 500"),
    ("/clients", {"limit": ["5", "abc"]}, "given more than once"),
    ("/clients", {"scope": "everything"}, "scope must be"),
    ("/views/clients-by-status", {"unknown": "1"}, "unknown parameters"),
    ("/views/clients-by-status", {"wait": "1"}, "unknown parameters"),
    ("/projections", {"unknown": "1"}, "unknown parameters"),
    ("/clients", {"provider": "salesforce", "external_id": "001X", "wait": "nan"},
     "wait must be a number of seconds"),
    ("/clients", {"provider": "salesforce", "external_id": "001X", "wait": "1e1"},
     "wait must be a number of seconds"),
    ("/aggregates/{id}/events", {"after": "2147483648"}, "after must be between"),
    ("/aggregates/{id}/events", {"after": "9" * 30}, "after must be an integer"),
])
def test_every_read_refuses_a_query_it_does_not_understand(http, path, params, reason):
    response = http.get(path.format(id=uuid.uuid4()), params=params)

    assert response.status_code == 400 and reason in response.json()["error"], response.text


def test_projections_answer_for_one_projection_when_asked(http):
    report = http.get("/projections", params={"projection": "clients"}).json()["projections"]
    assert list(report) == ["clients"] and report["clients"]["table"].startswith("clients")
    unknown = http.get("/projections", params={"projection": "nope"})
    assert unknown.status_code == 404 and "clients" in unknown.json()["error"]


def test_an_aggregate_id_in_another_uuid_form_reads_the_same_history(http):
    record = f"001UID{tag()}"
    post(http, account(record))
    aggregate_id = at_version(http, "clients", record, 1)["aggregate_id"]
    for form in (aggregate_id.upper(), f"urn:uuid:{aggregate_id}", aggregate_id.replace("-", "")):
        answer = http.get(f"/aggregates/{form}/events")
        assert answer.status_code == 200, (form, answer.text)
        assert answer.json()["aggregate_id"] == aggregate_id
        assert [e["version"] for e in answer.json()["events"]] == [1]


def test_a_record_read_by_another_form_of_its_id_is_redirected_to_the_id(http):
    record = f"001UID{tag()}"
    post(http, account(record))
    aggregate_id = at_version(http, "clients", record, 1)["aggregate_id"]
    for form in (aggregate_id.upper(), f"urn:uuid:{aggregate_id}", aggregate_id.replace("-", "")):
        answer = http.get(f"/clients/{form}", params={"min_version": "1", "wait": "1"})
        assert answer.status_code == 308, (form, answer.text)
        assert answer.headers["Location"] == (
            f"/clients/{aggregate_id}?min_version=1&wait=1"), answer.headers
        followed = http.get(f"/clients/{form}", follow_redirects=True)
        assert followed.status_code == 200 and followed.json()["aggregate_id"] == aggregate_id
    assert http.get("/clients/not-an-id").status_code == 404


def test_lists_filter_by_status_and_industry_and_page_with_a_cursor(http):
    industry = f"Ind-{tag()}"
    records = [f"001LIST{tag()}" for _ in range(5)]
    for number, record in enumerate(records):
        post(http, account(record, Industry=industry,
                           Status__c="Active" if number < 3 else "Prospect"))
    wait_for(lambda: http.get("/clients", params={"industry": industry}).json()["total"] == 5,
             timeout=20)

    first = http.get("/clients", params={"industry": industry, "limit": 2}).json()
    second = http.get("/clients", params={"industry": industry, "limit": 2,
                                          "after": first["next"]}).json()
    third = http.get("/clients", params={"industry": industry, "limit": 2,
                                         "after": second["next"]}).json()
    active = http.get("/clients", params={"industry": industry, "status": "Active"}).json()

    pages = [item["external_ids"]["salesforce"] for p in (first, second, third)
             for item in p["items"]]
    assert sorted(pages) == sorted(records) and len(set(pages)) == 5
    assert (first["total"], len(first["items"]), third["next"]) == (5, 2, None)
    assert active["total"] == 3 and {i["status"] for i in active["items"]} == {"Active"}
    assert http.get("/clients", params={"colour": "red"}).status_code == 400


def test_lists_leave_deleted_records_out_when_asked(http):
    industry = f"Ind-{tag()}"
    kept, deleted = f"001KEEP{tag()}", f"001GONE{tag()}"
    for record in (kept, deleted):
        post(http, account(record, Industry=industry))
    deletion = account(deleted, step=1)
    deletion["detail"]["payload"] = {"ChangeEventHeader": {
        **deletion["detail"]["payload"]["ChangeEventHeader"], "changeType": "DELETE",
        "changedFields": []}}
    post(http, deletion)
    at_version(http, "clients", deleted, 2)

    def listed(**params) -> list[str]:
        page = http.get("/clients", params={"industry": industry, **params}).json()
        assert page["total"] == len(page["items"])
        return sorted(item["external_ids"]["salesforce"] for item in page["items"])

    assert listed() == sorted([kept, deleted])
    assert listed(deleted="false") == [kept]
    assert listed(deleted="true") == [deleted]


def test_aggregate_views_count_clients_and_add_up_deal_amounts(http):
    industry, stage = f"Seg-{tag()}", f"Stage-{tag()}"
    clients = [f"001SEG{tag()}" for _ in range(3)]
    for record in clients:
        post(http, account(record, Industry=industry))
    deals = [f"006DEAL{tag()}" for _ in range(3)]
    for record, amount in zip(deals, (1000.25, 2000.5, 0.25), strict=True):
        post(http, opportunity(record, stage, amount))
    post(http, account(clients[0], step=1, Industry=f"{industry}-moved"))

    wait_for(lambda: view_rows(http, "deals-by-stage", stage=stage) == [
        {"stage": stage, "count": 3, "amount": 3001.0}], timeout=20)
    wait_for(lambda: view_rows(http, "clients-by-industry", industry=f"{industry}-moved"),
             timeout=20)

    assert view_rows(http, "clients-by-industry", industry=industry) == [
        {"industry": industry, "count": 2}]
    assert view_rows(http, "clients-by-industry", industry=f"{industry}-moved") == [
        {"industry": f"{industry}-moved", "count": 1}]
    deal = at_version(http, "deals", deals[0], 1)
    assert (deal["stage"], deal["amount"]) == (stage, 1000.25)


def test_duplicate_and_out_of_order_domain_events_change_nothing(http, service, broker_url):
    industry, record = f"Dup-{tag()}", f"001DUP{tag()}"
    post(http, account(record, Industry=industry, Status__c="Active"))
    post(http, account(record, step=1, Status__c="Prospect"))
    view = at_version(http, "clients", record, 2)
    history = http.get(f"/aggregates/{view['aggregate_id']}/events").json()["events"]

    asyncio.run(inject(broker_url, service.topics["domain_events"],
                       [history[1], history[0], history[1], history[0]]))
    post(http, account(record, step=2, NumberOfEmployees=7))  # after the injected ones
    after = at_version(http, "clients", record, 3)

    assert after["version"] == 3 and after["status"] == "Prospect"
    assert after["fields"]["employees"] == 7 and after["industry"] == industry
    assert view_rows(http, "clients-by-industry", industry=industry) == [
        {"industry": industry, "count": 1}]


def test_the_audit_history_comes_in_pages_of_versions(http):
    record = f"001AUD{tag()}"
    post(http, account(record))
    for step in range(1, 5):
        post(http, account(record, step=step, NumberOfEmployees=step))
    aggregate_id = at_version(http, "clients", record, 5)["aggregate_id"]
    path = f"/aggregates/{aggregate_id}/events"

    def page(**params) -> dict:
        response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    whole = page()
    assert [e["version"] for e in whole["events"]] == [1, 2, 3, 4, 5]
    assert (whole["limit"], whole["next"]) == (1000, None)
    pages, after = [], 0
    while after is not None:
        answer = page(after=after, limit=2)
        pages.append([e["version"] for e in answer["events"]])
        after = answer["next"]
    assert pages == [[1, 2], [3, 4], [5]]
    assert [e for p in (page(limit=2, after=a)["events"] for a in (0, 2, 4)) for e in p] == \
        whole["events"]
    assert page(after=5)["events"] == [] and page(after=99, limit=3)["next"] is None
    assert http.get(f"/aggregates/{uuid.uuid4()}/events", params={"after": 3}).status_code == 404
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "all"}, {"after": -1},
                {"after": "x"}, {"version": 2}):
        response = http.get(path, params=bad)
        assert response.status_code == 400 and response.json()["error"], bad


def test_domain_events_the_projections_cannot_read_are_skipped_and_counted(
        http, service, broker_url):
    industry, record = f"Odd-{tag()}", f"001ODD{tag()}"
    post(http, account(record, Industry=industry))
    view = at_version(http, "clients", record, 1)
    skipped_before = skipped(http)
    history = http.get(f"/aggregates/{view['aggregate_id']}/events").json()["events"]
    unreadable = [b"[1, 2]", b'"text"', b"{not json", orjson.dumps({**history[0], "version": "1"}),
                  orjson.dumps({k: v for k, v in history[0].items() if k != "aggregate_type"}),
                  orjson.dumps({**history[0], "metadata": "none"})]
    asyncio.run(send_records(broker_url, service.topics["domain_events"],
                             [(view["aggregate_id"], value) for value in unreadable]))
    post(http, account(record, step=1, NumberOfEmployees=12))  # after them, same partition

    assert at_version(http, "clients", record, 2)["fields"]["employees"] == 12
    assert wait_for(lambda: skipped(http) - skipped_before == len(unreadable), timeout=10)


def skipped(http: httpx.Client) -> float:
    return sum(sample.value for family in text_string_to_metric_families(http.get(
        "/metrics").text) if family.name == "crm_projection_events_skipped"
        for sample in family.samples if sample.name.endswith("_total"))


def test_a_lost_publish_is_detected_as_a_gap_and_repaired_from_the_event_store(
        http, service, module_database):
    industry, record = f"Gap-{tag()}", f"001GAP{tag()}"
    post(http, account(record, Industry=industry))
    view = at_version(http, "clients", record, 1)
    asyncio.run(append_unpublished(module_database, view, {"industry": f"{industry}-stored"}))

    post(http, account(record, step=3, NumberOfEmployees=42))  # version 3: the agent has 1
    repaired = at_version(http, "clients", record, 3)

    assert repaired["industry"] == f"{industry}-stored" and repaired["fields"]["employees"] == 42
    assert view_rows(http, "clients-by-industry", industry=industry) == []
    assert view_rows(http, "clients-by-industry", industry=f"{industry}-stored") == [
        {"industry": f"{industry}-stored", "count": 1}]
    assert "repairing from the event store" in service.log()


def test_projections_report_their_position_and_no_lag_once_caught_up(http, module_database):
    last = asyncio.run(max_position(module_database))

    report = wait_for(lambda: (r := http.get("/projections").json()["projections"])
                      and r["clients"]["last_position"] == last.get("client")
                      and r["clients"]["consumer_lag"] == 0 and r, timeout=20)

    assert report["clients"]["store_events_after"] == 0
    assert report["deals"]["last_position"] == last["deal"]
    assert report["clients"]["generation"] == 1 and report["clients"]["table"] == "clients-g1"
    assert set(report["clients"]["partitions"]) == {"0", "1", "2", "3"}


def test_values_are_equal_after_a_restart_from_the_local_store_and_changelog(http, service):
    before = everything(http)

    service.restart()

    with service.client() as fresh:
        wait_for(lambda: fresh.get("/clients").status_code == 200
                 and everything(fresh) == before, timeout=30)
    assert any(Path(service.data_dir, "faust").rglob("*.sst")) or any(
        Path(service.data_dir, "faust").rglob("CURRENT")), "no RocksDB files under DATA_DIR"
    assert sum(len(before[c]) for c in ("clients", "deals")) >= 10


def test_values_are_equal_after_a_restart_from_the_changelog_alone(http, service):
    """The projection agent writes the changelog itself (one round per batch): what it wrote
    there is the whole table."""
    before = everything(http)
    post(http, account(f"001CL{tag()}", Industry="Energy"))
    wait_for(lambda: everything(http) != before, timeout=30)
    before = everything(http)

    service.stop()
    shutil.rmtree(service.data_dir / "faust")
    service.start()

    with service.client() as fresh:
        wait_for(lambda: fresh.get("/clients").status_code == 200
                 and everything(fresh) == before, timeout=30)
    assert sum(len(before[c]) for c in ("clients", "deals")) >= 10


def test_a_rebuilt_generation_equals_the_live_one_and_catches_up_after_its_build(
        http, service):
    served_during = []
    rebuild = subprocess.Popen(
        [sys.executable, "-m", "app", "projections", "rebuild", "clients"], env=service.env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while rebuild.poll() is None:
        served_during.append(http.get("/clients", params={"limit": 1}).status_code)
        time.sleep(0.05)
    output = rebuild.stdout.read()
    assert rebuild.returncode == 0, output
    assert "generation 2 built" in output and "events/s" in output
    assert served_during and set(served_during) == {200}

    late = f"001LATE{tag()}"  # recorded after the rebuild: only generation 1 has it
    post(http, account(late, Industry="Late"))
    at_version(http, "clients", late, 1)
    live = everything(http)

    service.restart()

    with service.client() as fresh:
        wait_for(lambda: fresh.get("/clients").status_code == 200
                 and everything(fresh) == live, timeout=30)
        report = fresh.get("/projections").json()["projections"]
    assert report["clients"]["generation"] == 2 and report["clients"]["table"] == "clients-g2"
    assert report["deals"]["generation"] == 1  # only the rebuilt projection moved on
    assert "generation 2 is live; republished" in service.log()


async def inject(broker_url: str, topic: str, messages: list[dict]) -> None:
    """Domain events written to the topic as the publisher would, keyed by aggregate id."""
    await send_records(broker_url, topic,
                       [(message["aggregate_id"], orjson.dumps(message)) for message in messages])


async def send_records(broker_url: str, topic: str, records: list[tuple[str, bytes]]) -> None:
    """(key, value) records written to the topic in order, whatever they hold."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, key=key.encode(), value=value)
    finally:
        await producer.stop()


async def append_unpublished(dsn: str, view: dict, data: dict) -> None:
    """Version 2 stored but never published (its outbox row is gone, as if relayed)."""
    pool = await create_pool(dsn, min_size=1, max_size=2)
    try:
        store = PostgresEventStore(pool)
        external_id = view["external_ids"]["salesforce"]
        metadata = EventMetadata("corr", f"lost-{external_id}", "salesforce", external_id,
                                 f"lost-{external_id}", "tx-lost", 1, COMMIT_MS + 1500, "test")
        event = Updated(aggregate_id=view["aggregate_id"], aggregate_type="client", version=2,
                        occurred_at=datetime.fromtimestamp((COMMIT_MS + 1500) / 1000, UTC),
                        data=data, metadata=metadata)
        stored = await store.append(view["aggregate_id"], [event], expected_version=1)
        await store.mark_published([s.position for s in stored])
    finally:
        await pool.close()


async def max_position(dsn: str) -> dict[str, int]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT aggregate_type, max(position) FROM events GROUP BY aggregate_type")
        return {row[0]: row[1] for row in rows}
    finally:
        await connection.close()
