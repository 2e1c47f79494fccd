"""The service's event loop: uvloop under Faust, in the worker and in the bridge process.

Worker, measured on the preloaded pipeline benchmark: about 10% more events/s, and a quarter off
the median end-to-end latency at 1,000 events/s (README, performance). The Faust ceiling
baseline runs on it too, so the comparison stays like for like.

Bridge process, measured in nine alternating latency runs at 1,000 posts/s: its CPU 0.36
against 0.42 of a core (lower in all nine), the end-to-end p50 and p99 lower in eight and seven
of them (median p99 141 against 209 ms). Saturated by 64 connections it answers fewer posts a
second (4,200-4,500 against 3,800-5,500) with the same p99 (22-26 ms): the bridge has headroom
over its 3,000 requests/s, the latency's target has little.
"""

from __future__ import annotations

import mode.loop


def use_uvloop() -> None:
    """Before anything creates the loop."""
    mode.loop.use("uvloop")
