"""`make bench`: every section on one PostgreSQL and one broker, then a markdown table and
bench/results.json.

To add a section, append `(title, run)` to SECTIONS: `run(server_dsn, broker_url)` returns
Figures and creates whatever database it needs on that server (`bench.postgres_server`).
`python -m bench SECTION...` runs only the named sections (event-store, eventsourcing,
read-side, pipeline).
"""

from __future__ import annotations

import logging
import sys
import time

from bench import (
    comparisons,
    event_store_bench,
    eventsourcing_baseline,
    pipeline_bench,
    read_side_bench,
)
from bench.figures import Figure, markdown_table, write_results
from bench.harness import benchmark_broker
from bench.postgres_server import benchmark_server

SECTIONS = {
    "event-store": ("event store", lambda dsn, _: event_store_bench.run(dsn)),
    "eventsourcing": ("eventsourcing 9.x baseline (PostgreSQL recorder)",
                      lambda dsn, _: eventsourcing_baseline.run(dsn)),
    "read-side": ("read side: rebuild and read API", read_side_bench.run),
    "pipeline": ("whole pipeline: e2e throughput and latency, bridge", pipeline_bench.run),
}


def main(names: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    unknown = set(names) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    started = time.perf_counter()
    figures: list[Figure] = []
    with benchmark_server() as server_dsn, benchmark_broker() as broker_url:
        for name in names or SECTIONS:
            title, run = SECTIONS[name]
            print(f"running {title} ...", flush=True)
            figures += run(server_dsn, broker_url)
    figures += comparisons.run({figure.key: figure for figure in figures})
    write_results(figures)
    print(markdown_table(figures))
    print(f"\n{len(figures)} figures in {time.perf_counter() - started:.0f} s; "
          "written to bench/results.json")


main(sys.argv[1:])
