"""At-least-once, out-of-order delivery over HTTP: every EventBridge event of a record's stream
posted three times, the fifteen posts shuffled, ends in the same record as the stream posted once
and in order (the reference), with each change recorded once."""

from __future__ import annotations

import collections
import copy
import random
import uuid

import pytest
from service_process import load_sample, wait_for

BASE_MS = 1_763_800_000_000
SHUFFLED_RECORDS = 8
DELIVERIES = 3
# Each UPDATE carries only what it changed, as Salesforce sends it: a late older change still
# holds the only copy of its fields' values.
UPDATES = [
    ({"Industry": "Aerospace"}, []),
    ({"Phone": "+44 20 7946 0000"}, ["Website"]),
    ({"NumberOfEmployees": 6100, "Status__c": "Active"}, []),
    ({"Industry": "Defence", "AnnualRevenue": 150000000.0}, []),
]


@pytest.fixture(scope="module")
def salesforce_settings(salesforce):
    return salesforce.service_settings(quick_failures=False)


def record_stream(record_id: str) -> list[dict]:
    """The record's CREATE then its UPDATEs, each a distinct EventBridge event."""
    create = copy.deepcopy(load_sample("account_create"))
    stream = [create]
    for fields, nulled in UPDATES:
        update = copy.deepcopy(load_sample("account_update"))
        payload = update["detail"]["payload"]
        header = payload["ChangeEventHeader"]
        for name in ("Industry", "NumberOfEmployees", "LastModifiedDate"):
            payload.pop(name)
        payload.update(fields)
        header.update(changedFields=[*fields, *nulled], nulledFields=nulled)
        stream.append(update)
    for step, envelope in enumerate(stream):
        envelope["id"] = str(uuid.uuid4())
        header = envelope["detail"]["payload"]["ChangeEventHeader"]
        header.update(recordIds=[record_id], commitTimestamp=BASE_MS + step * 1000,
                      transactionKey=f"tx-{record_id}-{step}")
    return stream


def crm_copy(stream: list[dict]) -> dict:
    """What Salesforce's REST API returns once every change of the stream is committed."""
    record: dict = {}
    for envelope in stream:
        payload = dict(envelope["detail"]["payload"])
        header = payload.pop("ChangeEventHeader")
        record.update(payload)
        record.update(dict.fromkeys(header["nulledFields"]))
    return record


def delivery_order(rng: random.Random, stream: list[dict], *, create_first: bool) -> list[dict]:
    """Every event DELIVERIES times, shuffled. With `create_first` the CREATE comes first, then
    the UPDATEs out of order: late changes meet a record that knows newer ones. Without, the
    first change is usually an UPDATE, which makes the service read the CRM's copy."""
    order = [envelope for envelope in stream for _ in range(DELIVERIES)]
    rng.shuffle(order)
    if create_first:
        order.remove(stream[0])
        order.insert(0, stream[0])
    return order


def interleave(rng: random.Random, orders: list[list[dict]]) -> list[dict]:
    """The records' deliveries mixed at random, each record's own order kept."""
    pending = [list(order) for order in orders]
    mixed = []
    while any(pending):
        mixed.append(rng.choice([order for order in pending if order]).pop(0))
    return mixed


def view(http, record_id: str) -> dict | None:
    response = http.get("/clients", params={"provider": "salesforce", "external_id": record_id})
    return response.json() if response.status_code == 200 else None


def state(view: dict) -> dict:
    return {key: view[key] for key in ("name", "industry", "status", "deleted", "fields")}


def test_triplicated_shuffled_deliveries_end_in_the_in_order_state(salesforce_service, salesforce):
    rng = random.Random(20261127)
    reference_id = "001ORDER0000REFAAA"
    shuffled_ids = [f"001ORDER000{n:04d}SHF" for n in range(SHUFFLED_RECORDS)]
    streams = {record_id: record_stream(record_id) for record_id in [reference_id, *shuffled_ids]}
    for record_id, stream in streams.items():
        salesforce.put("Account", record_id, crm_copy(stream))
    deliveries = interleave(rng, [delivery_order(rng, streams[record_id], create_first=n % 2 == 0)
                                  for n, record_id in enumerate(shuffled_ids)])

    with salesforce_service.client() as http:
        for envelope in streams[reference_id]:
            assert http.post("/events/salesforce/", json=envelope).status_code == 202
        reference = wait_for(lambda: (v := view(http, reference_id)) and v["version"] == 5
                             and v, timeout=30)
        assert reference["industry"] == "Defence" and "website" in reference["fields"]
        assert reference["fields"]["website"] is None
        for envelope in deliveries:
            assert http.post("/events/salesforce/", json=envelope).status_code == 202

        finals = {record_id: wait_for(lambda r=record_id: (v := view(http, r)) and
                                      state(v) == state(reference) and v, timeout=30)
                  for record_id in shuffled_ids}
        recorded_twice = 0
        for record_id, final in finals.items():
            history = http.get(f"/aggregates/{final['aggregate_id']}/events").json()["events"]
            sources = collections.Counter(e["metadata"]["source_event_id"] for e in history)
            # a change is recorded once; a first change that is not the CREATE also brings the
            # CRM's copy (Created), so its source event may name two events of one batch
            assert [e["event_type"] for e in history].count("Created") == 1
            assert len(sources) <= len(streams[record_id])
            recorded_twice += sum(n - 1 for source, n in sources.items()
                                  if n > 1 and history[0]["metadata"]["source_event_id"] != source)
        assert recorded_twice == 0
    print(f"\nredelivered x{DELIVERIES} and shuffled: {len(deliveries)} posts for "
          f"{SHUFFLED_RECORDS * len(UPDATES) + SHUFFLED_RECORDS} changes; every record equals the "
          "in-order one")
