"""Every HubSpot sample over HTTP, signed as HubSpot signs it, read back through the read API.

The service runs as a real process; HubSpot's CRM API is the local fake, which the service reads
when an event names a record without its properties (a creation, a restore, a first change).
"""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from fake_hubspot import FakeHubSpot
from service_process import ServiceProcess, wait_for
from webhook_samples import HUBSPOT_SECRET, hubspot_headers, hubspot_sample

pytestmark = pytest.mark.e2e

TOKEN = "pat-na1-e2e-token"
COMPANY_ID, DANA_ID, FOX_ID, DEAL_ID = "18342789012", "451", "452", "9817264501"
GLOBEX = {"name": "Globex Industries", "domain": "globex.example", "industry": "MACHINERY",
          "numberofemployees": "420", "annualrevenue": "52000000", "city": "Springfield",
          "country": "United States", "createdate": "2025-11-24T09:00:00.120Z",
          "hs_lastmodifieddate": "2025-11-24T09:00:00.120Z"}
DANA = {"firstname": "Dana", "lastname": "Scully", "email": "dana@globex.example",
        "associatedcompanyid": COMPANY_ID, "lastmodifieddate": "2025-11-24T10:02:11.500Z"}
FOX = {"firstname": "Fox", "lastname": "Mulder", "email": "fox@globex.example",
       "associatedcompanyid": COMPANY_ID, "lastmodifieddate": "2025-11-24T10:02:14.020Z"}
DEAL = {"dealname": "Globex - 200 turbines", "dealstage": "contractsent", "amount": "1250000",
        "closedate": "2025-12-15T00:00:00Z", "pipeline": "default",
        "hs_lastmodifieddate": "2025-11-24T14:00:00Z"}


@pytest.fixture(scope="module")
def hubspot():
    with FakeHubSpot(access_token=TOKEN) as fake:
        fake.put("companies", COMPANY_ID, GLOBEX)
        fake.put("contacts", DANA_ID, DANA)
        fake.put("contacts", FOX_ID, FOX)
        fake.put("deals", DEAL_ID, DEAL)
        yield fake


@pytest.fixture(scope="module")
def service(broker_url, module_database, hubspot):
    process = ServiceProcess(
        broker_url, module_database, HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET,
        HUBSPOT_ACCESS_TOKEN=TOKEN, HUBSPOT_API_URL=hubspot.url, HUBSPOT_TIMEOUT_S="2",
        HUBSPOT_MAX_RETRIES="1",
    ).start()
    yield process
    process.stop()


@pytest.fixture
def http(service):
    with service.client() as client:
        yield client


# -- helpers ----------------------------------------------------------------------------------


def post(http, service, events: list[dict], **signing) -> object:
    body = orjson.dumps(events)
    headers = hubspot_headers(f"{service.url}/events/hubspot/", body, **signing)
    return http.post("/events/hubspot/", content=body, headers=headers)


def accepted(http, service, events: list[dict]) -> None:
    response = post(http, service, events)
    assert response.status_code == 202, response.text
    assert response.json()["events"] == len(events)


def view(http, collection: str, external_id: str) -> dict | None:
    response = http.get(f"/{collection}", params={"provider": "hubspot",
                                                   "external_id": external_id})
    return response.json() if response.status_code == 200 else None


def view_at(http, collection: str, external_id: str, version: int) -> dict:
    found = wait_for(lambda: (v := view(http, collection, external_id))
                     and v["version"] >= version and v, timeout=15)
    assert found["version"] == version, found
    return found


def history(http, view: dict) -> list[dict]:
    return http.get(f"/aggregates/{view['aggregate_id']}/events").json()["events"]


def event_types(events: list[dict]) -> list[str]:
    return [event["event_type"] for event in events]


# -- the samples ------------------------------------------------------------------------------


