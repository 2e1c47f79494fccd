"""Clients (CRM accounts) by id: current state, filterable by status and industry; and how many
visible, not deleted clients are in each status and each industry (the aggregate views).

The views are tallied in this table's partitions rather than in a table of their own: a record's
status and industry are in its entry already, and a second table kept them twice, one more
entry read, folded, stored and sent to a changelog for every account event (see
docs/performance-history.md, eleventh session)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.projection import Totals
from projections.record_view import record_view_projection
from projections.totals import bucket

SEGMENTS = ("status", "industry")


def segments(view: Mapping[str, Any]) -> Totals:
    if view.get("deleted"):
        return {}
    return {segment: {bucket(view.get(segment)): {"count": 1}} for segment in SEGMENTS}


PROJECTION = record_view_projection(
    "clients", "client", summary_fields=("name", "industry", "status"),
    filters=("status", "industry", "deleted"), description=__doc__,
    tally=segments, views={"clients-by-status": "status", "clients-by-industry": "industry"})
