"""The HubSpot record reader against a real HTTP server speaking HubSpot's CRM API: the request
it sends, 404 as deleted, retries on server errors and rate limiting, no retry on bad auth."""

from __future__ import annotations

import pytest
from fake_hubspot import FakeHubSpot

from app.hubspot_client import HubSpotAPIError, HubSpotRecordReader
from app.settings import Settings
from domain.providers.hubspot import HubSpotAdapter
from domain.providers.hubspot_properties import COMPANY

TOKEN = "pat-eu1-test-token"
GLOBEX = {"name": "Globex Industries", "industry": "MACHINERY", "numberofemployees": "420",
          "city": "Springfield", "hs_lastmodifieddate": "2025-11-24T09:00:00.120Z"}


@pytest.fixture(scope="module")
def hubspot():
    with FakeHubSpot(access_token=TOKEN) as fake:
        fake.put("companies", "18342789012", GLOBEX)
        yield fake


@pytest.fixture
async def reader(hubspot):
    reader = reader_for(hubspot, TOKEN)
    yield reader
    await reader.close()


def reader_for(hubspot: FakeHubSpot, token: str) -> HubSpotRecordReader:
    return HubSpotRecordReader(Settings(
        hubspot_access_token=token, hubspot_api_url=hubspot.url, hubspot_timeout_s=2,
        hubspot_max_retries=2))


async def test_reads_a_record_with_every_mapped_property_by_bearer_token(reader, hubspot):
    before = len(hubspot.calls_for("companies", "18342789012"))

    record = await reader.fetch_record("company", "18342789012")

    assert record["id"] == "18342789012"
    assert record["properties"]["name"] == "Globex Industries"
    [call] = hubspot.calls_for("companies", "18342789012")[before:]
    assert call.authorization == f"Bearer {TOKEN}"
    assert set(call.properties) == set(COMPANY.readers)
    mapped = HubSpotAdapter().map_record("company", record)
    assert (mapped["name"], mapped["employees"], mapped["billing_address.city"]) == (
        "Globex Industries", 420, "Springfield")
    assert mapped["website"] is None  # asked for, unset in HubSpot


async def test_an_unknown_or_archived_record_is_none(reader):
    assert await reader.fetch_record("contact", "999999") is None


async def test_server_errors_and_rate_limiting_are_retried(reader, hubspot):
    hubspot.fail_next(503, 429)

    record = await reader.fetch_record("company", "18342789012")

    assert record["properties"]["industry"] == "MACHINERY"
    assert [c.status for c in hubspot.calls_for("companies", "18342789012")][-3:] == [
        503, 429, 200]


async def test_gives_up_after_the_configured_retries(reader, hubspot):
    hubspot.fail_next(500, 502, 503)

    with pytest.raises(HubSpotAPIError, match="answered 503"):
        await reader.fetch_record("company", "18342789012")


async def test_a_refused_token_is_not_retried(hubspot):
    reader = reader_for(hubspot, "revoked")
    before = len(hubspot.calls_for("companies", "18342789012"))
    try:
        with pytest.raises(HubSpotAPIError, match="answered 401"):
            await reader.fetch_record("company", "18342789012")
    finally:
        await reader.close()
    assert len(hubspot.calls_for("companies", "18342789012")) == before + 1


async def test_an_unreachable_api_is_retried_then_raised(hubspot):
    reader = HubSpotRecordReader(Settings(
        hubspot_access_token=TOKEN, hubspot_api_url="http://127.0.0.1:9", hubspot_timeout_s=1,
        hubspot_max_retries=1))
    try:
        with pytest.raises(OSError):
            await reader.fetch_record("company", "18342789012")
    finally:
        await reader.close()
