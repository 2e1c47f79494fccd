"""Operating a running service: Prometheus metrics move with the traffic, log lines are JSON
carrying the correlation id, /ready reports its checks, and the operator CLI commands work."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import uuid

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_process import API_KEY, load_sample, wait_for

from app.embedded import free_port

pytestmark = pytest.mark.e2e


def account_change(sample: str, record_id: str) -> dict:
    """A sample about a record no other test uses, as a new EventBridge event."""
    envelope = copy.deepcopy(load_sample(sample))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    return envelope


def new_record_id() -> str:
    return f"001T{uuid.uuid4().hex[:14]}"


def scrape(http: httpx.Client) -> dict[tuple[str, frozenset], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def client_view(http: httpx.Client, external_id: str):
    response = http.get("/clients", params={"provider": "salesforce", "external_id": external_id})
    return response.json() if response.status_code == 200 else None


def test_metrics_count_received_events_commands_appends_and_dead_letters(module_service):
    record_id, unknown_id = new_record_id(), new_record_id()
    with module_service.client() as http:
        before = scrape(http)
        assert http.post("/events/salesforce/", json=account_change(
            "account_create", record_id)).status_code == 202
        # an update of a record never seen, with no Salesforce API to read it from: stage crm
        assert http.post("/events/salesforce/", json=account_change(
            "account_update", unknown_id)).status_code == 202
        refused = http.post("/events/salesforce/", json=account_change(
            "account_create", record_id), headers={"X-API-Key": "wrong"})
        assert refused.status_code == 401
        wait_for(lambda: client_view(http, record_id), timeout=15)

        after = wait_for(lambda: (m := scrape(http)) and value(
            m, "crm_dead_letters_total", stage="crm") > value(
            before, "crm_dead_letters_total", stage="crm") and m, timeout=15)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("crm_bridge_events_received_total", provider="salesforce", status="202") == 2
    assert grew("crm_bridge_events_received_total", provider="salesforce", status="401") == 1
    assert grew("crm_commands_processed_total", provider="salesforce", outcome="recorded") == 1
    assert grew("crm_commands_processed_total", provider="salesforce", outcome="failed") == 1
    assert grew("crm_commands_failed_total", provider="salesforce", stage="crm") == 1
    assert grew("crm_dead_letters_total", stage="crm") == 1
    assert grew("crm_event_store_append_seconds_count") >= 1
    assert value(after, "crm_event_store_append_seconds_bucket", le="+Inf") == value(
        after, "crm_event_store_append_seconds_count")
    assert value(after, "crm_concurrency_conflicts_total") == 0
    # every partition of the topics consumed has a lag reading (one worker owns them all)
    for name, topics in (("crm_consumer_lag", ("inbound", "domain_events")),
                         ("crm_projection_lag_events", ("domain_events",))):
        readings = {(labels["topic"], labels["partition"]): v for (n, ls), v in after.items()
                    if n == name for labels in [dict(ls)]}
        assert set(readings) >= {(module_service.topics[t], str(p))
                                 for t in topics for p in range(4)}
        assert all(v >= 0 for v in readings.values())


def test_every_known_counter_series_is_exported_before_its_first_increment(module_service):
    # Prometheus' increase() misses a series' first jump from absent to 1
    with module_service.client() as http:
        scraped = scrape(http)
    inbound = module_service.topics["inbound"]
    for name, labels in [
            ("crm_publish_failures_total", {"path": "relay"}),
            ("crm_dead_letters_total", {"stage": "unexpected"}),
            ("crm_commands_failed_total", {"provider": "pipedrive", "stage": "decode"}),
            ("crm_commands_processed_total", {"provider": "hubspot", "outcome": "failed"}),
            ("crm_bridge_events_received_total", {"provider": "pipedrive", "status": "202"}),
            ("crm_consumer_offsets_skipped_total", {"topic": inbound}),
            ("crm_projection_changelog_failures_total", {})]:
        assert (name, frozenset(labels.items())) in scraped, (name, labels)


def test_consumer_and_projection_lag_fall_to_zero_once_everything_is_processed(module_service):
    record_id = new_record_id()
    with module_service.client() as http:
        http.post("/events/salesforce/", json=account_change("account_create", record_id))
        wait_for(lambda: client_view(http, record_id), timeout=15)

        def settled():
            metrics = scrape(http)
            lags = [v for (name, _), v in metrics.items()
                    if name in ("crm_consumer_lag", "crm_projection_lag_events")]
            return lags and not any(lags)

        wait_for(settled, timeout=20, interval=0.5)


def log_lines(service) -> list[dict]:
    """Every line the service wrote (stdout and stderr) is one JSON object."""
    complete, _, _being_written = service.log().rpartition("\n")
    return [orjson.loads(line) for line in complete.splitlines() if line.strip()]


def test_log_lines_are_json_and_a_commands_lines_carry_its_correlation_id(module_service):
    correlation_id, unknown = f"corr-{uuid.uuid4()}", f"corr-{uuid.uuid4()}"
    record_id, unknown_id = new_record_id(), new_record_id()
    with module_service.client() as http:
        http.post("/events/salesforce/", json=account_change("account_create", record_id),
                  headers={"X-Correlation-ID": correlation_id})
        http.post("/events/salesforce/", json=account_change("account_update", unknown_id),
                  headers={"X-Correlation-ID": unknown})
        wait_for(lambda: client_view(http, record_id), timeout=15)

    def tagged(cid: str) -> list[dict]:
        return [line for line in log_lines(module_service)
                if line.get("correlation_id") == cid or cid in line.get("correlation_ids", ())]

    recorded = wait_for(lambda: [line for line in tagged(correlation_id)
                                 if "commands recorded" in line["message"]], timeout=10)
    assert recorded[0]["logger"] == "app.command_handler" and recorded[0]["level"] == "info"
    parked = wait_for(lambda: [line for line in tagged(unknown)
                               if "dead-lettered" in line["message"]], timeout=10)
    assert parked[0]["level"] == "warning" and "stage crm" in parked[0]["message"]
    assert f":{unknown_id}" in parked[0]["message"]  # the source event id names the record
    # Faust's own worker lines go through the same formatter
    lines = log_lines(module_service)
    assert any(line["logger"].startswith("faust") and "Ready" in line["message"]
               for line in lines)
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)


def test_ready_reports_each_check_separately_from_health(module_service):
    with module_service.client() as http:
        ready = http.get("/ready")
        health = http.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"broker", "postgres", "tables"}
    assert all(check["ok"] for check in body["checks"].values())


def cli(service, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, "BRIDGE_API_KEYS": API_KEY, **env})


def test_send_samples_posts_every_sample_in_commit_order_with_a_progress_bar(module_service):
    done = cli(module_service, "send-samples", "--url", module_service.url, "--repeat", "2")

    assert done.returncode == 0, done.stderr
    assert "24 of 24 events posted" in done.stdout and "(202: 24)" in done.stdout
    assert "posting: 100%" in done.stderr and "24/24" in done.stderr
    with module_service.client() as http:
        # round 1 is the samples themselves, round 2 the same story about new records
        for external_id in ("001Hs00003FqYbKIAV", "001Hs00003FqYbKIAV-r2"):
            view = wait_for(lambda e=external_id: client_view(http, e), timeout=15)
            assert view["name"] == "Acme Corporation"


def test_send_samples_fails_with_the_answers_when_the_key_is_wrong(module_service):
    done = cli(module_service, "send-samples", "--url", module_service.url, "--key", "nope")
    assert done.returncode == 1
    assert "12 of 12 events posted" in done.stdout and "(401: 12)" in done.stdout
    assert "account_create (round 1): 401" in done.stderr


def test_status_reports_health_readiness_projections_and_database_counts(module_service):
    done = cli(module_service, "status", "--url", module_service.url, "--database",
               DATABASE_URL=module_service.env["DATABASE_URL"])

    assert done.returncode == 0, done.stdout + done.stderr
    report = done.stdout
    assert "health       200 ok" in report
    assert "ready        200 ready: broker ok" in report and "postgres ok" in report
    assert "projection   clients: generation" in report
    assert "database     events " in report and "outbox pending" in report


def test_status_exits_1_when_the_service_cannot_be_reached(module_service):
    nowhere = f"http://127.0.0.1:{free_port()}"
    done = cli(module_service, "status", "--url", nowhere)
    assert done.returncode == 1
    assert "health       unreachable" in done.stdout
