"""The wallboard feed in-process (unit tests: a stand-in clock and document): streams asking in
the same second share one computed document, and the stream slots are bounded."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from streams.views.wallboard.feed import WallboardFeed


def test_streams_asking_within_a_second_share_one_document() -> None:
    now = [100.0]
    made: list[float] = []

    async def produce() -> bytes:
        await asyncio.sleep(0)  # give the other streams the chance to ask meanwhile
        made.append(now[0])
        return f"doc@{now[0]}".encode()

    feed = WallboardFeed(produce, 50, CollectorRegistry(), clock=lambda: now[0])

    async def scenario() -> list[list[bytes]]:
        rounds = []
        for step in (0.0, 0.5, 0.6, 2.0):
            now[0] += step
            rounds.append(list(await asyncio.gather(*(feed.current() for _ in range(20)))))
        return rounds

    rounds = asyncio.run(scenario())
    assert made == [100.0, 101.1, 103.1]  # 80 asks, three documents
    assert [set(r) for r in rounds] == [
        {b"doc@100.0"},
        {b"doc@100.0"},
        {b"doc@101.1"},
        {b"doc@103.1"},
    ]
    assert feed.encodes._value.get() == 3


def test_stream_slots_are_bounded_and_given_back() -> None:
    async def produce() -> bytes:
        return b""

    feed = WallboardFeed(produce, 2, CollectorRegistry())
    assert [feed.open(), feed.open(), feed.open()] == [True, True, False]
    assert feed.refused._value.get() == 1
    feed.close()
    assert feed.open() and feed.open_streams == 2
