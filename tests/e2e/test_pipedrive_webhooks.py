"""Every Pipedrive sample over HTTP with Pipedrive's basic auth, read back through the read API.

Pipedrive webhooks v2 carry the whole record, so a change to a record never seen needs no API.
"""

from __future__ import annotations

import copy

import pytest
from service_process import ServiceProcess, wait_for
from webhook_samples import PIPEDRIVE_PASSWORD, PIPEDRIVE_USER, basic_auth, pipedrive_sample

pytestmark = pytest.mark.e2e

ORGANIZATION_ID, PERSON_ID, DEAL_ID = "73", "1205", "388"


@pytest.fixture(scope="module")
def service(broker_url, module_database):
    process = ServiceProcess(broker_url, module_database, PIPEDRIVE_WEBHOOK_USER=PIPEDRIVE_USER,
                             PIPEDRIVE_WEBHOOK_PASSWORD=PIPEDRIVE_PASSWORD).start()
    yield process
    process.stop()


@pytest.fixture
def http(service):
    with service.client() as client:
        yield client


def post(http, webhook: dict, authorization: str | None = None):
    headers = {"Authorization": authorization or basic_auth()}
    return http.post("/events/pipedrive/", json=webhook, headers=headers)


def accepted(http, webhook: dict) -> None:
    response = post(http, webhook)
    assert response.status_code == 202, response.text
    assert response.json()["event_id"] == webhook["meta"]["id"]


def view(http, collection: str, external_id: str) -> dict | None:
    response = http.get(f"/{collection}", params={"provider": "pipedrive",
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


def test_organization_samples_create_then_rename_the_client(http):
    accepted(http, pipedrive_sample("organization_create"))
    created = view_at(http, "clients", ORGANIZATION_ID, 1)
    assert created["name"] == "Initech"
    assert created["fields"]["billing_address.city"] == "Austin"

    accepted(http, pipedrive_sample("organization_change"))
    renamed = view_at(http, "clients", ORGANIZATION_ID, 2)
    assert renamed["name"] == "Initech Ltd"
    [_, update] = history(http, renamed)
    assert update["data"] == {"name": "Initech Ltd",
                              "last_modified_at": "2025-11-24T15:21:23.000Z"}
    assert update["metadata"]["source_event_id"] == (
        "pipedrive:ea17c64f-ec7e-4e47-a321-5d84b7735fef:73")


def test_person_samples_create_change_and_delete_the_contact(http):
    accepted(http, pipedrive_sample("person_create"))
    person = view_at(http, "contacts", PERSON_ID, 1)
    assert (person["first_name"], person["last_name"], person["email"]) == (
        "Peter", "Gibbons", "peter.gibbons@initech.example")
    assert person["client_external_id"] == ORGANIZATION_ID

    accepted(http, pipedrive_sample("person_change"))
    assert view_at(http, "contacts", PERSON_ID, 2)["email"] == "peter@initech.example"

    accepted(http, pipedrive_sample("person_delete"))
    deleted = view_at(http, "contacts", PERSON_ID, 3)
    assert deleted["deleted"] is True
    assert event_types(history(http, deleted)) == ["Created", "Updated", "Deleted"]


def test_a_change_to_a_deal_never_seen_is_created_from_the_record_in_the_webhook(http):
    accepted(http, pipedrive_sample("deal_change"))

    deal = view_at(http, "deals", DEAL_ID, 2)
    created, updated = history(http, deal)
    assert created["event_type"] == "Created" and created["data"]["status"] == "won"
    assert updated["data"] == {"status": "won", "closed": True, "won": True,
                               "last_modified_at": "2025-11-24T16:05:31.000Z"}
    assert (deal["name"], deal["amount"], deal["status"]) == (
        "Initech - TPS report licences", 48000, "won")
    assert deal["client_external_id"] == ORGANIZATION_ID


def test_one_aggregate_per_provider_entity_and_id(http):
    """An organization and a person may share an id in Pipedrive; they are two records."""
    person = copy.deepcopy(pipedrive_sample("person_create"))
    person["data"].update(id=74, name="Milton Waddams", first_name="Milton",
                          last_name="Waddams", emails=[])
    person["meta"].update(entity_id="74", id="person-74-create")
    organization = copy.deepcopy(pipedrive_sample("organization_create"))
    organization["data"].update(id=74, name="Chotchkie's")
    organization["meta"].update(entity_id="74", id="organization-74-create")

    accepted(http, person)
    accepted(http, organization)
    accepted(http, person)  # delivered again: recorded once

    contact, client = view_at(http, "contacts", "74", 1), view_at(http, "clients", "74", 1)
    assert contact["aggregate_id"] != client["aggregate_id"]
    assert (contact["last_name"], client["name"]) == ("Waddams", "Chotchkie's")


@pytest.mark.parametrize("authorization", [
    basic_auth(PIPEDRIVE_USER, "wrong password"),
    basic_auth("someone", PIPEDRIVE_PASSWORD),
    "Bearer " + PIPEDRIVE_PASSWORD,
])
def test_wrong_basic_auth_is_refused_401(http, authorization):
    response = post(http, pipedrive_sample("person_create"), authorization)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_missing_basic_auth_is_refused_401(http):
    response = http.post("/events/pipedrive/", json=pipedrive_sample("person_create"))

    assert response.status_code == 401


def test_a_v1_webhook_is_refused_with_the_field_named(http):
    webhook = copy.deepcopy(pipedrive_sample("person_create"))
    webhook["meta"]["action"] = "added"

    response = post(http, webhook)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["meta.action"]


def test_hubspot_webhooks_are_disabled_without_a_client_secret(http):
    response = http.post("/events/hubspot/", json=[])

    assert response.status_code == 503
    assert "HUBSPOT_CLIENT_SECRET" in response.json()["error"]
