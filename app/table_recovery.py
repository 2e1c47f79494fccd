"""Faust's table recovery, with the stream partitions sought to their committed offsets before
they are resumed instead of after.

Faust (0.15) ends a rebalance by resuming the stream partitions, awaiting the seek to their
committed offsets, then resuming flow control, which empties every stream buffer. Whatever was
fetched while the seek was in flight is thrown away. A partition with a committed offset is
fetched again from it, but one nobody ever committed (taken over from a worker killed before its
first commit) is not sought at all: the emptied messages were skipped until the next rebalance,
and the records they carried missed the read model. Seeking while the partitions are still
paused means nothing is fetched before the positions are right, and nothing is thrown away.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery


class SeekBeforeResumeRecovery(Recovery):
    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        """Faust's own, with the seek moved before `resume_partitions`."""
        consumer = self.app.consumer
        self.log.info("Restore complete!")
        await self.app.on_rebalance_complete.send()
        self._set_recovery_ended()
        completions = [asyncio.ensure_future(table.on_recovery_completed(
            self.actives_for_table[table], self.standbys_for_table[table]))
            for table in self.tables.values()]
        if completions:
            await asyncio.wait(completions)
        assignment = consumer.assignment()
        if self.app.consumer_generation_id != generation_id:
            self.log.warning(f"Recovery rebalancing again app id "
                             f"{self.app.consumer_generation_id} param {generation_id}")
            return
        if assignment:
            self.log.info("Seek stream partitions to committed offsets.")
            await self._wait(consumer.perform_seek(),
                             timeout=self.app.conf.broker_request_timeout)
        self.completed.set()
        self.app.flow_control.resume()
        consumer.resume_partitions({tp for tp in assignment if not self._is_changelog_tp(tp)})
        consumer.resume_flow()
        await cast(Any, self.app)._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not self.app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        self.app.on_rebalance_end()
        self.log.info("Worker ready")


class CRMTableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekBeforeResumeRecovery(self.app, self, beacon=self.beacon,
                                                      loop=self.loop)
        return self._recovery
