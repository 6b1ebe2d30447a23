"""streams/views/exposition.py: the KPI page is, line for line, what prometheus_client writes
for the same samples, and stays so when some queues change and others do not."""

from __future__ import annotations

import asyncio
import itertools
import math
from datetime import UTC, datetime

import msgspec
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.utils import floatToGoString

from processors.engine import KpiEngine
from processors.events import AgentStateChanged, CallBlocked, CallEntered, TicketCreated
from streams.offline.simulator import QueueModel, Simulation
from streams.views.exposition import KpiPage
from streams.views.metrics import KpiCollector
from streams.views.text_format import number

START = 1_790_000_000.0
# A quote, a backslash and non-ASCII letters: printable, so the engine takes them as names.
ODD = 'sales "EU" \\ Zürich'


def _engine() -> KpiEngine:
    queues = [
        QueueModel(name=name, calls_per_hour=240.0, agents=6, tickets_per_hour=30.0)
        for name in ("billing", ODD, "support")
    ]
    engine = KpiEngine()
    engine.apply_all(list(itertools.islice(Simulation(queues, start=START, seed=3).events(), 2500)))
    return engine


def _newest(engine: KpiEngine) -> int:
    return math.floor(max(s.watermark or 0.0 for s in engine.queues.values()))


def _reference(engine: KpiEngine, at: int, names: list[str] | None = None) -> str:
    registry = CollectorRegistry(auto_describe=True)
    KpiCollector(lambda: engine.snapshot(at), lambda: engine.queues).register(registry)
    chosen = registry.restricted_registry(names) if names else registry
    return generate_latest(chosen).decode()


def _families(text: str) -> dict[str, list[str]]:
    """Lines by family (after its # HELP), the samples sorted: the order of queues inside a
    family is free, the grouping and each line's bytes are not."""
    out: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("# HELP "):
            current = line
            out[current] = []
        else:
            out[current].append(line)
    return {family: sorted(lines) for family, lines in out.items()}


def _page(page: KpiPage, engine: KpiEngine, at: int, names: list[str] | None = None) -> str:
    snapshots = engine.snapshot(at)
    families = page.families(names or [])
    return asyncio.run(page.render(snapshots, engine.queues, families)).decode()


def test_the_page_equals_prometheus_client_output_family_by_family() -> None:
    engine = _engine()
    at = _newest(engine)
    page = KpiPage(per_channel=True)
    text = _page(page, engine, at)
    assert _families(text) == _families(_reference(engine, at))
    assert 'queue="sales \\"EU\\" \\\\ Zürich"' in text
    assert "ccpulse_events_late_total{" in text and "ccpulse_queue_agents{" in text
    # The simulator's chats and messages: the per-channel families, for every queue.
    assert 'ccpulse_channel_window_entered{channel="chat",queue="sales \\"EU\\"' in text


def test_metrics_per_channel_off_leaves_the_channel_families_out_and_the_rest_alike() -> None:
    engine = _engine()
    at = _newest(engine)
    text = _page(KpiPage(), engine, at)  # metrics.per_channel is off by default
    full = _families(_reference(engine, at))
    assert _families(text) == {
        family: lines
        for family, lines in full.items()
        if not family.startswith("# HELP ccpulse_channel_window_")
    }
    assert len(full) > len(_families(text)) and "ccpulse_channel_window" not in text


def test_kept_lines_follow_every_change_and_only_the_families_asked_for() -> None:
    engine = _engine()
    at = _newest(engine)
    page = KpiPage(per_channel=True)
    _page(page, engine, at)  # every queue's lines kept
    when = datetime.fromtimestamp(at, UTC)
    engine.apply_all(
        [
            CallBlocked(id="x1", time=when, queue="billing", call_id="x1"),
            CallEntered(id="x2", time=when, queue=ODD, call_id="x2"),
            TicketCreated(id="x3", time=when, queue="support", ticket_id="x3"),
            AgentStateChanged(id="x4", time=when, queue="newq", agent="a1", state="available"),
        ]
    )
    for later in (at, at + 1, at + 120):
        assert _families(_page(page, engine, later)) == _families(_reference(engine, later))
    names = ["ccpulse_window_blocked", "ccpulse_events_late_total"]
    restricted = _page(page, engine, at + 120, names)
    assert _families(restricted) == _families(_reference(engine, at + 120, names))
    assert {family.split(" ")[2] for family in _families(restricted)} == {
        "ccpulse_window_blocked",
        "ccpulse_events_late_total",
    }


def test_a_few_families_or_many_each_as_prometheus_client_writes_them() -> None:
    engine = _engine()
    at = _newest(engine)
    page = KpiPage(per_channel=True)
    live = ["ccpulse_queue_calls_waiting", "ccpulse_queue_agents", "ccpulse_calls_lost_total"]
    many = [*live, "ccpulse_window_answered", "ccpulse_window_asa_seconds"]
    for names in (live, many, ["ccpulse_queue_backlog_by_age"]):
        text = _page(page, engine, at, names)
        assert _families(text) == _families(_reference(engine, at, names))
        assert len(_families(text)) == len(names)


def test_a_queue_gone_from_the_snapshots_is_gone_from_the_page() -> None:
    engine = _engine()
    at = _newest(engine)
    page = KpiPage(per_channel=True)
    _page(page, engine, at)
    snapshots = engine.snapshot(at)
    del snapshots["billing"]
    text = asyncio.run(page.render(snapshots, engine.queues)).decode()
    assert 'queue="billing"' not in text and 'queue="support"' in text
    # The pipeline metrics go first, in the same copy (streams/views/routes.py).
    head = b"# HELP ccpulse_ready ...\n"
    assert asyncio.run(page.render(snapshots, engine.queues, prefix=head)) == head + text.encode()
    few = asyncio.run(page.render(snapshots, engine.queues, [0], prefix=head))
    assert few.startswith(head) and few[len(head) :] == asyncio.run(
        page.render(snapshots, engine.queues, [0])
    )
    assert msgspec.json.encode(sorted(page._queues)) == msgspec.json.encode([ODD, "support"])


def test_numbers_are_written_as_prometheus_client_writes_them() -> None:
    values = (0.0, -0.0, 3.0, 0.8534, 1e-05, 123456.5, 1234567.0, 1e22, -2.5e9, 0.0, 3.0, -0.0)
    for value in values:  # twice each: the second time from the numbers already written
        assert number(value) == floatToGoString(value), value
    for value in (float("inf"), float("-inf"), float("nan")):
        assert number(value) == floatToGoString(value)
