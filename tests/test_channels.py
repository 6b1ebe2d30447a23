"""Contacts by channel (processors/channels.py, docs/kpis.md#channels): each event counts in its
own channel, the queue's figures stay the channel total, state written before channels loads,
and the per-channel families appear on /metrics only for queues of two channels or more.

The property tests (tests/test_kpi_properties.py) compare every channel with the batch
definitions under shuffles, duplicates and a state round trip; these are the worked examples and
the edges they do not reach."""

from __future__ import annotations

import itertools
import json
import random
import zlib
from datetime import UTC, datetime
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, generate_latest

from processors.admission import Admission
from processors.channels import CONTACT_COUNTERS, counted_channels
from processors.counters import WIDTH
from processors.engine import KpiEngine
from processors.events import (
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEntered,
    Event,
    TicketCreated,
)
from processors.formulas import window_kpis
from processors.intervals import COUNTER_NAMES, KpiChoices, parse_record
from processors.kpis import CHANNEL_KPIS, KPIS
from processors.settings import EngineSettings, QueueSettings
from processors.state import decode_state, encode_state, new_queue_state
from streams.offline.report import replay_intervals
from streams.offline.simulator import Simulation
from streams.views.metrics import CHANNEL_WINDOW_METRICS, KpiCollector

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()
SETTINGS = EngineSettings(
    windows=["15m", "1h"],
    defaults=QueueSettings(sl_threshold_seconds=20, sl_threshold_by_channel={"chat": 60}),
)


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def call(n: int, start: float, wait: float, channel: str = "voice", **kw: Any) -> list[Event]:
    """One call entering at ``start`` and answered after ``wait`` (``abandoned=True``: lost)."""
    exit_type = CallAbandoned if kw.get("abandoned") else CallAnswered
    exit_channel = kw.get("exit_channel", channel)
    return [
        CallEntered(id=f"in-{n}", time=at(start), queue="q", call_id=f"c{n}", channel=channel),
        exit_type(id=f"out-{n}", time=at(start + wait), queue="q", call_id=f"c{n}",
                  channel=exit_channel),
    ]  # fmt: skip


def test_each_event_counts_in_its_own_channel_against_its_channel_threshold() -> None:
    engine = KpiEngine(SETTINGS)
    engine.apply_all(
        [
            *call(1, 0, 30),  # voice, over its 20 s: not within
            *call(2, 10, 30, "chat"),  # chat, within its 60 s
            *call(3, 20, 90, "chat"),  # chat, over 60 s
            *call(4, 30, 10, "chat", exit_channel="messaging"),  # entry chat, exit messaging
            CallEnded(id="end-2", time=at(200), queue="q", call_id="c2", channel="chat",
                      talk_seconds=100),
        ]
    )  # fmt: skip
    snap = engine.snapshot(T0 + 300)["q"]
    total = snap.windows["15m"]
    assert (total.entered, total.answered, total.answered_within_threshold) == (4, 4, 2)
    assert total.handled == 1
    chat, voice = snap.channels["chat"]["15m"], snap.channels["voice"]["15m"]
    messaging = snap.channels["messaging"]["15m"]
    assert (chat["entered"], chat["answered"], chat["answered_within_threshold"]) == (3, 2, 1)
    assert (chat["asa_seconds"], chat["service_level"], chat["aht_seconds"]) == (60.0, 0.5, 100.0)
    assert (voice["entered"], voice["answered"], voice["service_level"]) == (1, 1, 0.0)
    # The exit of call 4 named messaging: counted there, its wait from its (chat) entry.
    assert (messaging["entered"], messaging["answered"], messaging["asa_seconds"]) == (0, 1, 10.0)
    assert set(snap.channels["chat"]) == {"15m", "1h"}
    assert sorted(chat) == sorted(CHANNEL_KPIS)


def test_a_queue_of_one_channel_keeps_nothing_apart_and_its_figures_stay_the_same() -> None:
    only_chat = [e for n in range(5) for e in call(n, 10 * n, 5 * n, "chat")]
    engine = KpiEngine(SETTINGS)
    engine.apply_all(only_chat)
    state = engine.queues["q"]
    assert (state.channel, state.channel_panes) == ("chat", {})
    assert engine.snapshot(T0 + 100)["q"].channels == {}
    # The same calls without a channel are voice: same counts, voice's threshold.
    voice = KpiEngine(SETTINGS)
    voice.apply_all([msgspec.structs.replace(e, channel="voice") for e in only_chat])
    a, b = (
        engine.snapshot(T0 + 100)["q"].windows["15m"],
        voice.snapshot(T0 + 100)["q"].windows["15m"],
    )
    assert (a.entered, a.answered, a.asa_seconds) == (b.entered, b.answered, b.asa_seconds)
    assert (a.answered_within_threshold, b.answered_within_threshold) == (5, 5)


