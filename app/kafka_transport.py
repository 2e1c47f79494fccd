"""Faust's aiokafka transport with a configurable fetch wait, fetches of the partitions active
when asked only, the tables' changelogs paused in aiokafka's fetcher itself, aiokafka's consumer
on the app's event loop instead of a thread of its own, a fetch loop that hands each partition's
records over in one run (`app.fetch_loop`), a configurable limit of Faust's producer
buffer (where table changelog writes wait to be sent), and optionally producer batches that go
once they hold enough records (`app.counted_linger`).

Faust hard-codes `fetch_max_wait_ms=1500`. Brokers that hold a fetch for the whole wait when no
data is ready (the embedded tansu broker does) then add up to 1.5 s per hop; measured on tansu:
0.55-1.3 s per hop at 1500 ms, 3-7 ms at 50 ms. And Faust's fetch loop waits up to a second for
records of the partitions active when it asks; a shorter wait lets a partition resumed meanwhile
(its stream's buffer drained) be fetched at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service
from mode.utils.futures import maybe_async

from app import metrics
from app.counted_linger import send_when_counted
from app.fetch_loop import drain_in_runs
from app.message_delivery import finished, first_step, is_delivery_race, resumed
from app.raw_delivery import RawBytesConductor

log = logging.getLogger(__name__)

GETMANY_TIMEOUT_S = 0.05


def transport_with_fetch_wait(fetch_max_wait_ms: int, inline_delivery: bool,
                              batch_records: int | None = None, consumer_on_app_loop: bool = False
                              ) -> type[faust_aiokafka.Transport]:
    class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_max_wait_ms  # read when its fetcher starts
            return consumer

        async def on_thread_stop(self) -> None:
            try:
                await super().on_thread_stop()
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # this stop itself was cancelled
                # On stop aiokafka's fetcher cancels its pending requests and awaits them
                # unshielded (aio-libs/aiokafka#647): one waiting out a retry backoff, the
                # broker down, raised CancelledError out of `consumer.stop()`, this thread
                # ended without saying it had stopped, and the worker's stop waited 60 s for
                # it. What that stop did not reach: closing the client's connections.
                log.warning("consumer stopped while its broker was unreachable")
                await self._consumer._client.close()

        def set_fetching(self, tps: set[Any], fetching: bool) -> None:
            """In this thread: let aiokafka's fetcher fetch those partitions, or not."""
            consumer = self._consumer
            if consumer is None:
                return
            assigned = [TopicPartition(tp.topic, tp.partition) for tp in tps  # not Faust's TP
                        if tp in consumer.assignment()]  # else IllegalStateError
            if assigned:
                (consumer.resume if fetching else consumer.pause)(*assigned)

    class ConsumerOnAppLoop(ConsumerThread):
        """Faust's consumer "thread" run as a service on the app's own event loop.

        Faust runs aiokafka in a thread of its own with its own event loop: every fetch the
        fetch loop asks for crosses threads twice (a method queue there, a future set across
        loops back), and the two threads take turns at the GIL. At 1,000 events/s that was
        about 1,700 context switches a second and a fifth of the worker's CPU in the consumer
        thread; on the app's loop about 400, and the worker's CPU 0.50-0.53 instead of
        0.56-0.58 of a core. The thread's purpose, heartbeats while agents hold the loop, is
        served as well here: the agents yield after every table's work (tens of ms), far
        below the session timeout. The calls Faust makes "in the thread" are awaited directly.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["thread_loop"] = kwargs.get("loop") or asyncio.get_event_loop()
            super().__init__(*args, **kwargs)
            self._serving: asyncio.Future | None = None

        async def start(self) -> None:
            self._thread_started.set()
            self._thread_running = self.parent_loop.create_future()
            self._serving = asyncio.ensure_future(self._serve())  # what the thread would run
            try:
                await self._thread_running  # started, or the error it crashed with
            finally:
                self._thread_running = None

        async def stop(self) -> None:
            if self._started.is_set():
                await Service.stop(self)  # ServiceThread's would join a thread
                if self._serving is not None:  # a crash was reported already, as the thread's
                    await asyncio.wait([self._serving])

        async def _gather_remaining_tasks(self) -> None:
            """The thread's loop is the app's: its other tasks are not this service's to
            cancel (aiokafka's own end with `consumer.stop()`)."""

        async def call_thread(self, fun: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return await maybe_async(fun(*args, **kwargs))

        async def on_partitions_revoked(self, revoked: set[Any]) -> None:
            await self.consumer.on_partitions_revoked(revoked)

        async def on_partitions_assigned(self, assigned: set[Any], generation_id: int = 0
                                         ) -> None:
            await self.consumer.on_partitions_assigned(assigned, generation_id)

    class FetchWaitConsumer(faust_aiokafka.Consumer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._changelogs_not_fetched: set[Any] = set()  # paused in the fetcher (below)

        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            thread = ConsumerOnAppLoop if consumer_on_app_loop else ConsumerThread
            return thread(self, loop=self.loop, beacon=self.beacon)

        # Faust pauses a partition only in what it hands over: aiokafka's fetcher fetched the
        # tables' changelog partitions all along (20 of the worker's 37 partitions), which the
        # broker read on every fetch, and it kept each one's first records unconsumed, which
        # held back every fetch for aiokafka's 100 ms prefetch backoff. Changelogs are paused
        # and resumed around table recovery only, so they are paused in the fetcher as well.
        # (Stream partitions pause and resume as their buffers fill: that stays Faust's.)
        def pause_partitions(self, tps: Iterable[Any]) -> None:
            tps = set(tps)
            super().pause_partitions(tps)
            self._set_changelogs_fetching(tps, fetching=False)

        def resume_partitions(self, tps: Iterable[Any]) -> None:
            tps = set(tps)
            super().resume_partitions(tps)
            self._set_changelogs_fetching(tps, fetching=True)

        def verify_event_path(self, now: float, tp: Any) -> None:
            # Faust's health check reports a partition without a recent fetch request: one
            # paused here is meant not to have any (every changelog it owns, outside recovery)
            if tp not in self._changelogs_not_fetched:
                super().verify_event_path(now, tp)

        def _set_changelogs_fetching(self, tps: set[Any], fetching: bool) -> None:
            changelogs = {tp for tp in tps if self._is_changelog_tp(tp)}
            if fetching:
                self._changelogs_not_fetched.difference_update(changelogs)
            else:
                self._changelogs_not_fetched.update(changelogs)
            if changelogs:
                # a closed loop (RuntimeError): the consumer (its thread, or the app) has stopped
                with contextlib.suppress(RuntimeError):
                    self._thread.thread_loop.call_soon_threadsafe(
                        self._thread.set_fetching, changelogs, fetching)

        async def _drain_messages(self, fetcher: Any) -> None:
            if not inline_delivery:  # the Faust ceiling baseline keeps Faust's own loop
                return await super()._drain_messages(fetcher)
            await drain_in_runs(self, fetcher, GETMANY_TIMEOUT_S)

        def getmany(self, timeout: float) -> Any:
            # Faust asks for a second: records of the partitions active when it asks. A
            # partition paused while its stream's buffer was full, resumed meanwhile, waited
            # out that second (a 1 s stall whenever a backlog exceeds the stream buffer).
            return super().getmany(timeout=min(timeout, GETMANY_TIMEOUT_S))

        async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
            # Faust hands over its live set of active partitions, and aiokafka reads an empty
            # set as "every partition". When the set empties during the wait (table recovery
            # pausing the changelogs while the streams are still paused), the records of
            # paused partitions came back, Faust did not deliver them, and the consumer's
            # position had moved past them: records lost or committed as a gap. A copy asks
            # for exactly the partitions active now.
            if active_partitions is None:  # a client-only app: every assigned partition
                return await super()._getmany(None, timeout)
            return await super()._getmany(frozenset(active_partitions), timeout)

        async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
            # Faust counts offsets skipped between two deliveries as done (compaction and
            # transaction markers make such gaps); the service's topics have neither, so a
            # gap there means records were fetched and never delivered.
            log.warning("%s[%s]: offsets %d-%d skipped between deliveries, counted as done",
                        tp.topic, tp.partition, offset_from, offset_to - 1)
            metrics.OFFSETS_SKIPPED.labels(tp.topic).inc(offset_to - offset_from)
            await super()._add_gap(tp, offset_from, offset_to)

        async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
            if (inline_delivery and timeout is None and is_delivery_race(coros)
                    and not self.suspend_flow.is_set()):
                delivery, suspension = coros
                done, outcome = first_step(delivery)
                if done:
                    suspension.close()
                    return finished(delivery, outcome)
                coros = (resumed(delivery, outcome), suspension)
            return await super().wait_first(*coros, timeout=timeout)

    class CountedLingerProducer(faust_aiokafka.Producer):
        def _new_producer(self, transactional_id: str | None = None) -> Any:
            return send_when_counted(super()._new_producer(transactional_id), batch_records)

    class Transport(faust_aiokafka.Transport):
        Consumer = FetchWaitConsumer
        if batch_records:
            Producer = CountedLingerProducer
        if inline_delivery:
            Conductor = RawBytesConductor

    return Transport


class CRMEventsApp(faust.App):
    fetch_max_wait_ms: int = 1500
    # app.fetch_loop, app.message_delivery and app.raw_delivery; the Faust ceiling baseline
    # turns them off to keep Faust's own
    inline_delivery: bool = True
    # aiokafka on the app's event loop (ConsumerOnAppLoop); the ceiling baseline keeps Faust's
    # consumer thread
    consumer_on_app_loop: bool = True

    producer_buffer_max_messages: int = 100  # Faust's own limit (ProducerBuffer.max_messages)
    # a partition's batch goes once it holds this many records (None: at its linger's end)
    producer_batch_records: int | None = None

    def _new_producer(self) -> Any:
        producer = super()._new_producer()
        producer.buffer.max_messages = self.producer_buffer_max_messages
        return producer

    def _new_transport(self) -> Any:
        transport = transport_with_fetch_wait(self.fetch_max_wait_ms, self.inline_delivery,
                                              self.producer_batch_records,
                                              self.consumer_on_app_loop)
        return transport(self.conf.broker_consumer, self)
