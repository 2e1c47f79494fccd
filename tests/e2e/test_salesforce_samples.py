"""Every Salesforce sample over HTTP, in commit order, read back through the read API.

The service runs as a real process; Salesforce's REST API is the local fake, which the service
reads when a change lost its details (a gap) or names a record it never saw created.
"""

from __future__ import annotations

import copy
import uuid

import pytest
from fake_salesforce import FakeSalesforce
from service_process import load_sample, wait_for

pytestmark = pytest.mark.e2e

ACCOUNT_ID = "001Hs00003FqYbKIAV"
KNOWN_CONTACT_ID = "003Hs00002XyZaAIAV"
UNKNOWN_CONTACT_IDS = ("003Hs00002XyZbAIAV", "003Hs00002XyZcAIAV")
DEAL_ID = "006Hs00001QwErTIAV"

# What the REST API answers after the gap: two fields changed that no change event told us about.
ACCOUNT_AFTER_GAP = {
    "Name": "Acme Corporation", "Type": "Customer - Direct", "Industry": "Aerospace",
    "AnnualRevenue": 125000000.0, "NumberOfEmployees": 5800, "Phone": "+44 20 7946 0000",
    "Website": None, "Description": None, "Status__c": "Active",
    "BillingAddress": {"street": "1 Market Street", "city": "London", "state": None,
                       "postalCode": "EC1A 1BB", "country": "United Kingdom", "latitude": None},
    "OwnerId": "005Hs00000AbCdEIAX", "CreatedDate": "2026-11-20T10:15:29.000+0000",
    "LastModifiedDate": "2026-11-23T14:00:00.000+0000",
}
DEAL = {
    "Name": "Acme - 500 widgets", "StageName": "Closed Won", "Amount": 250000.0,
    "CloseDate": "2026-12-15", "IsClosed": True, "IsWon": True, "AccountId": ACCOUNT_ID,
    "LastModifiedDate": "2026-11-21T11:00:00.000+0000",
}


def rest_contact(first_name: str, last_name: str) -> dict:
    return {
        "Name": f"{first_name} {last_name}", "FirstName": first_name, "LastName": last_name,
        "Email": f"{first_name.lower()}@acme.example", "AccountId": ACCOUNT_ID,
        "MailingAddress": {"city": "Manchester", "country": "United Kingdom"},
        "LastModifiedDate": "2026-11-21T10:00:00.000+0000",
    }


@pytest.fixture(scope="module")
def salesforce():
    with FakeSalesforce(api_version="64.0", session_id="x") as fake:
        fake.put("Account", ACCOUNT_ID, ACCOUNT_AFTER_GAP)
        fake.put("Contact", UNKNOWN_CONTACT_IDS[0], rest_contact("Grace", "Hopper"))
        fake.put("Contact", UNKNOWN_CONTACT_IDS[1], rest_contact("Alan", "Turing"))
        fake.put("Opportunity", DEAL_ID, DEAL)
        yield fake


@pytest.fixture
def http(salesforce_service):
    with salesforce_service.client() as client:
        yield client


# -- helpers ----------------------------------------------------------------------------------


def post(http, envelope: dict) -> None:
    response = http.post("/events/salesforce/", json=envelope)
    assert response.status_code == 202, response.text


def view(http, collection: str, external_id: str) -> dict | None:
    response = http.get(f"/{collection}",
                        params={"provider": "salesforce", "external_id": external_id})
    return response.json() if response.status_code == 200 else None


def view_at(http, collection: str, external_id: str, version: int) -> dict:
    """The view once it reached `version` (failing if it went past it)."""
    found = wait_for(lambda: (v := view(http, collection, external_id))
                     and v["version"] >= version and v, timeout=15)
    assert found["version"] == version, found
    return found


def history(http, view: dict) -> list[dict]:
    return http.get(f"/aggregates/{view['aggregate_id']}/events").json()["events"]