def _written_before_channels(encoded: bytes) -> bytes:
    """A state as a worker without channels wrote it: no ``channel`` fields anywhere."""
    document = msgspec.msgpack.decode(zlib.decompress(encoded[1:]))
    del document["channel"], document["channel_panes"]
    for visit in document["calls"].values():
        visit.pop()  # CallVisit.channel, its last (array-like) field
    return b"P" + zlib.compress(msgspec.msgpack.encode(document), 1)


def test_state_written_before_channels_loads_and_splits_exactly() -> None:
    voice = [e for n in range(6) for e in call(n, 30 * n, 7 * n)]
    waiting = CallEntered(id="in-w", time=at(200), queue="q", call_id="cw")
    ticket = TicketCreated(id="t1", time=at(5), queue="q", ticket_id="t1")
    engine = KpiEngine(SETTINGS)
    engine.apply_all([*voice, waiting, ticket])
    old = _written_before_channels(encode_state(engine.queues["q"]))
    restored = KpiEngine(SETTINGS)
    restored.queues["q"] = decode_state(old)
    assert restored.queues["q"].channel is None
    chats = [e for n in range(10, 13) for e in call(n, 240 + 5 * n, 3, "chat")]
    answer = CallAnswered(id="out-w", time=at(260), queue="q", call_id="cw")
    restored.apply_all([*chats, answer])
    engine.apply_all([*chats, answer])
    now = T0 + 400
    after, reference = restored.snapshot(now)["q"], engine.snapshot(now)["q"]
    assert after == reference
    voice_kpis = after.channels["voice"]["15m"]
    assert (voice_kpis["entered"], voice_kpis["answered"]) == (7, 7)
    assert after.channels["chat"]["15m"]["entered"] == 3
    # The split copied contact counters only: the ticket stays the queue's.
    assert after.windows["15m"].tickets_created == 1
    assert "tickets_created" not in voice_kpis


def test_state_written_before_channels_counts_voice_against_max_channels() -> None:
    """Admission counts a queue's channels by the rule its panes keep them by
    (processors/channels.py ``counted_channels``): state written before channels holds voice
    calls, so with ``max_channels: 2`` a batch naming chat and email admits chat only. (It
    counted no channel there, and admitted both: three channels.)"""
    engine = KpiEngine(SETTINGS)
    engine.apply_all([e for n in range(3) for e in call(n, 30 * n, 5)])
    restored = decode_state(_written_before_channels(encode_state(engine.queues["q"])))
    assert restored.channel is None and restored.channel_panes == {}
    settings = EngineSettings(max_channels=2)
    chat, email = call(10, 300, 2, "chat")[0], call(11, 301, 2, "email")[0]
    groups: dict[str, list[Any]] = {"q": [(chat, None, 0), (email, None, 1)]}
    refused = Admission(settings).screen(groups, {"q": restored}, None)
    assert [(item[0].channel, why.reason_code) for item, why in refused] == [
        ("email", "unknown_channel")
    ]
    assert [item[0].channel for item in groups["q"]] == ["chat"]
    assert "would be channel 3 of queue 'q'" in refused[0][1].reason
    assert counted_channels(restored) == {"voice"}
    assert counted_channels(new_queue_state("new")) == set()


def test_channel_panes_round_trip_and_are_evicted_with_the_queue() -> None:
    rng = random.Random(7)
    events: list[Event] = []
    for n in range(400):
        start = n * 30.0
        events += call(n, start, rng.uniform(0, 40), rng.choice(["voice", "chat", "email"]))
    engine = KpiEngine(SETTINGS)
    engine.apply_all(events)
    state = engine.queues["q"]
    again = decode_state(encode_state(state))
    assert again.channel_panes == state.channel_panes and again.channel == state.channel
    # 400 calls over 3 h 20 min with windows of at most 1 h: old second-level detail and
    # quarters are gone; a channel keeps no minute panes, and its chunks are a quarter each.
    oldest_chunk = min(state.panes[0])
    for levels in state.channel_panes.values():
        assert all(start % 900 == 0 for start in levels[0])
        assert min(levels[0]) >= oldest_chunk - oldest_chunk % 900
        assert min(levels[2]) >= min(state.panes[2])
        assert len(levels[0]) <= len(state.panes[0]) // 15 + 2 and levels[1] == {}


def _minute_chunks(chunks: dict[int, Any]) -> dict[int, Any]:
    """Quarter chunks split into the minute chunks state written before them held."""
    from array import array

    from processors.panes import STRIDE

    out: dict[int, Any] = {}
    for quarter, chunk in chunks.items():
        for position in range(0, len(chunk), 2):
            offset, index = divmod(int(chunk[position]), 60 * STRIDE)
            minute = quarter + 60 * offset
            kept = out.setdefault(minute, array("d"))
            kept.append(float(index))
            kept.append(chunk[position + 1])
    return dict(sorted(out.items()))


