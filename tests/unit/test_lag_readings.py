"""Consumer lag read from the worker's consumer: per owned partition of the consumed topics,
end offset minus committed offset, with a fallback before the first commit."""

from __future__ import annotations

from faust.types import TP
from prometheus_client import CollectorRegistry

from app.metrics import LagGauges
from app.operations_api import consumer_lag

INBOUND, CHANGELOG = "crm.inbound.salesforce", "crm-events-clients-g1-changelog"


class FakeConsumer:
    def __init__(self, ends: dict[TP, int | None], committed: dict[TP, int | None],
                 read: dict[TP, int | None]):
        self.ends, self._committed_offset, self._read_offset = ends, committed, read

    def assignment(self) -> set[TP]:
        return set(self.ends)

    def highwater(self, tp: TP) -> int | None:
        return self.ends[tp]


def test_lag_is_the_end_minus_the_committed_offset_of_each_owned_consumed_partition():
    committed, read_only, untouched, unknown_end = (TP(INBOUND, p) for p in range(4))
    consumer = FakeConsumer(
        ends={committed: 120, read_only: 50, untouched: 7, unknown_end: None,
              TP(CHANGELOG, 0): 999},
        committed={committed: 100},
        read={read_only: 39})
    assert consumer_lag(consumer, {INBOUND}) == {
        (INBOUND, "0"): 20,
        (INBOUND, "1"): 10,  # not committed yet: counted from the offset after the last read
        (INBOUND, "2"): 7,  # nothing read yet: the whole partition
    }


def test_no_lag_is_reported_while_the_consumer_has_no_assignment():
    class Stopped:
        def assignment(self):
            raise RuntimeError("consumer not started")

    assert consumer_lag(Stopped(), {INBOUND}) == {}


def test_the_lag_gauges_report_what_the_worker_reads_at_scrape_time():
    gauges, registry = LagGauges(), CollectorRegistry()
    registry.register(gauges)
    readings = {(INBOUND, "0"): 5}
    gauges.watch(consumer_lag=lambda: readings, projection_lag=dict)

    assert registry.get_sample_value(
        "crm_consumer_lag", {"topic": INBOUND, "partition": "0"}) == 5
    readings = {(INBOUND, "1"): 2}  # a rebalance moved partition 0 away
    assert registry.get_sample_value(
        "crm_consumer_lag", {"topic": INBOUND, "partition": "0"}) is None
    assert registry.get_sample_value(
        "crm_consumer_lag", {"topic": INBOUND, "partition": "1"}) == 2
