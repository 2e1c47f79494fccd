"""Ratios between sections' figures: ours over the `eventsourcing` baseline, and the targets."""

from __future__ import annotations

from bench.figures import Figure

# (key, label, ours, theirs, target or None)
RATIOS = [
    ("ratio.single_appends", "(a) single-event appends, 1 writer: ours / eventsourcing",
     "ours.single_appends", "eventsourcing.single_appends", None),
    ("ratio.commands", "(b) commands, our command path (batched, no cache) / eventsourcing "
     "one at a time", "ours.commands_batched", "eventsourcing.commands_one_at_a_time", 5.0),
    ("ratio.commands_vs_batched_baseline", "(b) commands, our command path / eventsourcing "
     "saving batches of 100", "ours.commands_batched", "eventsourcing.commands_batched", None),
    ("ratio.commands_one_at_a_time", "(b) commands one at a time: ours / eventsourcing",
     "ours.commands_one_at_a_time", "eventsourcing.commands_one_at_a_time", None),
    ("ratio.batched_appends", "(c) batched appends: ours / eventsourcing",
     "ours.batched_appends", "eventsourcing.batched_appends", None),
    ("ratio.e2e_vs_faust_ceiling", "e2e throughput / Faust consume-only ceiling",
     "e2e.events_per_s", "e2e.faust_consume_only_events_per_s", 0.5),
    ("ratio.e2e_vs_inline_ceiling", "e2e throughput / consume-only agent with the service's "
     "delivery", "e2e.events_per_s", "e2e.inline_consume_only_events_per_s", None),
    ("ratio.e2e_cpu_vs_faust_ceiling", "e2e CPU time per event / the Faust consume-only "
     "agent's", "e2e.worker_cpu_us_per_event", "e2e.faust_consume_only_cpu_us_per_event",
     None),
    ("ratio.e2e_vs_eventsourcing_commands", "e2e throughput / eventsourcing load+update+save "
     "commands", "e2e.events_per_s", "eventsourcing.commands_one_at_a_time", 8.0),
    ("ratio.rebuild_vs_feed", "rebuild throughput / reading the same events from PostgreSQL "
     "without folding", "read_side.rebuild_events_per_s", "read_side.feed_events_per_s", None),
    ("ratio.read_p99_vs_health_p99", "read API get by id p99 / GET /health p99 (web floor)",
     "read_side.get_by_id_ms_p99", "read_side.health_ms_p99", None),
]


def run(figures: dict[str, Figure]) -> list[Figure]:
    ratios = []
    for key, label, ours, theirs, target in RATIOS:
        if ours in figures and theirs in figures:
            value = figures[ours].value / figures[theirs].value
            note = "" if target is None else (
                f"target >= {target:g}x: {'met' if value >= target else 'MISSED'}")
            ratios.append(Figure(key, label, value, "x", note))
    load = figures.get("ours.load_ratio_10000_vs_10")
    if load is not None:
        met = "met" if load.value <= 2 else "MISSED"
        ratios.append(Figure("ratio.load_10000_vs_10", load.label, load.value, "x",
                             f"target <= 2x: {met}"))
    return ratios
