"""Thousands of generated and mutated requests at the bridge: never a 5xx, the worker keeps going.

Generated from the published OpenAPI document's envelope and from mutations of real samples.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_process import load_sample, wait_for

ACCEPTABLE = {202, 400, 401, 413, 415, 422}
MUTATION_STATUSES: Counter[int] = Counter()
SAMPLE_NAMES = ["account_create", "account_update", "appflow_account_update",
                "contact_mass_update", "account_gap_overflow", "opportunity_update"]
FUZZ = settings(max_examples=600, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)


def paths(value, prefix=()):
    """Every path into a JSON document, so a mutation can target any of them."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


@st.composite
def mutated_envelopes(draw):
    envelope = copy.deepcopy(load_sample(draw(st.sampled_from(SAMPLE_NAMES))))
    envelope["id"] = str(uuid.uuid4())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(envelope))[1:]))
        parent = envelope
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_value)
    return envelope


@pytest.fixture(scope="module")
def http(module_service):
    with module_service.client() as client:
        yield client


def post(http, content: bytes, content_type="application/json"):
    return http.post("/events/salesforce/", content=content,
                     headers={"Content-Type": content_type})


@FUZZ
@given(envelope=mutated_envelopes())
def test_mutated_sample_envelopes_never_get_a_server_error(http, envelope):
    response = post(http, json.dumps(envelope).encode())
    MUTATION_STATUSES[response.status_code] += 1
    assert response.status_code in ACCEPTABLE, response.text


def test_the_mutations_reached_the_worker_as_well_as_the_validator():
    assert MUTATION_STATUSES[202] >= 50, MUTATION_STATUSES
    assert MUTATION_STATUSES[422] >= 50, MUTATION_STATUSES


@FUZZ
@given(document=json_value)
def test_arbitrary_json_documents_never_get_a_server_error(http, document):
    response = post(http, json.dumps(document).encode())
    assert response.status_code in {400, 422}, response.text


@FUZZ
@given(body=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
def test_arbitrary_bytes_never_get_a_server_error(http, body, content_type):
    response = post(http, body, content_type)
    assert response.status_code in {400, 415, 422}, response.text


def test_oversized_body_is_413(http, module_service):
    body = b'{"pad": "' + b"x" * (600 * 1024) + b'"}'
    assert post(http, body).status_code == 413


def test_openapi_document_describes_every_provider_endpoint(http):
    document = http.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    for path, schema in (("/events/salesforce/", "SalesforceEnvelope"),
                         ("/events/hubspot/", "HubSpotWebhookBatch"),
                         ("/events/pipedrive/", "PipedriveWebhook")):
        operation = document["paths"][path]["post"]
        assert {"202", "400", "401", "413", "415", "422", "503"} <= set(operation["responses"])
        body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        assert body_ref == f"#/components/schemas/{schema}"
        assert schema in document["components"]["schemas"]
        [requirement] = operation["security"]
        assert set(requirement) <= set(schemes)
    assert schemes["pipedriveBasic"] == {"type": "http", "scheme": "basic"}


def test_worker_still_processes_after_the_fuzzing(http, module_service):
    """Runs last in this module: whatever the fuzzing sent, the worker is alive and moving."""
    envelope = load_sample("account_create")
    envelope["id"] = str(uuid.uuid4())
    record_id = "001FUZZ" + uuid.uuid4().hex[:11]
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [record_id]
    assert post(http, json.dumps(envelope).encode()).status_code == 202

    def visible():
        response = http.get("/clients", params={"provider": "salesforce",
                                                "external_id": record_id})
        return response.status_code == 200

    assert wait_for(visible, timeout=30)
    assert module_service.process.poll() is None
    assert http.get("/health").status_code == 200


def test_no_message_needed_the_unexpected_error_path(module_service):
    """Every accepted-but-invalid message was dead-lettered by a named stage, not by a crash."""
    log = module_service.log()
    assert "command batch of" not in log, log[-3000:]
    assert "dead-lettering message" not in log
