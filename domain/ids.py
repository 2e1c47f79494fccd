"""New identifiers: random (version 4) UUIDs, as text.

Drawn from the process's seeded PRNG rather than `uuid.uuid4()`'s system entropy: ids need to
be unique, not secret, and `uuid4()` (a syscall and a UUID object per id) was several percent
of the bridge's and the worker's time per message.
"""

from __future__ import annotations

from random import getrandbits

_VERSION_MASK = ~(0xF << 76) & ~(0x3 << 62)
_VERSION_4 = (0x4 << 76) | (0x2 << 62)  # version 4, RFC 4122 variant


def new_id() -> str:
    n = getrandbits(128) & _VERSION_MASK | _VERSION_4
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
