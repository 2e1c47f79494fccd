"""Salesforce failing parks a change on the dead-letter topic; once Salesforce is back,
`crm-events dead-letter replay` re-submits it, the record reaches the read model, and a second
replay sends nothing again."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import uuid

import httpx
from service_process import ServiceProcess, load_sample, wait_for

DEAL_ID = "006REPLAY000OUTAGE"
LEAD_ID = "00QREPLAY0000LEADA"


def crm_events(service: ServiceProcess, *args: str) -> str:
    """Run the CLI as an operator would, configured like the service."""
    done = subprocess.run([sys.executable, "-m", "app", *args], env=service.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def letters(service: ServiceProcess, *filters: str) -> list[dict]:
    output = crm_events(service, "dead-letter", "list", "--json", *filters)
    return [json.loads(line) for line in output.splitlines()]


def for_record(name: str, record_id: str, entity: str | None = None) -> dict:
    envelope = copy.deepcopy(load_sample(name))
    envelope["id"] = str(uuid.uuid4())
    header = envelope["detail"]["payload"]["ChangeEventHeader"]
    header["recordIds"] = [record_id]
    if entity:
        envelope["detail-type"], header["entityName"] = f"{entity}ChangeEvent", entity
    return envelope


def deal_view(http: httpx.Client) -> dict | None:
    response = http.get("/deals", params={"provider": "salesforce", "external_id": DEAL_ID})
    return response.json() if response.status_code == 200 else None


def test_a_change_parked_by_a_salesforce_outage_is_replayed_once_after_recovery(
        salesforce_service, salesforce):
    salesforce.put("Opportunity", DEAL_ID, {"Name": "Replayed deal", "StageName": "Prospecting"})
    salesforce.fail(2, status=503, record_id=DEAL_ID)  # the first call and its one retry
    update = for_record("opportunity_update", DEAL_ID)
    lead = for_record("account_update", LEAD_ID, entity="Lead")  # unmapped: a validation letter
    with salesforce_service.client() as http:
        for envelope in (update, lead):
            assert http.post("/events/salesforce/", json=envelope).status_code == 202

        sources = {f"salesforce:{update['id']}:{DEAL_ID}", f"salesforce:{lead['id']}:{LEAD_ID}"}
        parked = wait_for(lambda: (found := letters(salesforce_service)) and len(found) == 2
                          and all(x["source_event_id"] in sources for x in found) and found,
                          timeout=30, interval=0.5)
        assert sorted(x["stage"] for x in parked) == ["crm", "validation"]
        assert [x["stage"] for x in letters(salesforce_service, "--stage", "crm")] == ["crm"]
        assert deal_view(http) is None
        assert salesforce.calls_for("Opportunity", DEAL_ID) == 2  # Salesforce is back now

        replayed = crm_events(salesforce_service, "dead-letter", "replay", "--stage", "crm")

        crm_letter = next(x for x in parked if x["stage"] == "crm")
        assert f"replayed {crm_letter['id']} (crm)" in replayed
        assert "replayed 1 dead letters" in replayed
        deal = wait_for(lambda: deal_view(http), timeout=30, interval=0.2)
        assert deal["name"] == "Replayed deal"  # the CRM's copy, read after the replay
        assert deal["fields"]["stage"] == "Closed Won"  # then the parked change itself
        history = http.get(f"/aggregates/{deal['aggregate_id']}/events").json()["events"]
        assert [e["event_type"] for e in history] == ["Created", "Updated"]
        assert history[-1]["metadata"]["correlation_id"] == crm_letter["correlation_id"]

        again = crm_events(salesforce_service, "dead-letter", "replay", "--stage", "crm")
        assert "replayed 0 dead letters; skipped 1 replayed before" in again

        time.sleep(2)  # room for a wrongly resent message to be processed
        assert len(http.get(f"/aggregates/{deal['aggregate_id']}/events").json()["events"]) == 2
    listed = crm_events(salesforce_service, "dead-letter", "list")
    assert f"{crm_letter['id']:>10}  crm" in listed and "replayed 20" in listed
    assert salesforce.calls_for("Opportunity", DEAL_ID) == 3  # one read, after the replay
    assert [x["stage"] for x in letters(salesforce_service, "--pending")] == ["validation"]
    replayed_at = {x["stage"]: x["replayed_at"] for x in letters(salesforce_service)}
    assert replayed_at["crm"] is not None and replayed_at["validation"] is None
