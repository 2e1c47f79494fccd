"""What the service cannot record lands on the dead-letter topic, with its stage, its reasons and
the original bytes, and the inbound partition keeps moving past it."""

from __future__ import annotations

import asyncio
import base64
import copy
import uuid
from collections.abc import Callable

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from service_process import load_sample, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(salesforce_service):
    with salesforce_service.client() as client:
        yield client


class DeadLetters:
    """Every record on the dead-letter topic, read from its start."""

    def __init__(self, consumer: AIOKafkaConsumer):
        self.consumer = consumer
        self.records: list[dict] = []

    async def find(self, matches: Callable[[dict], bool], timeout: float = 20.0) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            found = [record for record in self.records if matches(record)]
            if found:
                assert len(found) == 1, found
                return found[0]
            batches = await self.consumer.getmany(timeout_ms=200)
            self.records += [orjson.loads(m.value) for batch in batches.values() for m in batch]
        raise AssertionError(f"no such dead letter within {timeout}s; read {self.records}")


@pytest.fixture(scope="module")
async def dead_letters(broker_url, salesforce_service):
    consumer = AIOKafkaConsumer(
        salesforce_service.topics["dead_letter"],
        bootstrap_servers=broker_url.removeprefix("kafka://").split(";"),
        auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100,
    )
    await consumer.start()
    yield DeadLetters(consumer)
    await consumer.stop()


def post(http, envelope: dict) -> bytes:
    body = orjson.dumps(envelope)
    response = http.post("/events/salesforce/", content=body,
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    return body


def for_record(name: str, record_id: str) -> dict:
    """A sample moved to another record (and given its own event id)."""
    envelope = copy.deepcopy(load_sample(name))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    return envelope


def client_view(http, external_id: str) -> dict | None:
    response = http.get("/clients", params={"provider": "salesforce", "external_id": external_id})
    return response.json() if response.status_code == 200 else None


def event_id_is(envelope: dict) -> Callable[[dict], bool]:
    return lambda record: record["source_event_id"].startswith(f"salesforce:{envelope['id']}:")


async def test_gap_overflow_asks_for_a_resync_of_the_whole_object(
        http, salesforce_service, dead_letters):
    envelope = load_sample("account_gap_overflow")
    body = post(http, envelope)

    letter = await dead_letters.find(event_id_is(envelope))

    assert letter["stage"] == "resync"
    assert letter["source_event_id"] == f"salesforce:{envelope['id']}:*"
    assert "GAP_OVERFLOW" in letter["reason"] and "every Account record" in letter["reason"]
    assert base64.b64decode(letter["original_b64"]) == body
    assert letter["origin"]["topic"] == salesforce_service.topics["inbound"]


async def test_an_unmapped_entity_is_refused_with_its_reasons_and_the_partition_moves_on(
        http, salesforce_service, dead_letters):
    record_id = "00QE2E00000LEAD1AA"
    lead = for_record("account_update", record_id)
    lead["detail-type"] = "LeadChangeEvent"
    lead["detail"]["payload"]["ChangeEventHeader"]["entityName"] = "Lead"
    body = post(http, lead)
    # The same record id is the same partition key: the valid event queues behind the refused one.
    post(http, for_record("account_create", record_id))

    letter = await dead_letters.find(event_id_is(lead))

    assert letter["stage"] == "validation"
    assert letter["problems"] == [{
        "stage": "business", "field": "entityName",
        "message": "'Lead' is not mapped (Account, Contact, Opportunity)",
    }]
    assert "'Lead' is not mapped" in letter["reason"]
    assert base64.b64decode(letter["original_b64"]) == body
    assert letter["origin"]["key"] == record_id
    assert letter["correlation_id"]
    account = wait_for(lambda: client_view(http, record_id), timeout=15)
    assert account["name"] == "Acme Corporation"


async def test_a_salesforce_outage_parks_the_change_that_needed_it(
        http, salesforce, dead_letters):
    deal_id = "006E2E0000OUTAGEAA"
    salesforce.put("Opportunity", deal_id, {"Name": "Unreachable deal"})
    salesforce.fail(10, status=503, record_id=deal_id)
    update = for_record("opportunity_update", deal_id)
    post(http, update)

    letter = await dead_letters.find(event_id_is(update))

    assert letter["stage"] == "crm"
    assert f"reading Opportunity {deal_id} from salesforce failed" in letter["reason"]
    assert salesforce.calls_for("Opportunity", deal_id) == 2  # SALESFORCE_MAX_RETRIES=1


async def test_a_change_to_a_record_salesforce_never_had_is_a_domain_dead_letter(
        http, salesforce, dead_letters):
    contact_id = "003E2E0000NOSUCHAA"
    update = for_record("contact_mass_update", contact_id)
    post(http, update)

    letter = await dead_letters.find(event_id_is(update))

    assert letter["stage"] == "domain"
    assert "record never seen and not found in the CRM" in letter["reason"]
    assert salesforce.calls_for("Contact", contact_id) == 1


async def test_undecodable_bytes_on_the_inbound_topic_are_parked_and_the_partition_moves_on(
        http, salesforce_service, broker_url, dead_letters):
    """Not every producer is the bridge: garbage written straight to the topic is parked whole."""
    record_id = "001E2E00000POISONA"
    garbage = b"\xff\xfe{not json at all"
    await write_straight(broker_url, salesforce_service.topics["inbound"], record_id, garbage)
    post(http, for_record("account_create", record_id))  # same key: queued behind the garbage

    letter = await dead_letters.find(lambda record: record["stage"] == "decode"
                                     and record["origin"]["key"] == record_id)

    assert "undecodable message" in letter["reason"]
    assert base64.b64decode(letter["original_b64"]) == garbage
    account = await asyncio.to_thread(wait_for, lambda: client_view(http, record_id), 15)
    assert account["name"] == "Acme Corporation"


async def test_a_record_without_a_value_is_parked_and_the_partition_moves_on(
        http, salesforce_service, broker_url, dead_letters):
    """A tombstone (a null value) on the inbound topic: parked as undecodable, nothing to
    replay; it once crashed the agent while being parked, and the offsets moved past it."""
    record_id = "001E2E00000NULLVALU"
    await write_straight(broker_url, salesforce_service.topics["inbound"], record_id, None)
    post(http, for_record("account_create", record_id))  # same key: queued behind it

    letter = await dead_letters.find(lambda record: record["stage"] == "decode"
                                     and record["origin"]["key"] == record_id)

    assert "undecodable message" in letter["reason"] and letter["original_b64"] is None
    account = await asyncio.to_thread(wait_for, lambda: client_view(http, record_id), 15)
    assert account["name"] == "Acme Corporation"


async def write_straight(broker_url: str, topic: str, record_id: str, value: bytes | None) -> None:
    """A record written to an inbound topic by a producer that is not the bridge."""
    producer = AIOKafkaProducer(bootstrap_servers=broker_url.removeprefix("kafka://").split(";"),
                                acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=record_id.encode(),
                                     headers=[("provider", b"salesforce")])
    finally:
        await producer.stop()
