"""A lean HTTP/1.1 keep-alive connection for the latency run's load generator.

The load generator shares the machine's two cores with the service it measures (the bridge, the
worker, the broker and PostgreSQL): aiohttp's client took a quarter of a core at 1,000 posts/s,
a request object, a response object and a task per post. This writes pre-built requests on one
connection and reads each response's status and body, nothing else; the service's answers
always carry a Content-Length.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class LeanConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self._reader, self._writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, url: str) -> LeanConnection:
        address = urlsplit(url)
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        return cls(reader, writer, address.netloc)

    def request_bytes(self, method: str, target: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> bytes:
        """A request to send with `send` (build it before the clock starts)."""
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}",
                 f"Content-Length: {len(body)}",
                 *(f"{name}: {value}" for name, value in (headers or {}).items())]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """The status and body of the answer to `request`."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = _content_length(head)
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError(f"an answer without Content-Length: {head[:200]!r}")
