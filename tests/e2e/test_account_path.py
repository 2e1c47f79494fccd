"""The foundation path over HTTP: post Salesforce Account changes, read the client back."""

from __future__ import annotations

import pytest
from service_process import load_sample, wait_for

pytestmark = pytest.mark.e2e

ACCOUNT_ID = "001Hs00003FqYbKIAV"


def client_view(http, external_id=ACCOUNT_ID):
    response = http.get("/clients", params={"provider": "salesforce", "external_id": external_id})
    return response.json() if response.status_code == 200 else None


def test_created_then_updated_account_is_readable_with_the_new_industry(service):
    with service.client() as http:
        created = http.post("/events/salesforce/", json=load_sample("account_create"))
        assert created.status_code == 202
        body = created.json()
        assert body["event_id"] == "6f0e7ddd-a7ca-5e32-b76c-f227c6747af4"
        assert body["status"] == "accepted" and body["received_at"]
        updated = http.post("/events/salesforce/", json=load_sample("account_update"))
        assert updated.status_code == 202

        view = wait_for(lambda: (v := client_view(http)) and v["version"] == 2 and v, timeout=5)

        assert view["industry"] == "Aerospace"
        assert view["name"] == "Acme Corporation"
        assert view["status"] == "Active"
        assert view["deleted"] is False
        assert view["external_ids"] == {"salesforce": ACCOUNT_ID}
        assert view["fields"]["employees"] == 5600
        assert view["fields"]["billing_address.city"] == "London"
        assert view["updated_at"].startswith("2025-11-21T08:01:12")
        by_id = http.get(f"/clients/{view['aggregate_id']}")
        assert by_id.status_code == 200 and by_id.json() == view


def test_audit_history_lists_stored_events_in_version_order_with_metadata(service):
    with service.client() as http:
        http.post("/events/salesforce/", json=load_sample("account_create"),
                  headers={"X-Correlation-ID": "corr-e2e-1"})
        http.post("/events/salesforce/", json=load_sample("account_update"))
        view = wait_for(lambda: (v := client_view(http)) and v["version"] == 2 and v, timeout=5)

        history = http.get(f"/aggregates/{view['aggregate_id']}/events").json()["events"]

    assert [e["version"] for e in history] == [1, 2]
    assert [e["event_type"] for e in history] == ["Created", "Updated"]
    assert history[0]["position"] < history[1]["position"]
    first = history[0]
    assert first["metadata"]["correlation_id"] == "corr-e2e-1"
    assert first["metadata"]["source_event_id"].startswith(
        "salesforce:6f0e7ddd-a7ca-5e32-b76c-f227c6747af4:")
    assert first["event_id"] and first["occurred_at"] and first["recorded_at"]
    assert history[1]["data"] == {"industry": "Aerospace", "employees": 5600,
                                  "last_modified_at": "2026-11-21T08:01:12.000Z"}


def test_unknown_ids_are_404(service):
    with service.client() as http:
        assert http.get("/clients/00000000-0000-0000-0000-000000000000").status_code == 404
        assert client_view(http, "001DoesNotExist") is None
        assert http.get("/aggregates/00000000-0000-0000-0000-000000000000/events"
                        ).status_code == 404


def test_bridge_rejects_bad_requests_with_reasons(service):
    with service.client() as http:
        no_key = http.post("/events/salesforce/", json=load_sample("account_create"),
                           headers={"X-API-Key": ""})
        wrong_key = http.post("/events/salesforce/", json=load_sample("account_create"),
                              headers={"X-API-Key": "nope"})
        malformed = http.post("/events/salesforce/", content=b"{not json",
                              headers={"Content-Type": "application/json"})
        envelope = load_sample("account_create")
        del envelope["detail"]["payload"]["ChangeEventHeader"]["commitTimestamp"]
        invalid = http.post("/events/salesforce/", json=envelope)

    assert no_key.status_code == 401 and wrong_key.status_code == 401
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    assert invalid.status_code == 422
    fields = [error["field"] for error in invalid.json()["errors"]]
    assert "detail.payload.ChangeEventHeader.commitTimestamp" in fields


def test_health_is_ok_once_ready(service):
    with service.client() as http:
        assert http.get("/health").json() == {"status": "ok"}
