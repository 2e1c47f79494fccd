"""Answers that need every partition of a table, from whichever workers own them.

Each worker answers for the partitions it actively owns (never for standby copies or partitions
it held before a rebalance); the asking worker adds the answers up and checks that together
they cover every partition exactly once. If they do not (a rebalance is moving partitions),
the request fails with 503 and may be retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import faust
from yarl import URL

from projections.tables import ProjectionTable

LOCAL_SCOPE = "local"  # ?scope=local: answer only for this worker's partitions

LocalAnswer = Callable[[set[int]], dict[str, Any]]


class PartitionsUnavailable(Exception):
    def __init__(self, missing: set[int], doubled: set[int]):
        self.missing, self.doubled = missing, doubled
        super().__init__(f"partitions not available: missing {sorted(missing)}, "
                         f"answered twice {sorted(doubled)} (rebalancing?); retry")


class PeerUnavailable(Exception):
    """A worker owning partitions of the answer did not give its part."""

    def __init__(self, host: URL, error: Exception):
        super().__init__(f"the worker at {host} did not answer for its partitions "
                         f"({type(error).__name__}: {error}; rebalancing?); retry")


class NotServedHere(Exception):
    """This worker does not serve the key now: its tables are recovering (a start, a
    rebalance), or the key's partition moved to another worker while a read waited."""

    def __init__(self, key: str):
        super().__init__(f"{key} is not served here right now (rebalancing); retry")


class Cluster:
    def __init__(self, app: faust.App, partitions: int, timeout_s: float = 5.0):
        self.app = app
        self.partitions = partitions
        self.timeout_s = timeout_s

    def active_partitions(self, table: ProjectionTable) -> set[int]:
        """The partitions this worker answers for: none while its tables recover (assigned
        partitions it has not read from their changelogs yet would answer empty or stale)."""
        if self.recovering():
            return set()
        topic = table.changelog_topic
        return {tp.partition for tp in self.app.assignor.assigned_actives()
                if tp.topic == topic}

    def recovering(self) -> bool:
        return self.app.in_recovery or not self.app.tables.recovery.completed.is_set()

    def check_serves(self, table: ProjectionTable, key: str) -> None:
        """Raise `NotServedHere` unless this worker serves `key` of `table` now."""
        try:
            owner = self.app.router.key_store(table.table.name, key)
        except KeyError:  # no assignment yet
            raise NotServedHere(key) from None
        if self.recovering() or _ident(owner) != self._me():
            raise NotServedHere(key)

    def local(self, table: ProjectionTable, answer: LocalAnswer) -> dict[str, Any]:
        partitions = self.active_partitions(table)
        return {**answer(partitions), "partitions": sorted(partitions)}

    async def gather(self, table: ProjectionTable, url: URL, answer: LocalAnswer,
                     headers: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every owner's answer for its partitions of `table` (this worker's computed here,
        the others' fetched from `url` with scope=local, sending `headers`: the caller's key)."""
        answers = [self.local(table, answer)]
        answers += await asyncio.gather(*(self._fetch(host, url, headers or {})
                                          for host in self._peers(table)))
        self._check_coverage(answers)
        return answers

    def has_peers(self, table: ProjectionTable) -> bool:
        """Other workers own partitions of `table`."""
        return bool(self._peers(table))

    def _peers(self, table: ProjectionTable) -> list[URL]:
        me = self._me()
        hosts = [URL(host) for host in self.app.router.table_metadata(table.table.name)]
        return [host for host in hosts if _ident(host) != me]

    def _me(self) -> tuple[str, int]:
        return _ident(URL(str(self.app.conf.canonical_url)))

    async def _fetch(self, host: URL, url: URL, headers: Mapping[str, str]) -> dict[str, Any]:
        target = url.with_scheme(host.scheme).with_host(host.host).with_port(host.port)
        target = target.update_query(scope=LOCAL_SCOPE)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self.app.http_client.get(target, timeout=timeout,
                                                headers=dict(headers)) as response:
                response.raise_for_status()
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:  # down, slow, refused
            raise PeerUnavailable(host, error) from error

    def _check_coverage(self, answers: list[Mapping[str, Any]]) -> None:
        seen: set[int] = set()
        doubled: set[int] = set()
        for answer in answers:
            for partition in answer["partitions"]:
                (doubled if partition in seen else seen).add(partition)
        missing = set(range(self.partitions)) - seen
        if missing or doubled:
            raise PartitionsUnavailable(missing, doubled)


def _ident(url: URL) -> tuple[str, int]:
    return (url.host or "", url.port or 80)
