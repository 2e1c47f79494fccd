"""Clients per status and per industry: how many visible, not deleted clients are in each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.facets import facet_handlers
from projections.projection import Projection, Totals
from projections.totals import bucket

FACETS = ("status", "industry")


def tally(view: Mapping[str, Any]) -> Totals:
    if view.get("deleted"):
        return {}
    return {facet: {bucket(view.get(facet)): {"count": 1}} for facet in FACETS}


PROJECTION = Projection(
    name="client-segments",
    description=__doc__,
    handlers=facet_handlers("client", FACETS),
    tally=tally,
    views={"clients-by-status": "status", "clients-by-industry": "industry"},
)
