"""A webhook body's Content-Encoding, on the bridge process and the worker: a coding the service
does not decode is a JSON 415 naming it (br and zstd were aiohttp's plain-text 400), x-gzip is
gzip, a gzip body cut before its end is refused (it was taken as whole), a zip bomb is a 413,
a client leaving halfway through its body is no 500, and one sending less than it announced
gets a 408 (it held its connection as long as it liked)."""

from __future__ import annotations

import copy
import gzip
import socket
import time
import uuid
import zlib

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_process import API_KEY, ServiceProcess, load_sample, wait_for

from app.embedded import free_port

pytestmark = pytest.mark.e2e

SHARED = ("APP_ID", "INBOUND_TOPIC_PREFIX", "DOMAIN_EVENTS_TOPIC", "DEAD_LETTER_TOPIC")
MAX_BODY_BYTES = 65536
BODY_READ_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def bridge(broker_url, module_service):
    process = ServiceProcess(broker_url, "postgresql://unused.invalid/none", command="bridge",
                             WEB_PORT=str(free_port()), MAX_BODY_BYTES=str(MAX_BODY_BYTES),
                             BODY_READ_TIMEOUT_S=str(BODY_READ_TIMEOUT_S),
                             **{name: module_service.env[name] for name in SHARED}).start()
    yield process
    process.stop()


def new_change() -> bytes:
    envelope = copy.deepcopy(load_sample("account_create"))
    envelope["id"] = str(uuid.uuid4())
    envelope["detail"]["payload"]["ChangeEventHeader"]["recordIds"] = [
        f"001CODING{uuid.uuid4().hex[:9]}"]
    return orjson.dumps(envelope)


def post(process: ServiceProcess, content: bytes, coding: str) -> httpx.Response:
    return httpx.post(f"{process.url}/events/salesforce/", content=content, timeout=10, headers={
        "X-API-Key": API_KEY, "Content-Type": "application/json", "Content-Encoding": coding})


@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, gzip"])
def test_a_coding_not_decoded_is_a_json_415_on_the_bridge_and_the_worker(
        bridge, module_service, coding):
    for process in (bridge, module_service):
        answer = post(process, new_change(), coding)
        assert answer.status_code == 415, (process.command, answer.text)
        assert answer.headers["Content-Type"].startswith("application/json")
        assert repr(coding) in answer.json()["error"]


def test_x_gzip_and_raw_deflate_are_decoded(bridge):
    assert post(bridge, gzip.compress(new_change()), "x-gzip").status_code == 202
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw_deflate.compress(new_change()) + raw_deflate.flush()
    assert post(bridge, body, "deflate").status_code == 202
    assert post(bridge, zlib.compress(new_change()), "deflate").status_code == 202


def test_a_cut_or_padded_gzip_body_is_refused_with_the_reason(bridge):
    whole = gzip.compress(new_change())
    for body, reason in [(whole[:-8], "truncated"),  # its checksum and length left out
                         (whole[: len(whole) // 2], "truncated"),
                         (whole + b"more", "data after the gzip stream"),
                         (b"not gzip at all", "not valid gzip")]:
        answer = post(bridge, body, "gzip")
        assert answer.status_code == 400, answer.text
        assert "cannot read the body" in answer.json()["error"]
        assert reason in answer.json()["error"]


def test_a_body_in_another_encoding_than_utf8_is_refused_as_such(bridge):
    text = new_change().decode()
    for body in (text.encode("utf-16"), text.replace("Acme", "Acmé").encode("latin-1")):
        answer = post(bridge, body, "identity")
        assert answer.status_code == 400, answer.text
        assert "the body is not UTF-8" in answer.json()["error"], answer.text


def test_a_body_inflating_past_the_limit_is_a_413(bridge):
    bomb = gzip.compress(b" " * (64 * MAX_BODY_BYTES))  # 4 MB of spaces in about 4 KB
    answer = post(bridge, bomb, "gzip")
    assert answer.status_code == 413 and "larger than" in answer.json()["error"]
    assert post(bridge, gzip.compress(new_change()), "gzip").status_code == 202


def test_a_client_leaving_halfway_through_its_body_is_no_500(bridge):
    body, before = new_change(), answers(bridge)
    with socket.create_connection(("127.0.0.1", bridge.port)) as connection:
        connection.sendall(b"POST /events/salesforce/ HTTP/1.1\r\nHost: bridge\r\n"
                           b"X-API-Key: " + API_KEY.encode() + b"\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
    after = wait_for(lambda: (now := answers(bridge)) != before and now, timeout=10)
    assert after.get("500") == before.get("500"), (before, after)
    assert "/events/salesforce/ failed" not in bridge.log()


def test_a_client_sending_less_than_it_announced_gets_a_408_in_time(bridge):
    body = new_change()
    with socket.create_connection(("127.0.0.1", bridge.port)) as connection:
        connection.settimeout(BODY_READ_TIMEOUT_S + 9)
        connection.sendall(b"POST /events/salesforce/ HTTP/1.1\r\nHost: bridge\r\n"
                           b"X-API-Key: " + API_KEY.encode() + b"\r\n"
                           b"Content-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        started = time.monotonic()
        answer = connection.recv(65536)  # the rest of the body never comes
        waited = time.monotonic() - started

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), answer
    assert b"application/json" in rest and b"did not arrive within 1 s" in rest, answer
    assert waited < BODY_READ_TIMEOUT_S + 5


def answers(process: ServiceProcess) -> dict[str, float]:
    """The bridge's answers to Salesforce posts, by status, from its metrics."""
    text = httpx.get(f"{process.url}/metrics", timeout=5).text
    return {sample.labels["status"]: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "crm_bridge_events_received"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels["provider"] == "salesforce"
            and sample.value}
