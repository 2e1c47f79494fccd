"""Every error answer is JSON `{"error": reason}`: the router's own 404 and 405, and a view's
unexpected exception (logged, its text kept out of the answer), on a real aiohttp server."""

from __future__ import annotations

import logging

import httpx
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.json_errors import json_errors


async def served() -> TestServer:
    async def fine(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    async def refused(request: web.Request) -> web.Response:
        raise web.HTTPForbidden(text='{"error": "not yours"}', content_type="application/json")

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/fine", fine)
    app.router.add_get("/broken", broken)
    app.router.add_get("/refused", refused)
    server = TestServer(app)
    await server.start_server()
    return server


async def test_router_and_unexpected_errors_answer_json(caplog):
    server = await served()
    try:
        async with httpx.AsyncClient(base_url=str(server.make_url("/"))) as http:
            assert (await http.get("/fine")).json() == {"status": "ok"}

            missing = await http.get("/nowhere")
            assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}

            wrong = await http.post("/fine")
            assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
            assert "GET" in wrong.headers["Allow"]

            with caplog.at_level(logging.ERROR, logger="app.json_errors"):
                broken = await http.get("/broken")
            assert broken.status_code == 500 and broken.json() == {"error": "internal error"}
            assert "secret detail" not in broken.text
            assert any("GET /broken failed" in r.getMessage() and r.exc_info
                       for r in caplog.records)

            refused = await http.get("/refused")  # already JSON: left as the view made it
            assert refused.status_code == 403 and refused.json() == {"error": "not yours"}
    finally:
        await server.close()
