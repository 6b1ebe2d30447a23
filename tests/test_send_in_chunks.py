"""A /metrics page is sent a megabyte at a time with its length declared (streams/views/routes.py
``send_in_chunks``): the client reads one body, byte for byte, not a chunked one (a real aiohttp
server and client on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import logging

import pytest
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


def test_a_client_gone_mid_page_is_no_error_and_the_next_scrape_is_served(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A scraper that times out and closes mid-body (Prometheus's scrape_timeout) is a normal
    event: aiohttp cancels the handler between two chunks, nothing is logged as an error (no
    "Error handling request" with a traceback), and the server serves the next scrape."""
    page = b"x" * (64 << 20)  # more than the sockets' buffers hold: the client leaves mid-body

    async def handler(request: web.Request) -> web.StreamResponse:
        return await send_in_chunks(request, [page], "text/plain; version=0.0.4")

    async def run() -> int:
        app = web.Application()
        app.router.add_get("/metrics", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
            await reader.readexactly(4096)  # the headers and the start of the page
            writer.transport.abort()  # gone, as a scraper at its timeout
            await asyncio.sleep(0.5)  # the handler meets the closed connection
            async with TestClient(server) as client:
                response = await client.get("/metrics")
                return len(await response.read())
        finally:
            await server.close()

    with caplog.at_level(logging.DEBUG, logger="aiohttp"):
        assert asyncio.run(run()) == len(page)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
