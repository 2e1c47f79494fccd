"""Errors in the service's one shape, `{"error": reason}`, also where aiohttp answers itself.

The service's own 4xx and 5xx answers carry a JSON body with the reason. aiohttp answers an
unknown path (404) or method (405, with `Allow`) in plain text before any view runs, and a
view's unexpected exception with an HTML 500; a client parsing every error body as JSON would
fail on those. This middleware gives them the same shape, keeping the status and the headers
that matter (`Allow`); an unexpected exception is logged with its traceback, and its text stays
out of the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

log = logging.getLogger(__name__)

# on every 503 the service answers (the broker, a rebalance): the outage is short, retry soon
RETRY_LATER = {"Retry-After": "1"}

# what describes the plain-text body being replaced, not the error
_BODY_HEADERS = frozenset({hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH, hdrs.CONTENT_ENCODING})


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        headers = {name: value for name, value in error.headers.items()
                   if name not in _BODY_HEADERS}
        return web.json_response({"error": error.reason}, status=error.status, headers=headers)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)
