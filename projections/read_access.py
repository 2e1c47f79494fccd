"""Who may read: the read API answers only callers presenting one of its own keys, when any are
configured (READ_API_KEYS). The bridge's keys are separate, so a leaked EventBridge key reads
nothing and a reader cannot post events.
"""

from __future__ import annotations

from typing import Any

from faust.web import Request, View

from app.api_keys import key_accepted

API_KEY_HEADER = "X-API-Key"


class ReadAccess:
    def __init__(self, keys: tuple[bytes, ...] = ()):
        self.keys = keys

    @property
    def open(self) -> bool:
        return not self.keys

    def allows(self, request: Request) -> bool:
        return self.open or key_accepted(request.headers.get(API_KEY_HEADER), self.keys)

    def forwarded_headers(self, request: Request) -> dict[str, str]:
        """What a worker passes on when it asks its peers for their part of an answer."""
        presented = request.headers.get(API_KEY_HEADER)
        return {API_KEY_HEADER: presented} if presented and not self.open else {}

    def guard(self, view: type[View]) -> type[View]:
        """The same view, refusing requests without an accepted key with 401."""
        access = self

        class Guarded(view):  # type: ignore[misc, valid-type]
            async def dispatch(self, request: Any) -> Any:
                if not access.allows(request):
                    return self.error(401, f"missing or invalid {API_KEY_HEADER}")
                return await super().dispatch(request)

        Guarded.__name__ = Guarded.__qualname__ = view.__name__
        return Guarded
