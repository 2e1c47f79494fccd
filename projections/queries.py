"""The read API's questions, asked of one worker's share of a table and then merged (pure).

Each `local_*` function answers for the given partitions only; `merge_*` combines the answers
of every worker into the reply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.entry import latest_state, visible
from projections.projection import Projection
from projections.projector import Read, empty_progress, is_record_key, lookup_key, partition_key
from projections.totals import rows, sum_totals

Items = Iterable[tuple[str, Mapping[str, Any]]]


def local_page(items: Items, partitions: set[int], filters: Mapping[str, str],
               after: str | None, limit: int) -> dict[str, Any]:
    """Matching records in id order: the first `limit` after the cursor, and the counts of all
    matches and of those after the cursor."""
    matches = [(key, view) for key, entry in items
               if is_record_key(key) and entry.get("partition") in partitions
               and (view := visible(entry)) is not None
               and all(_text(view.get(name)) == value for name, value in filters.items())]
    matches.sort(key=lambda match: match[0])
    following = [view for key, view in matches if after is None or key > after]
    return {"items": following[:limit], "total": len(matches), "following": len(following)}


def merge_pages(answers: Iterable[Mapping[str, Any]], limit: int) -> dict[str, Any]:
    answers = list(answers)
    items = sorted((item for answer in answers for item in answer["items"]),
                   key=lambda view: view["aggregate_id"])[:limit]
    following = sum(answer["following"] for answer in answers)
    return {
        "items": items,
        "total": sum(answer["total"] for answer in answers),
        "limit": limit,
        "next": items[-1]["aggregate_id"] if following > len(items) and items else None,
    }


def local_lookup(projection: Projection, read: Read, partitions: set[int],
                 secondary: str) -> dict[str, Any]:
    """The record found by a secondary key (e.g. "salesforce:001..."), if this worker owns it."""
    pointer = read(lookup_key(secondary))
    if not pointer or pointer["partition"] not in partitions:
        return {"items": []}
    entry = read(pointer["aggregate_id"])
    state = latest_state(entry)
    view = visible(entry)
    if view is None or projection.lookups is None or secondary not in projection.lookups(state):
        return {"items": []}
    return {"items": [view]}


def local_progress(read: Read, partitions: set[int]) -> dict[str, Any]:
    return {"progress": [read(partition_key(p)) or empty_progress(p) for p in sorted(partitions)]}


def merge_totals(answers: Iterable[Mapping[str, Any]], dimension: str) -> list[dict[str, Any]]:
    partials = [progress["totals"] for answer in answers for progress in answer["progress"]]
    return rows(sum_totals(partials), dimension)


def merge_progress(answers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    progress = sorted((p for answer in answers for p in answer["progress"]),
                      key=lambda p: p["partition"])
    return {
        "last_position": max((p["position"] for p in progress), default=0),
        "applied_events": sum(p["events"] for p in progress),
        "partitions": {str(p["partition"]): {"position": p["position"],
                                             "offset": p["through"]} for p in progress},
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
