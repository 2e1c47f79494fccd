"""`make bench`: every section on one PostgreSQL, then a markdown table and bench/results.json.

To add a section, append `(title, run)` to SECTIONS: `run(server_dsn)` returns Figures and
creates whatever database it needs on that server (see `bench.postgres_server.new_database`).
"""

from __future__ import annotations

import logging
import time

from bench import comparisons, event_store_bench, eventsourcing_baseline
from bench.figures import Figure, markdown_table, write_results
from bench.postgres_server import benchmark_server

SECTIONS = [
    ("event store", event_store_bench.run),
    ("eventsourcing 9.x baseline (PostgreSQL recorder)", eventsourcing_baseline.run),
]


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    figures: list[Figure] = []
    with benchmark_server() as server_dsn:
        for title, run in SECTIONS:
            print(f"running {title} ...", flush=True)
            figures += run(server_dsn)
    figures += comparisons.run({figure.key: figure for figure in figures})
    write_results(figures)
    print(markdown_table(figures))
    print(f"\n{len(figures)} figures in {time.perf_counter() - started:.0f} s; "
          "written to bench/results.json")


main()
