"""Deals (opportunities) by id: current state, filterable by stage and status; and how many
visible, not deleted deals are in each stage, with their total amount (the aggregate view,
tallied in this table's partitions like the clients' segments)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.projection import Totals
from projections.record_view import record_view_projection
from projections.totals import bucket, summable


def pipeline(view: Mapping[str, Any]) -> Totals:
    if view.get("deleted"):
        return {}
    amount = summable(view.get("amount"))
    return {"stage": {bucket(view.get("stage")): {"count": 1, "amount": amount}}}


PROJECTION = record_view_projection(
    "deals", "deal", summary_fields=("name", "stage", "amount", "status", "client_external_id"),
    filters=("stage", "status", "client_external_id", "deleted"), description=__doc__,
    tally=pipeline, views={"deals-by-stage": "stage"})