def test_state_with_a_chunk_per_minute_and_channel_loads_as_a_chunk_per_quarter() -> None:
    rng = random.Random(11)
    events: list[Event] = []
    for n in range(120):
        events += call(n, n * 30.0, rng.uniform(0, 40), rng.choice(["voice", "chat"]))
    engine = KpiEngine(SETTINGS)
    engine.apply_all(events)
    state = engine.queues["q"]
    at = int(state.watermark or 0)
    before = engine.channel_windows("q", at)
    old = msgspec.structs.replace(
        state,
        channel_panes={},
        channel_minute_panes={
            channel: [_minute_chunks(levels[0]), {}, levels[2]]
            for channel, levels in state.channel_panes.items()
        },
    )
    assert all(len(levels[0]) > 15 for levels in old.channel_minute_panes.values())
    loaded = decode_state(encode_state(old))
    assert loaded.channel_minute_panes == {}
    assert loaded.channel_panes == state.channel_panes
    again = KpiEngine(SETTINGS)
    again.queues["q"] = loaded
    assert again.channel_windows("q", at) == before and set(before) == {"chat", "voice"}


def test_per_channel_kpis_read_only_the_contact_counters() -> None:
    """Every KPI marked per channel in the registry is a formula over CONTACT_COUNTERS alone
    (the others are not kept per channel), and every contact counter is read by one of them."""
    rng = random.Random(3)
    base = [0.0] * WIDTH
    for index in CONTACT_COUNTERS:
        base[index] = float(rng.randint(1, 50))
    noisy = [base[i] if i in CONTACT_COUNTERS else float(rng.randint(1, 50)) for i in range(WIDTH)]

    def per_channel(totals: list[float]) -> dict[str, Any]:
        kpis = window_kpis(totals, "offered", None, (True, True))
        return {name: getattr(kpis, name) for name in CHANNEL_KPIS}

    assert per_channel(base) == per_channel(noisy)
    for index in CONTACT_COUNTERS:
        moved = list(base)
        moved[index] += 7.0
        assert per_channel(moved) != per_channel(base), f"counter {index} read by no KPI"
    assert {k.name for k in KPIS if k.per_channel} == set(CHANNEL_KPIS)


def _series(engine: KpiEngine, now: float) -> dict[str, int]:
    registry = CollectorRegistry(auto_describe=True)
    KpiCollector(lambda: engine.snapshot(now), lambda: engine.queues).register(registry)
    counts: dict[str, int] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name = line.split("{", 1)[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


def test_channel_families_appear_only_for_queues_of_two_channels() -> None:
    engine = KpiEngine(SETTINGS)
    engine.apply_all([e for n in range(4) for e in call(n, 10 * n, 30)])
    names = {spec.name for spec in CHANNEL_WINDOW_METRICS}
    assert not names & set(_series(engine, T0 + 100))
    engine.apply_all([*call(10, 60, 30, "chat"), *call(11, 70, 30, "email")])
    series = _series(engine, T0 + 100)
    channel_series = sum(count for name, count in series.items() if name in names)
    # 3 channels x 2 windows, each family with a value (rates over empty denominators absent).
    assert series["ccpulse_channel_window_entered"] == 3 * 2
    assert series["ccpulse_channel_window_asa_seconds"] == 3 * 2
    assert "ccpulse_channel_window_avg_abandon_seconds" not in series  # nobody abandoned
    assert channel_series <= len(CHANNEL_KPIS) * 3 * 2
    text = generate_latest_text(engine, T0 + 100)
    assert 'ccpulse_channel_window_entered{channel="chat",queue="q",window="15m"} 1.0' in text
    assert 'ccpulse_window_entered{queue="q",window="15m"} 6.0' in text


def generate_latest_text(engine: KpiEngine, now: float) -> str:
    registry = CollectorRegistry(auto_describe=True)
    KpiCollector(lambda: engine.snapshot(now), lambda: engine.queues).register(registry)
    return generate_latest(registry).decode()


def test_interval_records_split_their_contacts_by_channel_and_add_up_to_the_queue() -> None:
    """``ccpulse.intervals`` records carry each channel's contact counters and KPIs: per record,
    the channels add up to the queue's contact counters, and a channel's KPIs are the formulas
    over its counters (a report combines them as it combines the queue's)."""
    events = list(itertools.islice(Simulation(seed=5, start=T0).events(), 6000))
    records = [json.loads(v) for v in replay_intervals(events, SETTINGS).values()]
    split = [r for r in records if len(r.get("channels", {})) > 1]
    assert split, "the simulator's chats and messages split some interval"
    for record in records:
        _, choices, span = parse_record(record)
        for index in CONTACT_COUNTERS:
            name = COUNTER_NAMES[index]
            parts = sum(part["counters"][name] for part in record.get("channels", {}).values())
            assert abs(parts - record["counters"][name]) < 1e-6, (record["interval_start"], name)
        for channel, part in record.get("channels", {}).items():
            kpis = window_kpis(
                list(span.channels[channel]), choices.sl_variant, None, (False, False)
            )
            assert {name: getattr(kpis, name) for name in CHANNEL_KPIS} == part["kpis"]
    assert isinstance(choices, KpiChoices)
