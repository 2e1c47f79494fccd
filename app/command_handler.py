"""The command side: inbound provider messages in, stored and published domain events out.

Works a batch at a time (one transaction, one round of sends) for throughput. Per-message faults
become dead letters; infrastructure faults propagate so the agent retries the whole batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson

from app import metrics
from app.aggregate_cache import AggregateCache
from app.dead_letters import DeadLetter, InboundMessage
from app.event_store import AppendRequest, DuplicateSourceEvents, PostgresEventStore, StoredEvent
from app.identity_map import PostgresIdentityMap
from app.record_size import RecordSizeCheck, RecordTooLarge
from app.storable_text import NulCharacter, refuse_nul
from domain import services, validation
from domain.aggregates import AGGREGATE_TYPES, CRMRecordAggregate
from domain.changes import ChangeKind, RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.errors import ConcurrencyError, DomainError, ValidationProblem
from domain.ports import CRMRecordReader, ProviderAdapter, RecordInEvent

log = logging.getLogger(__name__)

LAST_PUBLICATION_WAIT_S = 10.0


class EnvelopeReader(Protocol):
    def __call__(self, envelope: Mapping, *, correlation_id: str, received_at: datetime,
                 raw_size: int, only_record_id: str | None) -> list[ProcessCRMEventCommand]: ...


class Publisher(Protocol):
    async def publish(self, events: Sequence[StoredEvent]) -> None: ...


class DeadLetterSink(Protocol):
    async def send(self, dead_letters: Sequence[DeadLetter]) -> None: ...


@dataclass(frozen=True)
class Provider:
    adapter: ProviderAdapter
    read_envelope: EnvelopeReader
    crm: CRMRecordReader | None = None


@dataclass
class BatchResult:
    stored: list[StoredEvent] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0


@dataclass
class _Work:
    message: InboundMessage
    command: ProcessCRMEventCommand
    change: RecordChange


class CommandHandler:
    def __init__(self, providers: Mapping[str, Provider], store: PostgresEventStore,
                 identities: PostgresIdentityMap, publisher: Publisher,
                 dead_letters: DeadLetterSink, cache: AggregateCache, max_retries: int = 5,
                 failpoint: str | None = None, max_message_bytes: int = 1_000_000):
        self.providers = providers
        self.adapters = {name: provider.adapter for name, provider in providers.items()}
        self.store = store
        self.identities = identities
        self.publisher = publisher
        self.dead_letters = dead_letters
        self.cache = cache
        self.max_retries = max_retries
        self.failpoint = failpoint
        self.max_message_bytes = max_message_bytes
        self.record_sizes = RecordSizeCheck()
        self._publication: asyncio.Future | None = None  # the last batch's, if behind

    async def handle(self, messages: Sequence[InboundMessage],
                     wait_for_publication: bool = True) -> BatchResult:
        """Record a batch (dead letters sent) and publish its events.

        Without `wait_for_publication` (the agent), the publication runs behind the next batch:
        the events are committed, so the outbox has them whatever happens to it, and one
        publication at most is in flight (the next batch's waits for it, which keeps each
        aggregate's order on the topic). The agent's batch no longer waits for the broker's
        acknowledgements before the next one starts.
        """
        work, rejected, repeated = self._accept(messages)
        result = await self._record_with_retries(work)
        refused = len(result.dead_letters)  # accepted commands the domain or the CRM refused
        recorded = len(work) - result.duplicates - refused
        result.duplicates += repeated
        result.dead_letters[:0] = rejected
        await self.dead_letters.send(result.dead_letters)
        # counted right after the dead letters, with no await between: a scrape never sees a
        # dead letter whose failed command is not counted yet
        if messages:
            metrics.count_commands(messages[0].provider, recorded=recorded,
                                   duplicates=result.duplicates,
                                   failed_stages=[d.stage for d in result.dead_letters])
            log.info("%d messages: %d commands recorded as %d events, %d duplicates, "
                     "%d dead-lettered", len(messages), recorded, len(result.stored),
                     result.duplicates, len(result.dead_letters))
        await self.publication_done()
        if result.stored:
            self._publication = asyncio.ensure_future(self.publish(result.stored))
        if wait_for_publication:
            await self.publication_done()
        return result

    async def publish(self, stored: Sequence[StoredEvent]) -> None:
        """Send, then clear the outbox; what fails to send or to clear stays for the outbox
        relay (the topic is at least once).

        Events of the same aggregates left in the outbox earlier (a crash between commit and
        publish, a broker outage) go first, so the topic keeps each aggregate's order.
        """
        if not stored:
            return
        try:
            sending = [*await self.store.unpublished_before(stored), *stored]
            await self.publisher.publish(sending)
        except Exception:
            metrics.PUBLISH_FAILURES.labels("batch").inc()
            log.exception("publishing %d events failed; the outbox relay will resend", len(stored))
            return
        try:
            await self.store.mark_published([s.position for s in sending])
        except Exception:
            log.exception("clearing %d published events from the outbox failed; the relay "
                          "will resend them", len(sending))

    async def publication_done(self, timeout: float | None = None) -> None:
        """Wait for the last publication behind a batch, its outbox clean-up included (the
        agent's next batch, the relay timer and the runtime's stop may all wait; none cancels
        it)."""
        if self._publication is not None and not self._publication.done():  # else no loop turn
            await asyncio.wait([self._publication], timeout=timeout)

    async def stop_publishing(self, timeout: float = LAST_PUBLICATION_WAIT_S) -> None:
        """At shutdown: wait for the last publication, at most `timeout` seconds (a broker
        outage must not hold the stop), then give it up: its events stay in the outbox for the
        relay."""
        await self.publication_done(timeout)
        if self._publication is not None:
            self._publication.cancel()  # nothing, if it is done

    async def relay_outbox(self, older_than_s: float) -> int:
        """Publish committed events that a crash or a broker outage left in the outbox."""
        await self.publication_done()  # else what is being published would count as left
        relayed = 0
        while batch := await self.store.unpublished(older_than_s=older_than_s):
            await self.publisher.publish(batch)
            await self.store.mark_published([stored.position for stored in batch])
            relayed += len(batch)
        return relayed

    # -- accepting: decode, split per record, validate ---------------------------------------

    def _accept(self, messages: Sequence[InboundMessage]
                ) -> tuple[list[_Work], list[DeadLetter], int]:
        """The commands to record, the dead letters of the others, and how many repeated a
        source event already in the batch (duplicates, like those recorded before)."""
        work: list[_Work] = []
        rejected: list[DeadLetter] = []
        seen: set[str] = set()
        repeated = 0
        for message in messages:
            try:
                commands = self._commands(message)
            except NulCharacter as error:
                reason = str(error)
                rejected.append(DeadLetter("validation", reason, message,
                                           [ValidationProblem("technical", "body", reason)]))
                continue
            except (ValueError, TypeError, AttributeError) as error:
                rejected.append(DeadLetter("decode", f"undecodable message: {error}", message))
                continue
            for command in commands:
                if command.source_event_id in seen:
                    repeated += 1
                    continue
                seen.add(command.source_event_id)
                problems, change = validation.accept(command, self.adapters)
                if problems or change is None:
                    rejected.append(DeadLetter("validation", "; ".join(map(str, problems)),
                                               message, problems, command.source_event_id))
                    continue
                if change.kind is ChangeKind.RESYNC:
                    rejected.append(_resync_request(message, command))
                    continue
                work.append(_Work(message, command, change))
        return work, rejected, repeated

    def _commands(self, message: InboundMessage) -> list[ProcessCRMEventCommand]:
        provider = self.providers.get(message.provider)
        if provider is None:
            raise ValueError(f"no adapter for provider {message.provider!r}")
        envelope = orjson.loads(message.value)
        if not isinstance(envelope, dict):
            raise ValueError("the envelope is not a JSON object")
        refuse_nul(message.value, envelope)
        received_at = message.headers.get("received-at")
        return provider.read_envelope(
            envelope,
            correlation_id=message.correlation_id,
            received_at=datetime.fromisoformat(received_at) if received_at else datetime.now(UTC),
            raw_size=len(message.value),
            only_record_id=message.key,
        )

    # -- recording: identity, load, decide, append -------------------------------------------

    async def _record_with_retries(self, work: list[_Work]) -> BatchResult:
        """Reload and decide again after a conflict, at most `max_retries` times. Duplicates
        need no limit: the next round filters out what another worker committed."""
        conflicts = 0
        while True:
            try:
                return await self._record(work)
            except ConcurrencyError as conflict:
                metrics.CONCURRENCY_CONFLICTS.inc()
                conflicts += 1
                if conflicts > self.max_retries:
                    raise
                log.warning("%s (retry %d/%d), reloading", conflict, conflicts, self.max_retries)
            except DuplicateSourceEvents as duplicates:
                log.info("%d source events already processed elsewhere, skipping",
                         len(duplicates.source_event_ids))

    async def _record(self, work: list[_Work]) -> BatchResult:
        result = BatchResult()
        if not work:
            return result
        done = await self.store.processed(w.command.source_event_id for w in work)
        result.duplicates = sum(w.command.source_event_id in done for w in work)
        work = [w for w in work if w.command.source_event_id not in done]
        if not work:
            return result
        ids = await self.identities.aggregate_ids([_identity_key(w.change) for w in work])
        aggregates = await self._aggregates({ids[_identity_key(w.change)]: w.change.aggregate_type
                                             for w in work}, ids.minted)
        try:
            requests = await self._decide(work, ids, aggregates, result)
            result.stored = await self.store.append_batch(list(requests.values()))
            crash_if_failpoint(self.failpoint, "crash_after_commit")
        except BaseException:
            self.cache.evict(set(aggregates))  # they may hold undecided or unstored events
            raise
        for aggregate in aggregates.values():
            self.cache.put(aggregate)
        return result

    async def _aggregates(self, types_by_id: dict[str, str], new_ids: set[str]
                          ) -> dict[str, CRMRecordAggregate]:
        """Cached, new (an id minted just now has no history), or loaded."""
        cached = {aid: self.cache.get(aid) for aid in types_by_id}
        found = {aid: aggregate for aid, aggregate in cached.items() if aggregate is not None}
        found.update({aid: AGGREGATE_TYPES[kind](aid) for aid, kind in types_by_id.items()
                      if aid in new_ids and aid not in found})
        missing = {aid: kind for aid, kind in types_by_id.items() if aid not in found}
        if missing:
            found.update(await self.store.load_many(missing))
        return found

    async def _decide(self, work: list[_Work], ids: dict, aggregates: dict,
                      result: BatchResult) -> dict[str, AppendRequest]:
        requests: dict[str, AppendRequest] = {}
        for item in work:
            aggregate = aggregates[ids[_identity_key(item.change)]]
            request = requests.get(aggregate.id)
            if request is None:  # the aggregate's first change in the batch
                request = requests[aggregate.id] = AppendRequest(
                    aggregate.id, aggregate.aggregate_type, aggregate.version)
            try:
                current = (await self._current_state(aggregate, item)
                           if services.needs_current_state(aggregate, item.change) else None)
                self.record_sizes.check_fits(aggregate, item.change, current,
                                             self.max_message_bytes)
                events = services.record_change(aggregate, item.change, current)
            except (DomainError, RecordTooLarge, CRMUnavailable) as error:
                stage = "crm" if isinstance(error, CRMUnavailable) else "domain"
                result.dead_letters.append(DeadLetter(
                    stage, str(error), item.message, source_event_id=item.command.source_event_id))
                continue
            request.events += events
            request.source_event_ids.append(item.command.source_event_id)
        for request in requests.values():
            aggregate = aggregates[request.aggregate_id]
            if self.store.snapshot_due(request.expected_version, aggregate.version):
                request.snapshot = aggregate.snapshot()
        return requests

    async def _current_state(self, aggregate: CRMRecordAggregate, item: _Work) -> dict | None:
        """The CRM's copy of the record, which `services.needs_current_state` asked for."""
        provider = self.providers[item.command.provider]
        if isinstance(provider.adapter, RecordInEvent):
            return provider.adapter.record_in_event(item.command)
        if provider.crm is None:
            raise CRMUnavailable(f"no {item.command.provider} API configured to re-read "
                                 f"{item.change.entity} {item.change.external_id}")
        try:
            record = await provider.crm.fetch_record(item.change.entity, item.change.external_id)
        except Exception as error:
            raise CRMUnavailable(f"reading {item.change.entity} {item.change.external_id} from "
                                 f"{item.command.provider} failed: {error}") from error
        return provider.adapter.map_record(item.change.entity, record)


def crash_if_failpoint(failpoint: str | None, name: str) -> None:
    """Reliability tests only: die here as a `kill -9` would (no cleanup, nothing flushed)."""
    if failpoint == name:
        log.critical("failpoint %s: killing the process", name)
        os.kill(os.getpid(), signal.SIGKILL)


class CRMUnavailable(Exception):
    """The CRM could not tell us a record's current state; the command is parked."""


def _identity_key(change: RecordChange) -> tuple[str, str, str]:
    return change.provider, change.entity, change.external_id


def _resync_request(message: InboundMessage, command: ProcessCRMEventCommand) -> DeadLetter:
    reason = (f"{command.provider} lost change events for {command.entity} (GAP_OVERFLOW): "
              f"re-synchronise every {command.entity} record")
    return DeadLetter("resync", reason, message, source_event_id=command.source_event_id)