def event_types(events: list[dict]) -> list[str]:
    return [event["event_type"] for event in events]


def for_record(name: str, record_id: str) -> dict:
    """A sample moved to another record (and given its own event id)."""
    envelope = copy.deepcopy(load_sample(name))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    return envelope


# -- the samples ------------------------------------------------------------------------------


def test_account_samples_tell_the_accounts_whole_story(http, salesforce):
    post(http, load_sample("account_create"))
    created = view_at(http, "clients", ACCOUNT_ID, 1)
    assert (created["name"], created["industry"], created["status"]) == (
        "Acme Corporation", "Manufacturing", "Active")
    assert created["fields"]["website"] == "https://acme.example"

    post(http, load_sample("account_update"))
    assert view_at(http, "clients", ACCOUNT_ID, 2)["industry"] == "Aerospace"

    # The same change again, by AppFlow: nothing new. The next change proves it was processed.
    post(http, load_sample("appflow_account_update"))
    post(http, load_sample("account_update_nulled"))
    nulled = view_at(http, "clients", ACCOUNT_ID, 3)
    assert "website" in nulled["fields"] and nulled["fields"]["website"] is None
    events = history(http, nulled)
    assert event_types(events) == ["Created", "Updated", "Updated"]
    assert events[2]["metadata"]["source_event_id"].startswith(
        "salesforce:6f3a901e-34a6-5529-9a24-313a6b65e2f9:")

    # An inactive record is recorded, not announced: the view keeps what was last broadcast.
    post(http, load_sample("account_status_inactive"))
    inactive = view_at(http, "clients", ACCOUNT_ID, 4)
    [withheld] = history(http, inactive)[3:]
    assert withheld["metadata"]["broadcast"] is False
    assert withheld["data"]["status"] == "Inactive"
    assert inactive["status"] == "Active" and inactive["withheld_versions"] == 1

    # Deleting the (still inactive) record is announced all the same: a record that no longer
    # exists must leave the views, and the view shows its last state, withheld changes included.
    post(http, load_sample("account_delete"))
    deleted = view_at(http, "clients", ACCOUNT_ID, 5)
    [deletion] = history(http, deleted)[4:]
    assert deletion["event_type"] == "Deleted" and deletion["metadata"]["broadcast"] is True
    assert deleted["deleted"] is True and deleted["status"] == "Inactive"
    assert deleted["withheld_versions"] == 1

    post(http, load_sample("account_undelete"))
    restored = view_at(http, "clients", ACCOUNT_ID, 6)
    assert history(http, restored)[5]["event_type"] == "Undeleted"
    assert restored["deleted"] is False and restored["status"] == "Active"
    assert restored["fields"]["last_modified_at"] == "2026-11-23T13:00:00.000Z"

    # A gap: the details are lost, so the service reads the record and records what differs.
    assert salesforce.calls_for("Account", ACCOUNT_ID) == 0
    post(http, load_sample("account_gap_update"))
    after_gap = view_at(http, "clients", ACCOUNT_ID, 7)
    assert salesforce.calls_for("Account", ACCOUNT_ID) == 1
    [gap] = history(http, after_gap)[6:]
    assert gap["event_type"] == "Updated"
    assert gap["data"] == {"employees": 5800, "phone": "+44 20 7946 0000",
                           "last_modified_at": "2026-11-23T14:00:00.000Z"}
    assert after_gap["fields"]["employees"] == 5800
    assert after_gap["fields"]["phone"] == "+44 20 7946 0000"


