"""The command agents (one per provider inbound topic) and the outbox relay timer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence

import faust
from aiokafka.errors import KafkaError

from app import metrics, tracing
from app.db import is_transient
from app.dead_letters import DeadLetter, InboundMessage
from app.runtime import Runtime
from app.settings import Settings
from app.stream_batches import batches
from app.structured_logging import correlated

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0


def register_command_agents(app: faust.App, runtime: Runtime, settings: Settings) -> None:
    for provider, topic in runtime.topics.inbound.items():
        _register_command_agent(app, runtime, settings, provider, topic)

    @app.task
    async def relay_leftovers_at_start() -> None:
        try:
            await runtime.relay_outbox(older_than_s=0)
        except Exception:  # the relay timer tries again: a failure must not end the start
            metrics.PUBLISH_FAILURES.labels("relay").inc()
            log.exception("outbox relay at start failed; the relay timer tries again")
        runtime.ready = True

    @app.timer(settings.outbox_relay_interval_s)
    async def relay_outbox() -> None:
        try:
            await runtime.relay_outbox(older_than_s=settings.outbox_stale_after_s)
        except Exception:
            metrics.PUBLISH_FAILURES.labels("relay").inc()
            log.exception("outbox relay failed; next round in %ss",
                          settings.outbox_relay_interval_s)


def _register_command_agent(app: faust.App, runtime: Runtime, settings: Settings,
                            provider: str, topic: faust.TopicT) -> None:
    @app.agent(topic, name=f"process-{provider}-events")
    async def process_events(stream: faust.StreamT) -> None:
        try:
            async for events in batches(stream, settings.command_batch_size,
                                        settings.command_batch_within_s):
                messages = [_inbound(provider, event) for event in events]
                with correlated(m.correlation_id for m in messages), tracing.consuming(
                        f"process {provider} events", [m.headers for m in messages],
                        {"crm.provider": provider,
                         "messaging.batch.message_count": len(messages)}):
                    await handle_until_done(runtime, messages)
        finally:  # the last batch's publication, before the app stops its producer
            if runtime.handler is not None:
                await runtime.handler.stop_publishing()


async def handle_until_done(runtime: Runtime, messages: Sequence[InboundMessage]) -> None:
    """Retry a failing batch with backoff; after repeated failure, isolate the poison message."""
    assert runtime.handler is not None
    for attempt in range(1, 4):
        try:
            await runtime.handler.handle(messages, wait_for_publication=False)
            return
        except Exception as error:
            metrics.COMMAND_BATCH_ERRORS.labels(type(error).__name__).inc()
            log.exception("command batch of %d failed (attempt %d)", len(messages), attempt)
            await asyncio.sleep(min(MAX_BACKOFF_S, 0.2 * 2**attempt))
    for message in messages:
        with correlated([message.correlation_id]):
            await _handle_alone(runtime, message)


async def _handle_alone(runtime: Runtime, message: InboundMessage) -> None:
    for delay in _backoff():
        try:
            await runtime.handler.handle([message])
            return
        except Exception as error:
            # a broker error (its dead letters not sent) comes right when the broker does
            if not (is_transient(error) or isinstance(error, KafkaError)):
                log.exception("dead-lettering message %s:%s", message.partition, message.offset)
                await _park(runtime, DeadLetter(
                    "unexpected", f"{type(error).__name__}: {error}", message))
                return
            log.warning("transient failure (%s), retrying in %.1fs", error, delay)
            await asyncio.sleep(delay)


async def _park(runtime: Runtime, letter: DeadLetter) -> None:
    """Send the letter, retrying until the broker takes it: the agent must not fail here, as
    Faust would restart it and could commit past the batch it left (offsets acknowledged around
    it)."""
    for delay in _backoff():
        try:
            await runtime.handler.dead_letters.send([letter])
            break
        except Exception as error:
            log.warning("dead letter for %s:%s not sent (%s: %s), retrying in %.1fs",
                        letter.message.partition, letter.message.offset,
                        type(error).__name__, error, delay)
            await asyncio.sleep(delay)
    metrics.count_commands(letter.message.provider, recorded=0, duplicates=0,
                           failed_stages=[letter.stage])


def _backoff() -> Iterator[float]:
    """The waits between retries that go on until they succeed: from 0.5 s, doubling up to
    MAX_BACKOFF_S."""
    delay = 0.5
    while True:
        yield delay
        delay = min(MAX_BACKOFF_S, delay * 2)


def _inbound(provider: str, event: faust.EventT) -> InboundMessage:
    message = event.message
    raw_headers = message.headers or []
    pairs = raw_headers.items() if isinstance(raw_headers, dict) else raw_headers
    headers = {name: value.decode(errors="replace") for name, value in pairs}
    key = message.key.decode(errors="replace") if isinstance(message.key, bytes) else message.key
    return InboundMessage(provider=provider, value=message.value, key=key, headers=headers,
                          topic=message.topic, partition=message.partition, offset=message.offset)
