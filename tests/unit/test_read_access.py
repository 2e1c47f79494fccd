"""The read API's own keys: open when none are configured, else only a configured key reads,
and a worker passes the caller's key on when it gathers an answer from its peers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.api_keys import key_accepted
from app.settings import Settings
from projections.read_access import ReadAccess

KEYS = (b"reader-old", b"reader-new")


def request(**headers: str) -> SimpleNamespace:
    return SimpleNamespace(headers=headers)


@pytest.mark.parametrize("presented", ["reader-old", "reader-new"])
def test_any_configured_key_is_accepted(presented):
    assert key_accepted(presented, KEYS)


@pytest.mark.parametrize("presented", [None, "", "reader-ol", "reader-oldx", "READER-OLD",
                                       "reader-old,reader-new",
                                       # bytes that are not UTF-8, as aiohttp hands them over
                                       b"reader-old\xff".decode("utf-8", "surrogateescape")])
def test_anything_else_is_refused(presented):
    assert not key_accepted(presented, KEYS)


def test_no_keys_configured_means_open_and_nothing_forwarded():
    access = ReadAccess()
    assert access.open and access.allows(request())
    assert access.forwarded_headers(request(**{"X-API-Key": "anything"})) == {}


def test_with_keys_a_request_needs_one_and_peers_get_the_callers_key():
    access = ReadAccess(KEYS)
    assert not access.allows(request())
    assert not access.allows(request(**{"X-API-Key": "nope"}))
    assert access.allows(request(**{"X-API-Key": "reader-new"}))
    assert access.forwarded_headers(request(**{"X-API-Key": "reader-new"})) == {
        "X-API-Key": "reader-new"}


def test_read_api_keys_come_from_settings_separate_from_the_bridge_keys(monkeypatch):
    monkeypatch.setenv("BRIDGE_API_KEYS", "bridge-1")
    monkeypatch.setenv("READ_API_KEYS", " reader-old , reader-new ,")
    settings = Settings()
    assert settings.read_keys == KEYS and settings.api_keys == (b"bridge-1",)
    monkeypatch.delenv("READ_API_KEYS")
    assert Settings().read_keys == ()
