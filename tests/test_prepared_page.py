"""The /metrics page prepared ahead of the next scrape (streams/views/prepared_page.py), on a real
event loop and the real Prometheus registry: when it serves a prepared page, when it computes
on arrival, and that a dropped page (an assignment changed) is never served."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from streams.views.prepared_page import PreparedPage


class Pages:
    """A stand-in for the KPI families: page N is ``b"page N"``, after ``seconds`` of work."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.made = 0
        self.release: asyncio.Event | None = None

    async def __call__(self) -> bytes:
        self.made += 1
        number = self.made
        if self.release is not None:
            await self.release.wait()
        if self.seconds:
            await asyncio.sleep(self.seconds)
        return f"page {number}".encode()


def test_a_steady_scraper_gets_the_page_prepared_just_before_its_scrape() -> None:
    async def scenario() -> None:
        registry = CollectorRegistry()
        pages = Pages()
        prepared = PreparedPage(pages, max_age=0.7, registry=registry)
        assert await prepared.body() == b"page 1"  # nothing learnt yet: computed on arrival
        await asyncio.sleep(1.2)
        # Page 1 is 1.2 s old, over max_age: computed again; the interval is now known.
        assert await prepared.body() == b"page 2"
        assert prepared.interval() is not None and 1.1 < prepared.interval() < 1.6
        await asyncio.sleep(1.2)
        # Prepared about 0.25 s before this scrape (lead: 1.25 x its ~0 s + 0.25 s), so the
        # scrape made nothing itself.
        made_before = pages.made
        assert await prepared.body() == b"page 3"
        assert pages.made == made_before == 3
        assert prepared.served == {"prepared": 1, "on_request": 2}
        assert (
            registry.get_sample_value("ccpulse_metrics_scrapes_total", {"page": "prepared"}) == 1.0
        )
        assert (
            registry.get_sample_value("ccpulse_metrics_scrapes_total", {"page": "on_request"})
            == 2.0
        )
        age = registry.get_sample_value("ccpulse_metrics_page_age_seconds")
        assert age is not None and 0.0 < age <= 0.7

    asyncio.run(scenario())


def test_a_dropped_page_is_not_served_nor_is_the_one_under_way_kept() -> None:
    async def scenario() -> None:
        pages = Pages()
        prepared = PreparedPage(pages, max_age=30.0)
        assert await prepared.body() == b"page 1"
        assert await prepared.body() == b"page 1"  # fresh enough: served again
        prepared.drop()
        assert await prepared.body() == b"page 2"  # dropped: computed again
        # A preparation under way when the assignment changes: its scrape gets it (as a
        # scrape computing on arrival would), but it is not kept for the next one.
        prepared.drop()
        pages.release = asyncio.Event()
        scrape = asyncio.ensure_future(prepared.body())
        await asyncio.sleep(0.05)
        prepared.drop()
        pages.release.set()
        assert await scrape == b"page 3"
        pages.release = None
        assert await prepared.body() == b"page 4"
        assert prepared.served == {"prepared": 1, "on_request": 4}

    asyncio.run(scenario())


def test_nothing_is_prepared_ahead_when_a_page_takes_over_half_the_interval() -> None:
    """No quiet time to move the work into: every scrape computes its own, and nothing is
    computed between scrapes (preparing ahead would only add work)."""

    async def scenario() -> None:
        pages = Pages(seconds=0.35)  # lead 1.25 x 0.35 + 0.25 = 0.69 s > half of ~0.95 s
        prepared = PreparedPage(pages, max_age=0.2)
        for _ in range(3):
            await prepared.body()
            await asyncio.sleep(0.6)
        assert pages.made == 3
        assert prepared.served == {"prepared": 0, "on_request": 3}

    asyncio.run(scenario())


def test_a_scrape_during_a_preparation_waits_for_it_instead_of_starting_another() -> None:
    async def scenario() -> None:
        pages = Pages()
        prepared = PreparedPage(pages, max_age=30.0)
        pages.release = asyncio.Event()
        first = asyncio.ensure_future(prepared.body())
        await asyncio.sleep(0.05)
        second = asyncio.ensure_future(prepared.body())
        await asyncio.sleep(0.05)
        pages.release.set()
        assert await first == await second == b"page 1"
        assert pages.made == 1

    asyncio.run(scenario())


def test_a_quick_page_is_computed_for_each_scrape() -> None:
    """Under ``min_duration`` (``metrics.prepare_ahead_from_seconds``) a page is neither served
    again nor prepared ahead: a client reading /metrics right after its events were applied
    sees them."""

    async def scenario() -> None:
        pages = Pages()
        prepared = PreparedPage(pages, max_age=30.0, min_duration=0.25)
        for expected in (b"page 1", b"page 2", b"page 3"):
            assert await prepared.body() == expected
            await asyncio.sleep(0.6)
        assert pages.made == 3
        assert prepared.served == {"prepared": 0, "on_request": 3}

    asyncio.run(scenario())
