"""Faust's fetch loop, handing each fetched partition's records over in one run.

Faust's loop (`Consumer._drain_messages`) takes the records one at a time from two nested
async generators (`getmany`, its round-robin scheduler), looks the partition's high-water mark
up for every record, and delivers each through a coroutine chain: `wait_first` racing the
delivery against a rebalance suspending the flow, the conductor's `on_message` taking a lock
to find the partition's handler, the handler itself. A consume-only agent taking batches, as
the service's agents do, spent about 15 us of Faust per message that way, against 4-5 us for
aiokafka to fetch and parse it (18-24 us of CPU per message in all; 13-14 us with this loop).

Here the records of each partition are handed over in one run: the handler is looked up once
per partition (under the conductor's lock, as `on_message` does), and a raw-bytes partition's
records go straight into its stream's buffer (`app.raw_delivery`'s `deliver_now`) while nothing
has to wait. A record that would wait (a full buffer, the flow suspended, the producer buffer
over its limit) goes Faust's way, raced against the flow's suspension. Everything else Faust's
loop does for a record is kept: records below the read offset (fetched again after a seek)
are dropped, offsets skipped between two deliveries are counted as a gap, the flow's
suspension or a new generation stops the run, fetches made while the flow was stopped seek
back to the committed offsets, and the loop yields to the event loop every 100 records.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP

log = logging.getLogger(__name__)

YIELD_EVERY = 100  # records, as Faust's loop


async def drain_in_runs(consumer: Any, fetcher: Any, timeout: float) -> None:
    """`Consumer._drain_messages`, one partition's records at a time."""
    consumer_stopped, fetcher_stopped = consumer._stopped.is_set, fetcher._stopped.is_set
    try:
        while not (consumer_stopped() or fetcher_stopped()):
            consumer.diag.set_flag(CONSUMER_FETCHING)
            records, active = await consumer._wait_next_records(timeout)
            await consumer.sleep(0)  # as Faust's: getmany may return at once, again and again
            if records is not None and not consumer.should_stop:
                if consumer.flow_active:
                    await _deliver(consumer, records, active)
                else:
                    await _seek_back(consumer)
            consumer.diag.unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        consumer.diag.unset_flag(CONSUMER_FETCHING)


async def _deliver(consumer: Any, records: Mapping[TP, Sequence[Any]], active: Any) -> None:
    app = consumer.app
    generation = app.consumer_generation_id
    since_yield = 0
    for tp, tp_records in records.items():
        if active is not None and tp not in active and tp not in consumer._buffered_partitions:
            continue
        app.monitor.track_tp_end_offset(tp, consumer.highwater(tp))
        deliver_now = await _fast_handler(app.topics, tp)
        for record in tp_records:
            if not consumer.flow_active or app.consumer_generation_id != generation:
                return  # a rebalance: what is left is fetched again from the committed offsets
            await _deliver_one(consumer, tp, record, deliver_now)
            since_yield += 1
            if since_yield > YIELD_EVERY:
                await asyncio.sleep(0)
                since_yield = 0


async def _deliver_one(consumer: Any, tp: TP, record: Any,
                       deliver_now: Callable[[Any], bool] | None) -> None:
    offset = record.offset
    read_offset = consumer._read_offset[tp]
    if read_offset is not None and offset < read_offset:
        return  # fetched again after a seek: delivered already
    if read_offset and offset - read_offset > 1 and consumer.app.topics.acks_enabled_for(
            record.topic):
        await consumer._add_gap(tp, read_offset + 1, offset)
    commit_every = consumer._commit_every
    if commit_every is not None and consumer._n_acked >= commit_every:
        consumer._n_acked = 0
        await consumer.commit()
    message = consumer._to_message(tp, record)
    if deliver_now is None or not deliver_now(message):
        await consumer.wait_first(consumer.callback(message), consumer.suspend_flow.wait())
    consumer._read_offset[tp] = offset


async def _fast_handler(conductor: Any, tp: TP) -> Callable[[Any], bool] | None:
    """The partition's handler's synchronous delivery, if it has one (`app.raw_delivery`)."""
    async with conductor._tp_to_callback_lock:  # as `on_message`: a rebalance may be updating
        handler = conductor._tp_to_callback.get(tp)
    return getattr(handler, "deliver_now", None)


async def _seek_back(consumer: Any) -> None:
    """Records fetched while the flow was stopped: fetch again from the committed offsets."""
    try:
        await consumer.perform_seek()
    except Exception as error:
        log.warning("exception performing seek when flow not active %s", error)
