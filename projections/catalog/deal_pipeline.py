"""Deals per stage: how many visible, not deleted deals are in each, and their total amount."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.facets import facet_handlers
from projections.projection import Projection, Totals
from projections.totals import bucket


def tally(view: Mapping[str, Any]) -> Totals:
    if view.get("deleted"):
        return {}
    return {"stage": {bucket(view.get("stage")): {"count": 1, "amount": view.get("amount")}}}


PROJECTION = Projection(
    name="deal-pipeline",
    description=__doc__,
    handlers=facet_handlers("deal", ("stage", "amount")),
    tally=tally,
    views={"deals-by-stage": "stage"},
)
