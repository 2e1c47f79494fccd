"""The worker's event loop: uvloop under Faust.

Measured on the preloaded pipeline benchmark: about 10% more events/s, and a quarter off the
median end-to-end latency at 1,000 events/s (README, performance). The Faust ceiling baseline
runs on it too, so the comparison stays like for like. The bridge process stays on asyncio's
loop: under uvloop its p99 at 64 connections rose from 28 to 58 ms (more requests/s, a longer
tail).
"""

from __future__ import annotations

import mode.loop


def use_uvloop() -> None:
    """Before anything creates the loop."""
    mode.loop.use("uvloop")
