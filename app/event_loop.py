"""The processes' event loop: uvloop under Faust.

Measured on the preloaded pipeline benchmark: about 10% more events/s, and a quarter off the
median end-to-end latency at 1,000 events/s (README, performance). The Faust ceiling baseline
runs on it too, so the comparison stays like for like.
"""

from __future__ import annotations

import mode.loop


def use_uvloop() -> None:
    """Before anything creates the loop."""
    mode.loop.use("uvloop")
