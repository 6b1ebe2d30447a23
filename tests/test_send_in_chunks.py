"""A /metrics page is sent a megabyte at a time with its length declared (streams/views/routes.py
``send_in_chunks``): the client reads one body, byte for byte, not a chunked one (a real aiohttp
server and client on 127.0.0.1)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from streams.views.routes import CHUNK_BYTES, send_in_chunks


def test_parts_arrive_as_one_body_with_its_declared_length() -> None:
    head = b"# HELP head x\n" * 10
    page = bytes(range(256)) * (CHUNK_BYTES // 256 * 5 // 2)  # two and a half chunks

    async def handler(request: web.Request) -> web.StreamResponse:
        return await send_in_chunks(request, [head, page, b""], "text/plain; version=0.0.4")

    async def run() -> tuple[int, dict[str, str], bytes]:
        app = web.Application()
        app.router.add_get("/metrics", handler)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get("/metrics")
            body = await response.read()
            return response.status, dict(response.headers), body

    status, headers, body = asyncio.run(run())
    assert status == 200 and body == head + page
    assert headers["Content-Length"] == str(len(head) + len(page))
    assert "Transfer-Encoding" not in headers
    assert headers["Content-Type"] == "text/plain; version=0.0.4"
