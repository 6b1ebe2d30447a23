"""The engine's shortcuts for "now" (the ticket backlog read from its index of open tickets,
occupancy from cached quarter hours, the last minute's panes) leave the answer for an earlier
instant unchanged: snapshots a few seconds before the newest event (still within the lateness,
so nothing they need was forgotten) equal the batch definitions too."""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, given, settings

from processors.engine import KpiEngine
from tests.test_kpi_properties import (
    LATENESS,
    SETTINGS,
    arrival_order,
    compare,
    draws,
    history,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws)
def test_snapshots_just_before_the_newest_event_equal_the_definitions(draw: dict[str, int]) -> None:
    events = history(draw["seed"], draw["calls"], draw["tickets"], draw["agents"], draw["surveys"])
    if not events:
        return
    order = arrival_order(events, random.Random(draw["seed"] + 1), draw["duplicates"])
    engine = KpiEngine(SETTINGS)
    engine.apply_all(order)
    newest = math.floor(max(e.time.timestamp() for e in events))
    for at in (newest - 1, newest - int(LATENESS) // 2):
        # A live read first, so the caches hold "now" when the earlier instant is asked for.
        assert not compare(engine, events, newest + 1)
        problems = compare(engine, events, at)
        assert not problems, "\n".join(problems[:20])
