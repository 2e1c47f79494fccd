"""Who may post webhooks: HubSpot's v3 signature and Pipedrive's basic auth."""

from __future__ import annotations

import base64

import pytest

from app.hubspot_signature import SignatureRejected, signature_v3, signed_uri, verify_v3
from app.pipedrive_bridge import basic_auth_valid

SECRET = b"yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URL = "https://crm.example.com/events/hubspot/"
BODY = b'[{"eventId":1,"subscriptionType":"contact.creation","objectId":451}]'
NOW = 1_764_000_000_000


def verify(**overrides) -> None:
    timestamp = str(NOW - 1000)
    request = {"secret": SECRET, "method": "POST", "uri": URL, "body": BODY,
               "signature": signature_v3(SECRET, "POST", URL, BODY, timestamp),
               "timestamp": timestamp, "now_ms": NOW}
    verify_v3(**{**request, **overrides})


def test_a_request_signed_with_the_secret_and_sent_now_is_accepted():
    verify()


def test_the_signature_is_base64_hmac_sha256_of_method_uri_body_and_timestamp():
    import hashlib
    import hmac

    expected = base64.b64encode(hmac.new(
        SECRET, b"POST" + URL.encode() + BODY + b"1764000000000", hashlib.sha256).digest())

    assert signature_v3(SECRET, "POST", URL, BODY, "1764000000000") == expected.decode()


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"signature": "bm90IGl0"}, "does not match"),
    ({"body": BODY.replace(b"451", b"452")}, "does not match"),
    ({"uri": URL + "?portal=1"}, "does not match"),
    ({"secret": b"another app's secret"}, "does not match"),
    ({"now_ms": NOW + 5 * 60 * 1000}, "more than 5 minutes"),
    ({"now_ms": NOW - 6 * 60 * 1000}, "more than 5 minutes"),
    ({"signature": None}, "missing"),
    ({"timestamp": None}, "missing"),
    ({"timestamp": "yesterday"}, "not epoch milliseconds"),
    ({"timestamp": "\u00b2"}, "not epoch milliseconds"),  # a digit to str.isdigit, not to int()
    ({"timestamp": "1" * 5000}, "not epoch milliseconds"),  # more digits than int() parses
    # a header that is not UTF-8, as aiohttp hands it over
    ({"signature": b"\xff\xfe".decode("utf-8", "surrogateescape")}, "does not match"),
])
def test_a_wrong_stale_or_missing_signature_is_rejected(overrides, reason):
    with pytest.raises(SignatureRejected, match=reason):
        verify(**overrides)


def test_the_signed_uri_decodes_only_the_characters_hubspot_decodes():
    # `=` (%3D) and space (%20) are not in HubSpot's list: they stay encoded.
    assert signed_uri("https://x.example/hook%3Fa%3Db%2Cc%20d%2fe%40") == (
        "https://x.example/hook?a%3Db,c%20d/e@")


def test_a_uri_percent_encoded_in_transit_still_verifies():
    timestamp = str(NOW)
    signature = signature_v3(SECRET, "POST", "https://x.example/h?a=b:c", BODY, timestamp)

    verify_v3(secret=SECRET, method="POST", uri="https://x.example/h?a=b%3Ac", body=BODY,
              signature=signature, timestamp=timestamp, now_ms=NOW)


def basic(credentials: bytes) -> str:
    return "Basic " + base64.b64encode(credentials).decode()


@pytest.mark.parametrize(("authorization", "valid"), [
    (basic(b"hook:s3cret"), True),
    ("basic " + base64.b64encode(b"hook:s3cret").decode(), True),
    (basic(b"hook:wrong"), False),
    (basic(b"other:s3cret"), False),
    (basic(b"hook"), False),
    (basic(b"hook:s3cret:"), False),
    ("Bearer " + base64.b64encode(b"hook:s3cret").decode(), False),
    ("Basic not-base64!", False),
    (None, False),
    ("", False),
])
def test_pipedrive_basic_auth(authorization, valid):
    assert basic_auth_valid(authorization, b"hook", b"s3cret") is valid
