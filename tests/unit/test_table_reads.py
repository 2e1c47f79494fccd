"""The projection agent's table reads (`ChangelogWrites.read`): what this worker wrote or read
is kept and read back without the store, a bounded number per table, and forgotten on
every rebalance (a partition may have been written by another worker meanwhile)."""

from __future__ import annotations

import asyncio

import faust
from table_fakes import Table

from projections.agents import forget_on_rebalance
from projections.table_writes import ChangelogWrites


class CountingStore(dict):
    """A table's local store that counts the reads it serves."""

    reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


def table_of(changelog_topic: str) -> Table:
    return Table(changelog_topic, CountingStore())


async def no_producer():
    raise AssertionError("nothing is flushed here")


def test_what_was_written_is_read_back_without_the_store():
    table, writes = table_of("clients-changelog"), ChangelogWrites(no_producer)
    writes.write(table, 0, [("a", {"version": 1})])

    assert writes.read(table, "a") == {"version": 1}
    assert table.data.reads == 0
    assert table.data["a"] == {"version": 1}  # and the store has it too


def test_a_value_not_kept_is_read_from_the_store_once():
    table, writes = table_of("clients-changelog"), ChangelogWrites(no_producer)
    table.data["a"] = {"version": 3}

    assert writes.read(table, "a") == {"version": 3}
    assert writes.read(table, "a") == {"version": 3}
    assert table.data.reads == 1


def test_a_missing_key_is_asked_of_the_store_every_time():
    table, writes = table_of("clients-changelog"), ChangelogWrites(no_producer)

    assert writes.read(table, "a") is None
    table.data["a"] = {"version": 1}  # e.g. recovered from the changelog
    assert writes.read(table, "a") == {"version": 1}


def test_tables_keep_their_own_values():
    clients, deals = table_of("clients-changelog"), table_of("deals-changelog")
    writes = ChangelogWrites(no_producer)
    writes.write(clients, 0, [("a", {"table": "clients"})])
    writes.write(deals, 0, [("a", {"table": "deals"})])

    assert writes.read(clients, "a") == {"table": "clients"}
    assert writes.read(deals, "a") == {"table": "deals"}


def test_the_least_recently_kept_value_goes_first_past_the_bound():
    table, writes = table_of("clients-changelog"), ChangelogWrites(no_producer, kept_per_table=2)
    writes.write(table, 0, [("a", {"v": 1})])
    writes.write(table, 0, [("b", {"v": 1})])
    writes.write(table, 0, [("a", {"v": 2})])  # "a" kept again: "b" is now the oldest
    writes.write(table, 0, [("c", {"v": 1})])

    assert [writes.read(table, key) for key in ("a", "c")] == [{"v": 2}, {"v": 1}]
    assert table.data.reads == 0
    assert writes.read(table, "b") == {"v": 1}
    assert table.data.reads == 1


def test_a_rebalance_forgets_every_value_kept():
    app = faust.App("table-reads-test", broker="memory://")
    table, writes = table_of("clients-changelog"), ChangelogWrites(no_producer)
    forget_on_rebalance(app, writes)

    for signal in (app.on_partitions_revoked, app.on_partitions_assigned):
        writes.write(table, 0, [("a", {"version": 1})])
        table.data["a"] = {"version": 7}  # written by the partition's other owner meanwhile
        asyncio.run(signal.send(set()))
        assert writes.read(table, "a") == {"version": 7}