def test_company_samples_create_the_client_from_the_api_then_apply_property_changes(
        http, service, hubspot):
    accepted(http, service, hubspot_sample("company_creation"))
    created = view_at(http, "clients", COMPANY_ID, 1)
    assert (created["name"], created["industry"]) == ("Globex Industries", "MACHINERY")
    assert created["fields"]["billing_address.city"] == "Springfield"
    assert created["fields"]["annual_revenue"] == 52000000
    assert len(hubspot.calls_for("companies", COMPANY_ID)) == 1

    # Two properties changed in the same millisecond: two events, both applied.
    accepted(http, service, hubspot_sample("company_property_change"))
    changed = view_at(http, "clients", COMPANY_ID, 3)
    assert changed["industry"] == "COMPUTER_SOFTWARE"
    assert changed["fields"]["employees"] == 450
    events = history(http, changed)
    assert event_types(events) == ["Created", "Updated", "Updated"]
    assert events[1]["metadata"]["source_event_id"] == "hubspot:3816281007-2404:18342789012"
    assert events[1]["metadata"]["change_origin"] == "CRM_UI"


def test_contact_samples_a_batch_of_two_records_then_change_delete_and_restore(
        http, service, hubspot):
    accepted(http, service, hubspot_sample("contact_batch"))
    dana = view_at(http, "contacts", DANA_ID, 2)
    assert event_types(history(http, dana)) == ["Created", "Updated"]
    assert (dana["first_name"], dana["last_name"]) == ("Dana", "Scully")
    assert dana["client_external_id"] == COMPANY_ID
    fox = view_at(http, "contacts", FOX_ID, 1)
    assert fox["email"] == "fox@globex.example"
    assert dana["aggregate_id"] != fox["aggregate_id"]

    accepted(http, service, hubspot_sample("contact_property_change"))
    assert view_at(http, "contacts", DANA_ID, 3)["email"] == "dana.scully@globex.example"

    accepted(http, service, hubspot_sample("contact_deletion"))
    assert view_at(http, "contacts", FOX_ID, 2)["deleted"] is True

    # Restored with an address changed while it was deleted: the service reads it back.
    hubspot.put("contacts", FOX_ID, {**FOX, "email": "fox.mulder@globex.example"})
    accepted(http, service, hubspot_sample("contact_restore"))
    restored = view_at(http, "contacts", FOX_ID, 4)
    assert restored["deleted"] is False and restored["email"] == "fox.mulder@globex.example"
    assert event_types(history(http, restored)) == ["Created", "Deleted", "Undeleted", "Updated"]


def test_a_change_to_a_deal_never_seen_is_read_from_hubspot_first(http, service, hubspot):
    accepted(http, service, hubspot_sample("deal_property_change"))

    deal = view_at(http, "deals", DEAL_ID, 2)
    created, updated = history(http, deal)
    assert created["event_type"] == "Created" and created["data"]["stage"] == "contractsent"
    assert updated["data"] == {"stage": "closedwon"}
    assert (deal["name"], deal["stage"], deal["amount"]) == (
        "Globex - 200 turbines", "closedwon", 1250000)
    assert len(hubspot.calls_for("deals", DEAL_ID)) == 1


# -- variations -------------------------------------------------------------------------------


def new_contact_events(object_id: int, first_event_id: int) -> tuple[dict, dict]:
    [creation, lastname, _] = hubspot_sample("contact_batch")
    return ({**creation, "objectId": object_id, "eventId": first_event_id},
            {**lastname, "objectId": object_id, "eventId": first_event_id + 1})


def test_a_batch_delivered_again_is_recorded_once_and_a_stale_change_is_ignored(
        http, service, hubspot):
    object_id = 7001
    hubspot.put("contacts", str(object_id), {**DANA, "email": "twin@globex.example"})
    creation, lastname = new_contact_events(object_id, 500)
    accepted(http, service, [creation, lastname])
    accepted(http, service, [{**creation, "attemptNumber": 1}, {**lastname, "attemptNumber": 1}])
    stale = {**lastname, "eventId": 502, "occurredAt": lastname["occurredAt"] - 60_000,
             "propertyName": "email", "propertyValue": "stale@globex.example"}
    later = {**lastname, "eventId": 503, "occurredAt": lastname["occurredAt"] + 60_000,
             "propertyName": "jobtitle", "propertyValue": "Special Agent"}
    accepted(http, service, [stale, later])

    contact = view_at(http, "contacts", str(object_id), 3)

    assert event_types(history(http, contact)) == ["Created", "Updated", "Updated"]
    assert contact["email"] == "twin@globex.example"
    assert contact["fields"]["title"] == "Special Agent"


