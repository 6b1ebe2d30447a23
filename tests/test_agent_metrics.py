"""The agent series: per-queue counts by pause reason always, per-agent series only with
``metrics.per_agent`` (unit test: a real engine behind a plain runtime object)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest

from processors.engine import KpiEngine
from processors.events import AgentStateChanged, CallAbandoned, CallEntered
from processors.snapshot_cache import SnapshotCache
from processors.wallboard import DETAIL_TILES
from streams.config import Config, MetricsConfig, PrivacyConfig
from streams.views.agent_metrics import AgentCollector
from streams.views.queues import agents_document, queue_document

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp()


def runtime(config: Config) -> SimpleNamespace:
    engine = KpiEngine()
    when = lambda s: datetime.fromtimestamp(T0 + s, UTC)  # noqa: E731
    engine.apply_all(
        [
            AgentStateChanged(id="1", time=when(0), queue="q", agent="ann", state="available"),
            AgentStateChanged(
                id="2", time=when(5), queue="q", agent="bob", state="not_ready", reason="lunch"
            ),
            AgentStateChanged(id="3", time=when(6), queue="q", agent="cy", state="not_ready"),
            CallEntered(id="4", time=when(10), queue="q", call_id="c", customer="+441632960001"),
            CallAbandoned(id="5", time=when(40), queue="q", call_id="c"),
            AgentStateChanged(id="6", time=when(7), queue="r", agent="ann", state="on_call"),
        ]
    )
    cache = SnapshotCache(engine)
    return SimpleNamespace(
        engine=engine,
        config=config,
        clock=lambda queue=None: T0 + 60,
        snapshot_of=lambda queue: cache.one(T0 + 60, queue),
    )


def scrape(config: Config) -> str:
    registry = CollectorRegistry()
    registry.register(AgentCollector(runtime(config)))
    return generate_latest(registry).decode()


def test_pause_reasons_and_abandoned_calls_always_per_agent_only_when_asked() -> None:
    text = scrape(Config())
    assert 'ccpulse_queue_agents_paused{queue="q",reason="lunch"} 1.0' in text
    assert 'ccpulse_queue_agents_paused{queue="q",reason="unknown"} 1.0' in text
    assert (
        'ccpulse_queue_abandoned_call{call_id="c",caller="*********0001",queue="q",'
        'recovered="no",wait_seconds="30"}' in text
    )
    assert "ccpulse_agent_state" not in text
    text = scrape(Config(metrics=MetricsConfig(per_agent=True)))
    assert 'ccpulse_agent_state{agent="bob",queue="q",reason="lunch",state="not_ready"} 1.0' in text
    assert 'ccpulse_agent_time_in_state_seconds{agent="ann",queue="q"} 61.0' in text
    assert 'ccpulse_agent_calls_today{agent="ann",outcome="answered",queue="q"} 0.0' in text


def test_documents_mask_as_configured_and_name_the_queues_served() -> None:
    hidden = runtime(Config(privacy=PrivacyConfig(caller_numbers="hidden")))
    body = queue_document(hidden, "q")
    assert body is not None
    assert [a["caller"] for a in body["abandoned"]] == [None]
    assert body["pause_reasons"] == {"lunch": 1, "unknown": 1}
    # The queue view's second row: the detail KPIs in order, nothing answered -> no rate.
    more = {t["key"]: t for t in body["more"]}
    assert list(more) == [t.key for t in DETAIL_TILES]
    assert more["callbacks_pending"]["value"] == 0.0 and more["callbacks_pending"]["window"] is None
    assert more["transfer_rate"]["value"] is None and more["transfer_rate"]["text"] == "n/a"
    full = runtime(Config(privacy=PrivacyConfig(caller_numbers="full")))
    assert queue_document(full, "q")["abandoned"][0]["caller"] == "+441632960001"  # type: ignore[index]
    assert queue_document(full, "nope") is None
    agents = agents_document(full, "q")
    assert agents is not None
    ann = next(a for a in agents["agents"] if a["agent"] == "ann")
    assert ann["queues"] == ["q", "r"]
    assert ann["time_in_state_seconds"] == 61.0


def test_text_written_in_slices_is_what_generate_latest_writes_of_the_families() -> None:
    config = Config(
        metrics=MetricsConfig(per_agent=True), privacy=PrivacyConfig(caller_numbers="full")
    )
    rt = runtime(config)
    hostile = 'lunch "long"\\back'  # a newline never gets this far (processors/event_fields.py)
    when = lambda s: datetime.fromtimestamp(T0 + s, UTC)  # noqa: E731
    rt.engine.apply_all(
        [
            AgentStateChanged(
                id="7", time=when(8), queue="q", agent='d"an', state="not_ready", reason=hostile
            ),
            CallEntered(id="8", time=when(11), queue="r", call_id='c"2', customer='+44\\"9'),
            CallAbandoned(id="9", time=when(20), queue="r", call_id='c"2'),
        ]
    )
    collector = AgentCollector(rt)
    registry = CollectorRegistry()
    registry.register(collector)
    plain = generate_latest(registry)
    assert b'reason="lunch \\"long\\"\\\\back"' in plain  # escaped, as written

    async def written(names: list[str]) -> tuple[bytes, int]:
        turns = 0

        async def count() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count())
        await asyncio.sleep(0)
        before = turns
        text = await collector.text(0.0, names)  # the loop given back after every queue
        counter.cancel()
        return text, turns - before

    text, turns = asyncio.run(written([]))
    assert text == plain and turns >= len(rt.engine.queues)
    # A scrape restricted to some families gets those, as prometheus_client restricts them.
    names = ["ccpulse_agent_state", "ccpulse_queue_abandoned_call", "no_such_family"]
    text, _ = asyncio.run(written(names))
    assert text == generate_latest(registry.restricted_registry(names)) and b"caller=" in text
    assert asyncio.run(written(["no_such_family"]))[0] == b""
    # Without metrics.per_agent, the two queue families only.
    rt.config = Config()
    text, _ = asyncio.run(written([]))
    assert text == generate_latest(registry) and b"ccpulse_agent_state" not in text