def test_contact_samples_create_then_mass_update_known_and_never_seen_contacts(http, salesforce):
    post(http, load_sample("contact_create"))
    ada = view_at(http, "contacts", KNOWN_CONTACT_ID, 1)
    assert (ada["first_name"], ada["last_name"], ada["email"]) == (
        "Ada", "Lovelace", "ada@acme.example")
    assert ada["client_external_id"] == ACCOUNT_ID
    assert ada["fields"]["mailing_address.city"] == "London"

    post(http, load_sample("contact_mass_update"))

    ada = view_at(http, "contacts", KNOWN_CONTACT_ID, 2)
    assert ada["fields"]["mailing_address.city"] == "Manchester"
    assert ada["fields"]["mailing_address.country"] == "United Kingdom"
    assert salesforce.calls_for("Contact", KNOWN_CONTACT_ID) == 0
    for contact_id, last_name in zip(UNKNOWN_CONTACT_IDS, ("Hopper", "Turing"), strict=True):
        contact = view_at(http, "contacts", contact_id, 2)
        created, updated = history(http, contact)
        assert (created["event_type"], updated["event_type"]) == ("Created", "Updated")
        assert created["data"]["last_name"] == last_name
        assert created["data"]["last_modified_at"] == "2026-11-21T10:00:00.000Z"
        assert updated["data"] == {"mailing_address.city": "Manchester",
                                   "last_modified_at": "2026-11-21T10:00:00.000Z"}
        assert contact["last_name"] == last_name
        assert contact["fields"]["mailing_address.city"] == "Manchester"
        assert salesforce.calls_for("Contact", contact_id) == 1


def test_opportunity_sample_for_a_deal_never_seen_is_read_from_salesforce_first(
        http, salesforce):
    post(http, load_sample("opportunity_update"))

    deal = view_at(http, "deals", DEAL_ID, 2)
    created, updated = history(http, deal)
    assert created["event_type"] == "Created" and created["data"]["name"] == "Acme - 500 widgets"
    assert updated["event_type"] == "Updated"
    assert (updated["data"]["stage"], updated["data"]["amount"]) == ("Closed Won", 250000.0)
    assert (deal["stage"], deal["amount"]) == ("Closed Won", 250000.0)
    assert deal["client_external_id"] == ACCOUNT_ID
    assert salesforce.calls_for("Opportunity", DEAL_ID) == 1


# -- variations on the samples ----------------------------------------------------------------


def test_the_same_source_event_posted_twice_is_recorded_once(http):
    record_id = "001E2E00000DUPL1AA"
    create = for_record("account_create", record_id)
    post(http, create)
    post(http, create)
    post(http, for_record("account_update", record_id))

    account = view_at(http, "clients", record_id, 2)

    assert event_types(history(http, account)) == ["Created", "Updated"]


def test_deleting_and_restoring_an_active_account_is_visible(http):
    record_id = "001E2E00000DELE1AA"
    post(http, for_record("account_create", record_id))
    post(http, for_record("account_delete", record_id))
    assert view_at(http, "clients", record_id, 2)["deleted"] is True

    post(http, for_record("account_undelete", record_id))

    restored = view_at(http, "clients", record_id, 3)
    assert restored["deleted"] is False and restored["status"] == "Active"
    assert event_types(history(http, restored)) == ["Created", "Deleted", "Undeleted"]


def test_a_same_millisecond_change_redelivered_by_appflow_is_recorded_once(http):
    record_id = "001E2E00000SAMEMSA"
    first = for_record("account_update", record_id)
    second = for_record("account_update_nulled", record_id)
    header = second["detail"]["payload"]["ChangeEventHeader"]
    header["commitTimestamp"] = first["detail"]["payload"]["ChangeEventHeader"]["commitTimestamp"]
    again = copy.deepcopy(load_sample("appflow_account_update"))  # `first`, by the other route
    again["detail"]["ChangeEventHeader"]["recordIds"] = [record_id]
    later = for_record("account_status_inactive", record_id)

    for envelope in (for_record("account_create", record_id), first, second, again, later):
        post(http, envelope)

    account = view_at(http, "clients", record_id, 4)
    events = history(http, account)
    assert event_types(events) == ["Created", "Updated", "Updated", "Updated"]
    assert [e["metadata"]["source_event_id"].split(":")[1] for e in events[1:]] == [
        first["id"], second["id"], later["id"]]
