"""Who may do what, and what never leaks: the bridge and the read API take separate keys, the
read API asks for its own when READ_API_KEYS is set (health stays open), and no configured secret
(API keys, Salesforce password and token, database password, HubSpot and Pipedrive credentials)
appears in the service's output, in any HTTP answer, or on the dead-letter topic, whatever is
thrown at it."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
import uuid
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import pytest
from fake_salesforce import FakeSalesforce
from service_process import ServiceProcess, load_sample, wait_for
from stream_fixtures import bootstrap_of

from app.db import create_pool
from app.dead_letter_replay import read_letters
from app.settings import Settings

OLD_BRIDGE_KEY = "bridge-old-9d41c7e2b0a54f3e"
NEW_BRIDGE_KEY = "bridge-new-52ab0f77c1d94e08"
READ_KEY = "reader-e3f0aa61d8b24c17"
SF_PASSWORD = "sf-pass-7b3c9e0d2a41"
SF_TOKEN = "sf-token-1c5e8f2a9b7d"
DB_PASSWORD = "db-pass-4f2e6a9c0b13"
HUBSPOT_SECRET = "hs-secret-0a8e5d3c7f21"
HUBSPOT_TOKEN = "hs-token-6d2b9f4e1a07"
PIPEDRIVE_PASSWORD = "pd-pass-3e7c1b9a5d48"
SECRETS = (OLD_BRIDGE_KEY, NEW_BRIDGE_KEY, READ_KEY, SF_PASSWORD, SF_TOKEN, DB_PASSWORD,
           HUBSPOT_SECRET, HUBSPOT_TOKEN, PIPEDRIVE_PASSWORD)
ACCOUNT_ID = "001SECRET000000AAA"


def with_password(dsn: str, password: str) -> str:
    """The embedded PostgreSQL trusts local connections, so the password is accepted unchecked:
    what matters here is that the service holds it and never shows it."""
    parts = urlsplit(dsn)
    netloc = f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
def salesforce():
    with FakeSalesforce(api_version="64.0", session_id="x") as fake:
        yield fake


@pytest.fixture(scope="module")
def service(broker_url, module_database, postgres, salesforce):
    if postgres[1] is None and urlsplit(module_database).password:
        pytest.fail("an external PostgreSQL with its own password: run on the embedded one")
    host_port = urlsplit(salesforce.url).netloc
    process = ServiceProcess(
        broker_url, with_password(module_database, DB_PASSWORD),
        BRIDGE_API_KEYS=f"{OLD_BRIDGE_KEY},{NEW_BRIDGE_KEY}", READ_API_KEYS=READ_KEY,
        # a login (username, password, token) against the fake, which refuses it: the
        # password and token travel, and the failure is logged and dead-lettered
        SALESFORCE_USERNAME="integration@example.com", SALESFORCE_PASSWORD=SF_PASSWORD,
        SALESFORCE_SECURITY_TOKEN=SF_TOKEN, SALESFORCE_DOMAIN=f"{host_port}/#",
        REQUESTS_CA_BUNDLE=salesforce.ca_file, SALESFORCE_MAX_RETRIES="1",
        HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET, HUBSPOT_ACCESS_TOKEN=HUBSPOT_TOKEN,
        PIPEDRIVE_WEBHOOK_USER="pipedrive", PIPEDRIVE_WEBHOOK_PASSWORD=PIPEDRIVE_PASSWORD,
        LOG_LEVEL="debug",
        # Faust's own variables for its pages, which must not turn them back on
        APP_WEB_TABLES_ENABLED="true", APP_WEB_ROUTER_ENABLED="true",
        APP_WEB_STATS_ENABLED="true", APP_WEB_GRAPH_ENABLED="true",
    ).start()
    yield process
    process.stop()


class Answers:
    """Every answer the service gave in this module, to search for secrets at the end."""

    def __init__(self, url: str):
        self.http = httpx.Client(base_url=url, timeout=10)
        self.bodies: list[str] = []

    def send(self, method: str, path: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, path, **kwargs)
        self.bodies.append(f"{response.status_code} {response.headers} {response.text}")
        return response


@pytest.fixture(scope="module")
def answers(service):
    collected = Answers(service.url)
    yield collected
    collected.http.close()


def post(answers: Answers, body: bytes | str, key: str | None = NEW_BRIDGE_KEY,
         content_type: str = "application/json") -> httpx.Response:
    headers = {"Content-Type": content_type, **({"X-API-Key": key} if key else {})}
    return answers.send("POST", "/events/salesforce/", content=body, headers=headers)


def read(answers: Answers, path: str, key: str | None = READ_KEY, **params) -> httpx.Response:
    return answers.send("GET", path, params=params,
                        headers={"X-API-Key": key} if key is not None else {})


def test_the_bridge_takes_either_rotated_key_and_nothing_else(answers):
    envelope = json.dumps(load_sample("account_create"))
    for key in (None, "", "wrong", NEW_BRIDGE_KEY[:-1], NEW_BRIDGE_KEY + "x", READ_KEY,
                f"{OLD_BRIDGE_KEY},{NEW_BRIDGE_KEY}"):
        assert post(answers, envelope, key).status_code == 401, key
    for key in (OLD_BRIDGE_KEY, NEW_BRIDGE_KEY):
        assert post(answers, envelope, key).status_code == 202


def test_bad_input_gets_4xx_answers(answers):
    envelope = load_sample("account_update")
    assert post(answers, json.dumps(envelope), content_type="text/plain").status_code == 415
    assert post(answers, b'{"id": ').status_code == 400
    broken = copy.deepcopy(envelope)
    del broken["detail"]["payload"]["ChangeEventHeader"]["recordIds"]
    assert post(answers, json.dumps(broken)).status_code == 422
    assert post(answers, b"[" + b"1," * 300_000 + b"1]").status_code == 413


def test_the_read_api_needs_its_own_key_and_health_stays_open(answers):
    lookup = {"provider": "salesforce", "external_id": "001Hs00003FqYbKIAV"}
    for path in ("/clients", "/deals", "/projections", "/views/clients-by-status",
                 f"/clients/{uuid.uuid4()}", f"/aggregates/{uuid.uuid4()}/events"):
        for key in (None, "", NEW_BRIDGE_KEY, READ_KEY[:-1]):
            assert read(answers, path, key, **lookup).status_code == 401, (path, key)
    view = wait_for(lambda: (r := read(answers, "/clients", **lookup)).status_code == 200
                    and r.json(), timeout=15)
    assert view["name"] == "Acme Corporation"
    assert read(answers, f"/clients/{view['aggregate_id']}").status_code == 200
    assert read(answers, f"/aggregates/{view['aggregate_id']}/events").status_code == 200
    assert read(answers, "/clients", limit="5").json()["items"]
    assert read(answers, "/projections").status_code == 200
    assert read(answers, "/health", key=None).status_code == 200


def test_no_page_serves_the_tables_around_the_read_key(answers):
    """Faust's own pages list the tables and read any key of them (`/table/...`) and show
    which worker owns which partitions (`/router/`, `/assignment/`), without asking for a key;
    its environment variables (set on this module's service) do not turn them on either."""
    lookup = {"provider": "salesforce", "external_id": "001Hs00003FqYbKIAV"}
    assert post(answers, json.dumps(load_sample("account_create"))).status_code == 202
    view = wait_for(lambda: (r := read(answers, "/clients", **lookup)).status_code == 200
                    and r.json(), timeout=15)
    tables = [p["table"] for p in read(answers, "/projections").json()["projections"].values()]
    assert tables, "no table to look for"
    for path in ("/table/", "/router/", "/assignment/", "/graph/",
                 *(f"/table/{table}/" for table in tables),
                 *(f"/table/{table}/{view['aggregate_id']}/" for table in tables),
                 *(f"/table/{table}/~partition/0/" for table in tables)):
        for key in (None, READ_KEY):
            assert read(answers, path, key).status_code == 404, (path, key)
    assert read(answers, "/", key=None).json() == {"status": "OK"}  # Faust's index, no stats


def test_the_read_api_answers_bad_queries_with_4xx(answers):
    assert read(answers, "/clients", bogus="1").status_code == 400
    assert read(answers, "/clients", limit="lots").status_code == 400
    assert read(answers, f"/clients/{uuid.uuid4()}").status_code == 404
    assert read(answers, "/aggregates/not-a-uuid/events").status_code == 404
    assert read(answers, "/views/nothing").status_code == 404


def test_no_secret_reaches_logs_answers_or_dead_letters(service, answers, salesforce):
    # a first change to an unknown record makes the service log in to Salesforce, which fails
    update = copy.deepcopy(load_sample("account_update"))
    update["id"] = str(uuid.uuid4())
    update["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [ACCOUNT_ID]
    assert post(answers, json.dumps(update)).status_code == 202
    letter = wait_for(lambda: next((x for x in dead_letters(service)
                                    if update["id"] in x["source_event_id"]), None),
                      timeout=30, interval=0.5)
    assert letter["stage"] == "crm" and "failed" in letter["reason"]
    # the login (username, password, token) was sent, and refused before any record was read
    assert "Unsupported method ('POST')" in letter["reason"] and salesforce.calls == []
    provoke_errors(answers)
    service.stop()  # flushes every log line
    output = service.log()

    assert "Signal received: 15" in output
    for secret in SECRETS:
        assert secret not in output, f"{secret} in the service output"
        for body in answers.bodies:
            assert secret not in body, f"{secret} in an answer: {body[:300]}"
        for record in dead_letters_raw(service):
            assert secret.encode() not in record


def provoke_errors(answers: Answers) -> None:
    """Wrong keys and bad input of every kind, on the bridge and the read API."""
    for key in (None, "wrong", OLD_BRIDGE_KEY[:-1], READ_KEY):
        assert post(answers, b"{}", key).status_code == 401
    assert post(answers, b"{}", content_type="text/plain").status_code == 415
    assert post(answers, b'{"id": ').status_code == 400
    assert post(answers, b'{"id": 1}').status_code == 422
    assert post(answers, b"[" + b"1," * 300_000 + b"1]").status_code == 413
    for key in (None, "wrong", NEW_BRIDGE_KEY):
        assert read(answers, "/clients", key).status_code == 401
    hubspot = answers.send("POST", "/events/hubspot/", content=b"[]", headers={
        "Content-Type": "application/json", "X-HubSpot-Signature-v3": "bm90IGl0",
        "X-HubSpot-Request-Timestamp": "1"})
    assert hubspot.status_code == 401
    pipedrive = answers.send("POST", "/events/pipedrive/", content=b"{}", auth=(
        "pipedrive", PIPEDRIVE_PASSWORD[:-1]), headers={"Content-Type": "application/json"})
    assert pipedrive.status_code == 401
    assert read(answers, "/clients", bogus="1").status_code == 400
    assert read(answers, "/aggregates/not-a-uuid/events").status_code == 404


def test_settings_never_show_secrets(monkeypatch):
    for name, value in {"BRIDGE_API_KEYS": f"{OLD_BRIDGE_KEY},{NEW_BRIDGE_KEY}",
                        "READ_API_KEYS": READ_KEY, "SALESFORCE_PASSWORD": SF_PASSWORD,
                        "SALESFORCE_SECURITY_TOKEN": SF_TOKEN, "SALESFORCE_USERNAME": "u",
                        "HUBSPOT_CLIENT_SECRET": HUBSPOT_SECRET,
                        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
                        "PIPEDRIVE_WEBHOOK_PASSWORD": PIPEDRIVE_PASSWORD,
                        "DATABASE_URL": f"postgresql://crm:{DB_PASSWORD}@db/crm"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    shown = f"{settings!r} {settings!s} {settings.model_dump()} {settings.model_dump_json()}"
    assert settings.postgres_dsn.endswith(f":{DB_PASSWORD}@db/crm")  # held, not shown
    assert settings.api_keys == (OLD_BRIDGE_KEY.encode(), NEW_BRIDGE_KEY.encode())
    for secret in SECRETS:
        assert secret not in shown


def dead_letters(service: ServiceProcess) -> list[dict]:
    async def read() -> list[dict]:
        pool = await create_pool(service.env["DATABASE_URL"], min_size=1, max_size=1)
        try:
            letters = await read_letters(bootstrap_of(service.env["KAFKA_BROKER_URL"]),
                                         service.topics["dead_letter"], pool)
        finally:
            await pool.close()
        return [letter.record for letter in letters]

    return asyncio.run(read())


def dead_letters_raw(service: ServiceProcess) -> list[bytes]:
    """Each letter as stored, and the original message it carries."""
    return [orjson.dumps(record) + base64.b64decode(record.get("original_b64", ""))
            for record in dead_letters(service)]