def test_a_privacy_deletion_erases_every_value_of_the_contact_from_its_history_and_view(
        http, service, hubspot):
    object_id, other_id = 7501, 7502
    hubspot.put("contacts", str(object_id), {**DANA, "email": "private@globex.example"})
    hubspot.put("contacts", str(other_id), {**FOX, "email": "kept@globex.example"})
    creation, lastname = new_contact_events(object_id, 1000)
    accepted(http, service, [creation, lastname, new_contact_events(other_id, 1010)[0]])
    assert view_at(http, "contacts", str(object_id), 2)["email"] == "private@globex.example"

    # HubSpot sends a contact's GDPR delete as a deletion and a privacy deletion
    [deletion] = hubspot_sample("contact_deletion")
    [privacy] = hubspot_sample("contact_privacy_deletion")
    accepted(http, service, [{**deletion, "objectId": object_id, "eventId": 1002},
                             {**privacy, "objectId": object_id, "eventId": 1003}])
    erased = view_at(http, "contacts", str(object_id), 4)

    assert erased["deleted"] is True and erased["fields"] == {}
    assert (erased["first_name"], erased["last_name"], erased["email"]) == (None, None, None)
    events = history(http, erased)
    assert event_types(events) == ["Created", "Updated", "Deleted", "Erased"]
    assert [event["data"] for event in events] == [{}, {}, {}, {}]
    assert [event["metadata"]["external_id"] for event in events] == [str(object_id)] * 4
    # another contact keeps its values
    other = view_at(http, "contacts", str(other_id), 1)
    assert other["email"] == "kept@globex.example"
    assert history(http, other)[0]["data"]["email"] == "kept@globex.example"


def test_an_association_change_re_reads_the_contact_and_moves_it_to_its_new_company(
        http, service, hubspot):
    contact_id, company_id = 7601, 7602
    hubspot.put("companies", str(company_id), {**GLOBEX, "name": "Initech"})
    hubspot.put("contacts", str(contact_id), {**DANA, "email": "moving@globex.example"})
    [company_creation] = hubspot_sample("company_creation")
    accepted(http, service, [{**company_creation, "objectId": company_id, "eventId": 1100},
                             new_contact_events(contact_id, 1101)[0]])
    assert view_at(http, "contacts", str(contact_id), 1)["client_external_id"] == COMPANY_ID
    view_at(http, "clients", str(company_id), 1)

    # made the contact's primary company in HubSpot: an event for each side of the association
    hubspot.put("contacts", str(contact_id), {**DANA, "email": "moving@globex.example",
                                              "associatedcompanyid": str(company_id)})
    contact_side, company_side = hubspot_sample("contact_association_change")
    accepted(http, service, [
        {**contact_side, "eventId": 1102, "fromObjectId": contact_id, "toObjectId": company_id},
        {**company_side, "eventId": 1103, "fromObjectId": company_id, "toObjectId": contact_id}])

    moved = view_at(http, "contacts", str(contact_id), 2)
    assert moved["client_external_id"] == str(company_id)
    assert history(http, moved)[1]["data"] == {"client_external_id": str(company_id)}
    wait_for(lambda: len(hubspot.calls_for("companies", str(company_id))) == 2, timeout=15)
    # the company's own properties did not change: re-read, nothing recorded (waiting a
    # second for a version 2 that must not come)
    company = http.get("/clients", params={"provider": "hubspot", "external_id": company_id,
                                           "min_version": 2, "wait": 1}).json()
    assert company["version"] == 1 and company["name"] == "Initech"


@pytest.mark.parametrize("tampering", ["wrong signature", "stale timestamp", "missing header",
                                       "body changed after signing"])
def test_a_request_not_provably_from_hubspot_is_refused_401(http, service, tampering):
    events = hubspot_sample("company_property_change")
    body = orjson.dumps(events)
    headers = hubspot_headers(f"{service.url}/events/hubspot/", body)
    if tampering == "wrong signature":
        headers = hubspot_headers(f"{service.url}/events/hubspot/", body, secret="guess")
    elif tampering == "stale timestamp":
        headers = hubspot_headers(f"{service.url}/events/hubspot/", body,
                                  timestamp_ms=int(time.time() * 1000) - 6 * 60 * 1000)
    elif tampering == "missing header":
        del headers["X-HubSpot-Signature-v3"]
    else:
        body = body.replace(b"COMPUTER_SOFTWARE", b"FRAUD")

    response = http.post("/events/hubspot/", content=body, headers=headers)

    assert response.status_code == 401, response.text
    assert response.json()["error"]


