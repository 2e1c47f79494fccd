"""The latency benchmark's lean HTTP client against a real aiohttp server on one keep-alive
connection: each answer's status and body, in order."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bench.lean_http import LeanConnection


def test_requests_on_one_connection_get_their_own_answers(unused_tcp_port):
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response({"key": request.headers.get("X-API-Key"), "body": body.decode()},
                                 status=202)

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"missing": request.query["external_id"]}, status=404)

    async def scenario() -> list[tuple[int, bytes]]:
        app = web.Application()
        app.router.add_post("/events/", echo)
        app.router.add_get("/clients", missing)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        connection = await LeanConnection.open(f"http://127.0.0.1:{unused_tcp_port}")
        try:
            return [await connection.send(request) for request in (
                connection.request_bytes("POST", "/events/", b"first", {"X-API-Key": "k"}),
                connection.request_bytes("GET", "/clients?external_id=001A"),
                connection.request_bytes("POST", "/events/", b"second"),
            )]
        finally:
            await connection.close()
            await runner.cleanup()

    assert asyncio.run(scenario()) == [
        (202, b'{"key": "k", "body": "first"}'),
        (404, b'{"missing": "001A"}'),
        (202, b'{"key": null, "body": "second"}'),
    ]
