"""The read API at its edges, over HTTP on one service process shared by the module: deal
amounts too large for a 64-bit integer or for exact sums in 28 digits, and lookups by external
id given empty values.

Each test uses record ids and stages of its own, so its view rows are its own.
"""

from __future__ import annotations

import copy
import uuid

import httpx
import pytest
from service_process import load_sample

pytestmark = pytest.mark.e2e

COMMIT_MS = 1_763_633_730_000


@pytest.fixture(scope="module")
def http(module_service):
    with module_service.client() as client:
        yield client


def tag() -> str:
    return uuid.uuid4().hex[:8]


def opportunity(record_id: str, step: int = 0, change_type: str | None = None,
                **fields) -> dict:
    """An Opportunity change envelope with only `fields` (Salesforce names) in its payload:
    a CREATE at step 0, else an UPDATE (or `change_type`), committed `step` seconds later."""
    envelope = copy.deepcopy(load_sample("opportunity_update"))
    envelope["id"] = str(uuid.uuid4())
    header = envelope["detail"]["payload"]["ChangeEventHeader"]
    header.update(recordIds=[record_id], transactionKey=str(uuid.uuid4()),
                  commitTimestamp=COMMIT_MS + step * 1000, changedFields=list(fields),
                  changeType=change_type or ("CREATE" if step == 0 else "UPDATE"))
    envelope["detail"]["payload"] = {"ChangeEventHeader": header, **fields}
    return envelope


def new_deal(record_id: str, stage: str, amount: float) -> dict:
    return opportunity(record_id, Name=f"Deal {record_id}", StageName=stage, Amount=amount,
                       CloseDate="2027-01-31")


def post(http: httpx.Client, envelope: dict) -> None:
    response = http.post("/events/salesforce/", json=envelope)
    assert response.status_code == 202, response.text


def deal_at_version(http: httpx.Client, record_id: str, version: int) -> dict:
    response = http.get("/deals", params={"provider": "salesforce", "external_id": record_id,
                                          "min_version": version, "wait": 10})
    assert response.status_code == 200 and response.json()["version"] == version, response.text
    return response.json()


def stage_rows(http: httpx.Client, stage: str) -> list[dict]:
    response = http.get("/views/deals-by-stage")
    assert response.status_code == 200, response.text
    return [row for row in response.json()["rows"] if row["stage"] == stage]


def test_the_stage_view_shows_amounts_beyond_64_bit_integers(http):
    stage, record = f"Huge-{tag()}", f"006HUGE{tag()}"
    post(http, new_deal(record, stage, 1e20))  # a whole number beyond 64 bits
    deal_at_version(http, record, 1)  # its stage's tally is written with it

    assert stage_rows(http, stage) == [{"stage": stage, "count": 1, "amount": 1e20}]


def test_a_stage_sum_beyond_a_float_is_null_and_the_view_still_answers(http):
    # eleven: a sum past 1e309, beyond the exponents a single amount may have
    stage, records = f"Overflow-{tag()}", [f"006OVER{tag()}" for _ in range(11)]
    for record in records:
        post(http, new_deal(record, stage, 1e308))
    for record in records:
        deal_at_version(http, record, 1)

    assert stage_rows(http, stage) == [{"stage": stage, "count": 11, "amount": None}]


def test_a_huge_amount_changed_to_a_small_one_leaves_the_exact_small_one(http):
    stage, record = f"Exact-{tag()}", f"006EXACT{tag()}"
    post(http, new_deal(record, stage, 1e30))
    post(http, opportunity(record, step=1, Amount=0.25))
    deal_at_version(http, record, 2)

    assert stage_rows(http, stage) == [{"stage": stage, "count": 1, "amount": 0.25}]

    post(http, opportunity(record, step=2, change_type="DELETE"))
    deal_at_version(http, record, 3)

    assert stage_rows(http, stage) == []  # no row left behind with a count of 0


@pytest.mark.parametrize("params", [
    {"provider": "", "external_id": ""},
    {"external_id": ""},
    {"provider": ""},
    {"provider": "salesforce", "external_id": ""},
])
def test_a_lookup_with_an_empty_provider_or_external_id_is_refused(http, params):
    response = http.get("/clients", params=params)

    assert response.status_code == 400, response.text
    assert "provider and external_id go together" in response.json()["error"]