def test_a_merge_deletes_the_merged_contact_and_reads_the_survivor_back(http, service, hubspot):
    survivor_id, merged_id = 7401, 7402
    hubspot.put("contacts", str(survivor_id), {**DANA, "email": "first@globex.example"})
    hubspot.put("contacts", str(merged_id), {**FOX, "email": "second@globex.example"})
    accepted(http, service, [new_contact_events(survivor_id, 900)[0],
                             new_contact_events(merged_id, 910)[0]])
    view_at(http, "contacts", str(survivor_id), 1)
    view_at(http, "contacts", str(merged_id), 1)

    # HubSpot kept the survivor, with an address it took from the merged record
    hubspot.put("contacts", str(survivor_id), {**DANA, "email": "second@globex.example"})
    [deletion] = hubspot_sample("contact_deletion")
    accepted(http, service, [{**deletion, "eventId": 920, "subscriptionType": "contact.merge",
                              "objectId": survivor_id, "primaryObjectId": survivor_id,
                              "mergedObjectIds": [merged_id],
                              "occurredAt": int(time.time() * 1000)}])

    assert view_at(http, "contacts", str(merged_id), 2)["deleted"] is True
    survivor = view_at(http, "contacts", str(survivor_id), 2)
    assert survivor["email"] == "second@globex.example" and survivor["deleted"] is False
    assert event_types(history(http, survivor)) == ["Created", "Updated"]


async def test_a_batch_keeps_its_good_events_and_parks_each_bad_one_with_its_reasons(
        http, service, hubspot, broker_url):
    # HubSpot does not send a batch again after a 4xx: one bad event must not cost the others
    object_id = 7201
    hubspot.put("contacts", str(object_id), {**DANA, "email": "kept@globex.example"})
    creation, _ = new_contact_events(object_id, 800)
    malformed = {"eventId": 801, "subscriptionType": "contact"}
    response = post(http, service, [creation, malformed, 5])

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["events"] == 3
    assert [item["index"] for item in answer["invalid"]] == [1, 2]
    reasons = {error["field"] for error in answer["invalid"][0]["errors"]}
    assert {"occurredAt", "subscriptionType"} <= reasons
    assert view_at(http, "contacts", str(object_id), 1)["email"] == "kept@globex.example"

    letters = await parked(broker_url, service, answer["correlation_id"], count=2)
    by_stage = {letter["stage"]: letter for letter in letters}
    assert set(by_stage) == {"validation", "decode"}
    assert "occurredAt" in by_stage["validation"]["reason"]
    assert "not a JSON object" in by_stage["decode"]["reason"]
    assert orjson.loads(base64.b64decode(by_stage["validation"]["original_b64"])) == malformed


@pytest.mark.parametrize("body", [b"{}", b"[]", b'"events"', orjson.dumps([{}] * 1001)])
def test_a_body_that_is_no_batch_is_refused_with_its_reason(http, service, body):
    headers = hubspot_headers(f"{service.url}/events/hubspot/", body)
    response = http.post("/events/hubspot/", content=body, headers=headers)

    assert response.status_code == 422, response.text
    assert "HubSpot webhook batch" in response.json()["error"]
    assert response.json()["errors"]


async def parked(broker_url: str, service: ServiceProcess, correlation_id: str,
                 count: int, timeout_s: float = 20) -> list[dict]:
    """The dead letters of one request (by its correlation id), once `count` are there."""
    consumer = AIOKafkaConsumer(
        service.topics["dead_letter"], bootstrap_servers=broker_url.removeprefix(
            "kafka://").split(";"),
        auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        found: list[dict] = []
        deadline = time.monotonic() + timeout_s
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            found += [letter for batch in batches.values() for message in batch
                      if (letter := orjson.loads(message.value))["correlation_id"]
                      == correlation_id]
        assert len(found) == count, found
        return found
    finally:
        await consumer.stop()


def test_pipedrive_webhooks_are_disabled_without_credentials(http):
    response = http.post("/events/pipedrive/", json={"meta": {}})

    assert response.status_code == 503
    assert "PIPEDRIVE_WEBHOOK_USER" in response.json()["error"]
