"""The Salesforce record reader against a real HTTPS server: simple-salesforce's own requests,
its error handling, our retries and timeouts, and the event loop left free while it waits."""

from __future__ import annotations

import asyncio
import time

import pytest
from fake_salesforce import FakeSalesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceGeneralError

from app.salesforce_client import SalesforceRecordReader
from app.settings import Settings

TIMEOUT_S = 0.4
MAX_RETRIES = 2
ACME = {"Name": "Acme Corporation", "Industry": "Aerospace",
        "BillingAddress": {"city": "London", "postalCode": "EC1A 1BB"}}


@pytest.fixture(scope="module")
def salesforce():
    with FakeSalesforce(api_version="64.0", session_id="x") as fake:
        yield fake


@pytest.fixture
def reader(salesforce, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", salesforce.ca_file)  # trust the fake's certificate
    return reader_for(salesforce)


def reader_for(salesforce: FakeSalesforce, session_id: str = "x") -> SalesforceRecordReader:
    return SalesforceRecordReader(Settings(
        salesforce_instance_url=salesforce.url, salesforce_session_id=session_id,
        salesforce_api_version="64.0", salesforce_timeout_s=TIMEOUT_S,
        salesforce_max_retries=MAX_RETRIES))


async def test_a_record_is_read_by_id_with_the_session_id(salesforce, reader):
    salesforce.put("Account", "001READ0000000001", ACME)

    record = await reader.fetch_record("Account", "001READ0000000001")

    assert record == {
        "attributes": {"type": "Account",
                       "url": "/services/data/v64.0/sobjects/Account/001READ0000000001"},
        "Id": "001READ0000000001", **ACME,
    }
    [call] = [c for c in salesforce.calls if c.record_id == "001READ0000000001"]
    assert call.path == "/services/data/v64.0/sobjects/Account/001READ0000000001"
    assert call.authorization == "Bearer x" and call.status == 200


async def test_an_unknown_record_is_none_and_not_retried(salesforce, reader):
    assert await reader.fetch_record("Contact", "003MISSING0000001") is None
    assert salesforce.calls_for("Contact", "003MISSING0000001") == 1


async def test_503_then_success_is_retried_until_it_succeeds(salesforce, reader):
    salesforce.put("Account", "001RETRY000000001", ACME)
    salesforce.fail(2, status=503, record_id="001RETRY000000001")

    record = await reader.fetch_record("Account", "001RETRY000000001")

    assert record["Name"] == "Acme Corporation"
    statuses = [c.status for c in salesforce.calls if c.record_id == "001RETRY000000001"]
    assert statuses == [503, 503, 200]


async def test_a_persistent_503_raises_after_the_configured_retries(salesforce, reader):
    salesforce.put("Account", "001DOWN0000000001", ACME)
    salesforce.fail(10, status=503, record_id="001DOWN0000000001")

    with pytest.raises(SalesforceGeneralError) as raised:
        await reader.fetch_record("Account", "001DOWN0000000001")

    assert raised.value.status == 503
    assert salesforce.calls_for("Account", "001DOWN0000000001") == MAX_RETRIES + 1


async def test_a_timed_out_request_is_retried(salesforce, reader):
    salesforce.put("Deal", "006SLOW0000000001", {"Name": "Big deal"})
    salesforce.delay(1, TIMEOUT_S * 5, record_id="006SLOW0000000001")

    started = time.monotonic()
    record = await reader.fetch_record("Deal", "006SLOW0000000001")

    assert record["Name"] == "Big deal"
    assert salesforce.calls_for("Deal", "006SLOW0000000001") == 2
    assert time.monotonic() - started < TIMEOUT_S * 5  # gave up on the slow answer


async def test_a_rejected_session_is_not_retried(salesforce, reader):
    rejected = reader_for(salesforce, session_id="expired")
    with pytest.raises(SalesforceExpiredSession):
        await rejected.fetch_record("Account", "001AUTH0000000001")
    assert salesforce.calls_for("Account", "001AUTH0000000001") == 1


async def test_a_record_id_cannot_reach_another_api_path(salesforce, reader):
    assert await reader.fetch_record("Account", "../query?q=SELECT Id FROM User") is None
    [call] = [c for c in salesforce.calls if c.path.startswith("/services/data/v64.0/sobjects"
                                                               "/Account/..")]
    assert call.path == ("/services/data/v64.0/sobjects/Account/"
                         "..%2Fquery%3Fq%3DSELECT%20Id%20FROM%20User")


async def test_the_event_loop_keeps_running_while_a_response_is_slow(salesforce, reader):
    salesforce.put("Account", "001LOOP0000000001", ACME)
    slow_s = TIMEOUT_S * 0.75
    salesforce.delay(1, slow_s, record_id="001LOOP0000000001")
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        record = await reader.fetch_record("Account", "001LOOP0000000001")
    finally:
        ticker.cancel()

    assert record["Name"] == "Acme Corporation"
    assert salesforce.calls_for("Account", "001LOOP0000000001") == 1  # one slow answer
    assert ticks >= slow_s / 0.01 / 2  # a blocked loop would not tick at all
