"""`crm-events bridge`: the webhook endpoints in a producer-only process of their own. What it
accepts reaches the worker's read model; it answers bad input as the worker does; it never joins
the consumer group (the worker keeps every partition)."""

from __future__ import annotations

import copy
import gzip
import uuid

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_process import API_KEY, ServiceProcess, load_sample, wait_for

from app.embedded import free_port

pytestmark = pytest.mark.e2e

SHARED = ("APP_ID", "INBOUND_TOPIC_PREFIX", "DOMAIN_EVENTS_TOPIC", "DEAD_LETTER_TOPIC")


@pytest.fixture(scope="module")
def bridge(broker_url, module_service):
    # WEB_PORT set as `make run` sets it (the worker's port): the bridge serves on BRIDGE_PORT
    process = ServiceProcess(broker_url, "postgresql://unused.invalid/none", command="bridge",
                             WEB_PORT=str(free_port()),
                             **{name: module_service.env[name] for name in SHARED}).start()
    yield process
    process.stop()


def test_an_event_posted_to_the_bridge_reaches_the_workers_read_model(bridge, module_service):
    record_id = f"001BRIDGE{uuid.uuid4().hex[:9]}"
    envelope = copy.deepcopy(load_sample("account_create"))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    with bridge.client() as http:
        answer = http.post("/events/salesforce/", json=envelope)
    assert answer.status_code == 202, answer.text
    assert answer.json()["event_id"] == envelope["id"]
    with module_service.client() as http:
        view = wait_for(lambda: (r := http.get("/clients", params={
            "provider": "salesforce", "external_id": record_id})).status_code == 200 and r.json(),
            timeout=30, interval=0.2)
    assert view["name"] == "Acme Corporation" and view["version"] == 1


def test_the_bridge_refuses_what_the_worker_refuses(bridge):
    url = f"{bridge.url}/events/salesforce/"
    assert httpx.post(url, json={}, headers={"X-API-Key": "wrong"}).status_code == 401
    malformed = httpx.post(url, content=b"{not json", headers={
        "X-API-Key": API_KEY, "Content-Type": "application/json"})
    assert malformed.status_code == 400 and "malformed JSON" in malformed.json()["error"]
    wrong_shape = httpx.post(url, json={"detail": {}}, headers={"X-API-Key": API_KEY})
    assert wrong_shape.status_code == 422 and wrong_shape.json()["errors"]


def test_bad_encodings_and_headers_get_a_4xx_with_the_reason(bridge):
    url = f"{bridge.url}/events/salesforce/"
    body = orjson.dumps(load_sample("account_create"))

    def post(content: bytes = body, **headers: str | bytes) -> httpx.Response:
        return httpx.post(url, content=content, headers={
            "X-API-Key": API_KEY, "Content-Type": "application/json", **headers})

    for headers, status, reason in [
        ({"Content-Type": "application/json; charset=iso-8859-1"}, 415, "UTF-8"),
        ({"Content-Type": ""}, 415, "no Content-Type"),
        ({"Content-Encoding": "foo"}, 415, "Content-Encoding"),
        ({"Content-Encoding": "gzip"}, 400, "cannot read the body"),  # the body is not gzip
        ({"X-Correlation-ID": b"corr-\xff\xfe"}, 400, "X-Correlation-ID"),
        ({"X-Correlation-ID": "c" * 256}, 400, "X-Correlation-ID"),
    ]:
        answer = post(**headers)
        assert answer.status_code == status and reason in answer.json()["error"], (headers,
                                                                                    answer.text)
    accepted = post(gzip.compress(body), **{"Content-Encoding": "gzip",
                                           "Content-Type": "application/json; charset=utf-8",
                                           "X-Correlation-ID": "c" * 255})
    assert accepted.status_code == 202 and accepted.json()["correlation_id"] == "c" * 255


def test_the_bridge_reports_itself_and_never_joins_the_consumer_group(bridge, module_service):
    assert httpx.get(f"{bridge.url}/health").json() == {"status": "ok", "role": "bridge"}
    ready = httpx.get(f"{bridge.url}/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["broker"]["ok"]
    # the read side lives in the worker only
    assert httpx.get(f"{bridge.url}/clients", headers={"X-API-Key": API_KEY}).status_code == 404
    bridge_metrics = families(bridge)
    lag = bridge_metrics.get("crm_consumer_lag")
    assert lag is None or not lag.samples  # it consumes nothing
    assert any(s.labels["provider"] == "salesforce" and s.labels["status"] == "202"
               for s in bridge_metrics["crm_bridge_events_received"].samples)
    inbound = module_service.topics["inbound"]
    owned = {s.labels["partition"] for s in families(module_service)["crm_consumer_lag"].samples
             if s.labels["topic"] == inbound}
    assert owned == {str(p) for p in range(4)}


def test_errors_the_router_answers_are_json_too(bridge, module_service):
    for process in (bridge, module_service):
        missing = httpx.get(f"{process.url}/no-such-page", headers={"X-API-Key": API_KEY})
        assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
        wrong_method = httpx.delete(f"{process.url}/ready")
        assert wrong_method.status_code == 405
        assert wrong_method.json() == {"error": "Method Not Allowed"}
        assert "GET" in wrong_method.headers["Allow"]
        assert wrong_method.headers["Content-Type"].startswith("application/json")
    # a view's own error keeps its reason
    unsupported = httpx.post(f"{bridge.url}/events/salesforce/", content=b"{}",
                             headers={"X-API-Key": API_KEY, "Content-Type": "text/plain"})
    assert unsupported.status_code == 415 and "application/json" in unsupported.json()["error"]

def families(process: ServiceProcess) -> dict:
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    return {family.name: family for family in text_string_to_metric_families(text)}
