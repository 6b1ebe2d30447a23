"""Closed 15-minute intervals (processors/intervals.py) equal a replay over each interval.

The worker's way is simulated without Kafka: batches with source positions, the tracker asked
after each batch, a record "in Kafka" only once confirmed, and a crash that loses every record
sent and not confirmed, after which the state is restored from its serialised form (what the
changelog holds) with a new tracker. Ticketing events are held back and delivered after the
telephony ones, so many land in intervals the telephony watermark has already closed (late for
the queue, on time for their family): their intervals must be published again. At the end,
every record in "Kafka" (last value per key) must equal ``engine.window`` of a replay of the same
events over that interval, and every interval of the replay with anything in it must have its
record: none lost, none stale, none counted twice.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.engine import KpiEngine, Position
from processors.events import TICKETING_TYPES, Event, TicketMovedIn
from processors.intervals import (
    COUNTER_NAMES,
    INTERVAL_SECONDS,
    IntervalCounters,
    IntervalTracker,
    KpiChoices,
    _fingerprint,
    interval_key,
    interval_record,
    parse_record,
)
from processors.reports import report_rows
from processors.state import decode_state, encode_state
from tests.test_kpi_properties import SETTINGS, T0, arrival_order, draws, history


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def held_back(order: list[Event], rng: random.Random) -> list[Event]:
    """Telephony first, then the ticketing family (late for the queue, on time for its own
    watermark) at a random point near the end."""
    phones = [e for e in order if type(e) not in TICKETING_TYPES]
    tickets = [e for e in order if type(e) in TICKETING_TYPES]
    cut = rng.randint(max(0, len(phones) - 5), len(phones))
    return phones[:cut] + tickets + phones[cut:]


def stream(
    order: list[Event],
    batch: int,
    crash_at: int | None,
    rng: random.Random,
    defer: bool = False,
) -> dict:
    """What a worker leaves in ``ccpulse.intervals`` (key -> last value) for ``order``;
    ``defer``: changes to published intervals wait for a flush now and then, as the worker's
    (streams/worker/intervals.py), and a crash loses the changes not flushed yet."""
    engine = KpiEngine(SETTINGS)
    tracker = IntervalTracker(engine, defer_republish=defer)
    kafka: dict[bytes, bytes] = {}
    unconfirmed: list[Any] = []
    positioned = [(e, Position("topic", 0, i)) for i, e in enumerate(order)]
    forwarded: list[Event] = []
    cursor = batches = 0
    while cursor < len(positioned):
        chunk = positioned[cursor : cursor + batch]
        result = engine.apply([*((f, None) for f in forwarded), *chunk])
        forwarded = list(result.forwarded)
        # Some of the records sent so far are in Kafka now, in the order sent (one key is on
        # one partition, delivered in order); the rest are still in flight.
        delivered = rng.randint(0, len(unconfirmed))
        for interval in unconfirmed[:delivered]:
            kafka[interval.key] = interval.value
            tracker.confirmed(interval, engine.queues[interval.queue])
        unconfirmed = unconfirmed[delivered:] + tracker.due(result.touched)
        if defer and rng.random() < 0.3:
            unconfirmed += tracker.flush()
        batches += 1
        if batches == crash_at:
            # SIGKILL: records in flight are lost; the state (its ledger of confirmed
            # records included) comes back from the changelog, and the batches not committed
            # are read again (and skipped by offset).
            unconfirmed = []
            restored = KpiEngine(SETTINGS)
            restored.queues = {q: decode_state(encode_state(s)) for q, s in engine.queues.items()}
            engine, tracker = restored, IntervalTracker(restored, defer_republish=defer)
            again = engine.apply(positioned[: cursor + batch])
            assert again.applied == 0
            unconfirmed = tracker.due(engine.queues, full=True)
        cursor += batch
    result = engine.apply([(f, None) for f in forwarded])
    unconfirmed += tracker.due(result.touched)
    if defer:
        unconfirmed += tracker.flush()
    for interval in unconfirmed:
        kafka[interval.key] = interval.value
    return kafka


def replayed(order: list[Event], batch: int | None = None) -> KpiEngine:
    """The events applied again from scratch by a fresh engine: as ``ccpulse replay`` does
    (``batch`` None), or in the worker's batches (the engine evicts FCR contacts after each
    batch against the horizon of the families seen so far, so an order holding one family back
    by more than the lateness is replayed batch by batch)."""
    engine = KpiEngine(SETTINGS)
    if batch is None:
        engine.apply_all(e for e in order if type(e) is not TicketMovedIn)
        return engine
    forwarded: list[Event] = []
    for cursor in range(0, len(order), batch):
        chunk = [(e, None) for e in order[cursor : cursor + batch]]
        forwarded = list(engine.apply([*((f, None) for f in forwarded), *chunk]).forwarded)
    engine.apply([(f, None) for f in forwarded])
    return engine


def closed_starts(engine: KpiEngine, queue: str) -> list[int]:
    state = engine.queues[queue]
    assert state.watermark is not None
    horizon = math.floor(state.watermark - SETTINGS.allowed_lateness_seconds)
    end = horizon - horizon % INTERVAL_SECONDS
    first = math.floor(
        min(min(t.times, default=end) for t in state.agents.values()) if state.agents else end
    )
    panes = [s for s in state.panes[2] if s < end]
    low = min([*panes, first - first % INTERVAL_SECONDS, end])
    return list(range(low, end, INTERVAL_SECONDS))


def check(kafka: dict[bytes, bytes], reference: KpiEngine) -> None:
    expected = set()
    for queue in reference.queues:
        retained = reference.retained_from(queue) or 0
        quarters = reference.queues[queue].panes[2]
        for start in closed_starts(reference, queue):
            if start < retained and start not in quarters:
                # Evicted from the replay (older than the retention: a quarter counted before
                # an older one created late, which is still kept): nothing left to compare.
                # Hypothesis found it (seed 6): the record was published before the eviction.
                continue
            # The replay's quarter counters (what a window over it adds up, and all that is
            # left of an interval older than the second-level detail); and, while that detail
            # is kept, its window KPIs as /api/kpis computes them.
            ((counters, busy, available),) = reference.span_counters(queue, [start, start + 900])
            variant = KpiChoices.of(SETTINGS.for_queue(queue))
            span = IntervalCounters(start, 900, tuple(counters), busy, available)
            kpis = msgspec.structs.asdict(span.kpis(variant))
            if start >= (reference.queues[queue].watermark or 0) - 3600:
                window = msgspec.structs.asdict(reference.window(queue, start + 899, start))
                assert all(_close(kpis[k], v) for k, v in window.items()), {
                    k: (kpis[k], v) for k, v in window.items() if not _close(kpis[k], v)
                }
            key = interval_key(queue, start)
            record = kafka.get(key)
            empty = all(v in (0, None) for v in kpis.values())
            if record is None:
                assert empty, f"{key!r}: no record, replay has {kpis}"
                continue
            expected.add(key)
            got = json.loads(record)["kpis"]
            wrong = {k: (got[k], v) for k, v in kpis.items() if not _close(got[k], v)}
            assert not wrong, f"{key!r}: record != replay: {wrong}"
    # A record of an interval the replay no longer retains (a ticket dated days back) cannot be
    # compared; every other record must be one of the replay's closed intervals.
    extra = set()
    for key in set(kafka) - expected:
        queue, _, span = parse_record(json.loads(kafka[key]))
        if span.start >= (reference.retained_from(queue) or 0):
            extra.add(key)
    assert not extra, f"records of no closed interval: {extra}"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws, st.integers(1, 40), st.integers(0, 12), st.booleans())
def test_interval_records_equal_replay_over_each_interval(
    draw: dict[str, int], batch: int, crash_at: int, defer: bool
) -> None:
    events = history(draw["seed"], draw["calls"], draw["tickets"], draw["agents"], draw["surveys"])
    if not events:
        return
    rng = random.Random(draw["seed"] + 2)
    order = held_back(
        arrival_order(events, random.Random(draw["seed"] + 1), draw["duplicates"]), rng
    )
    kafka = stream(order, batch, crash_at or None, rng, defer)
    check(kafka, replayed(order, batch))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws, st.sampled_from(["30m", "1h"]))
def test_longer_rows_equal_replay_over_their_spans(draw: dict[str, int], interval: str) -> None:
    """30-minute and 1-hour rows, combined from the 15-minute records' counters, equal a
    replay's window over the same span (not an average of the quarters' rates)."""
    events = history(draw["seed"], draw["calls"], draw["tickets"], draw["agents"], draw["surveys"])
    if not events:
        return
    order = arrival_order(events, random.Random(draw["seed"] + 1), draw["duplicates"])
    kafka = stream(order, 25, None, random.Random(draw["seed"]))
    reference = replayed(order)
    records = [parse_record(json.loads(value)) for value in kafka.values()]
    zone = ZoneInfo("UTC")
    rows = report_rows(records, interval, zone, 0, 2**40)
    length = {"30m": 1800, "1h": 3600}[interval]
    for row in rows:
        assert row.end - row.start == length
        if row.start < (reference.retained_from(row.queue) or 0):
            continue  # evicted from the replay (a ticket dated days back): nothing to compare
        closed = closed_starts(reference, row.queue)
        last = min(row.end, closed[-1] + INTERVAL_SECONDS) if closed else row.start
        # The replay's sums over the whole span (one walk, not the quarters' records); its
        # window KPIs while the second-level detail is kept.
        ((counters, busy, available),) = reference.span_counters(row.queue, [row.start, last])
        span = IntervalCounters(row.start, last - row.start, tuple(counters), busy, available)
        expected = msgspec.structs.asdict(span.kpis(KpiChoices.of(SETTINGS.for_queue(row.queue))))
        if row.start >= (reference.queues[row.queue].watermark or 0) - 3600:
            window = reference.window(row.queue, last - 1, row.start)
            expected = msgspec.structs.asdict(window)
        got = msgspec.structs.asdict(row.kpis)
        wrong = {k: (got[k], v) for k, v in expected.items() if not _close(got[k], v)}
        assert not wrong, f"{row.queue} {row.start} {interval}: row != replay: {wrong}"


@pytest.mark.parametrize("defer", [False, True])
def test_a_late_event_into_a_published_interval_publishes_it_again(defer: bool) -> None:
    """A ticket on time for its family but late for the queue changes a published interval:
    its record goes out again with the new counters, with the batch or (``defer``, as the
    worker) at the next flush; an unchanged look (the next batch, a flush with nothing
    changed, a full look after a recovery) sends nothing."""
    from datetime import UTC, datetime

    from processors.events import CallAbandoned, CallEntered, TicketCreated

    quarter = math.floor(T0) - math.floor(T0) % INTERVAL_SECONDS + INTERVAL_SECONDS

    def at(second: float) -> datetime:
        return datetime.fromtimestamp(quarter + second, UTC)

    engine = KpiEngine(SETTINGS)
    tracker = IntervalTracker(engine, defer_republish=defer)

    def sent(due: list[Any]) -> list[Any]:
        for interval in due:
            tracker.confirmed(interval, engine.queues[interval.queue])
        return due

    def look(*events: Event) -> list[Any]:
        return sent(tracker.due(engine.apply([(e, None) for e in events]).touched))

    first_batch = look(
        CallEntered(id="e1", time=at(100), queue="q", call_id="c1"),
        CallAbandoned(id="e2", time=at(130), queue="q", call_id="c1"),
    )
    assert first_batch == []
    (first,) = look(CallEntered(id="e3", time=at(1100), queue="q", call_id="c2"))
    assert first.start == quarter
    assert json.loads(first.value)["counters"]["tickets_created"] == 0
    late = look(TicketCreated(id="t1", time=at(500), queue="q", ticket_id="k1"))
    (again,) = sent(tracker.flush()) if defer else late
    assert late == [] or not defer
    assert (again.key, again.start) == (first.key, quarter)
    assert json.loads(again.value)["counters"]["tickets_created"] == 1
    assert again.fingerprint != first.fingerprint
    assert look(CallEntered(id="e4", time=at(1200), queue="q", call_id="c3")) == []
    assert tracker.flush() == []
    # Recovered from the changelog: the confirmed fingerprints come back with the state.
    engine.queues = {q: decode_state(encode_state(s)) for q, s in engine.queues.items()}
    assert tracker.due(engine.queues, full=True) == []


_SPAN = IntervalCounters(
    start=1_700_000_100,
    seconds=INTERVAL_SECONDS,
    counters=tuple(float(i % 7) for i in range(len(COUNTER_NAMES))),
    busy_seconds=1234.5,
    available_seconds=321.0,
    channels={"chat": tuple(float(i % 3) for i in range(len(COUNTER_NAMES)))},
)


def _variants(span: IntervalCounters) -> list[tuple[str, IntervalCounters, KpiChoices]]:
    """``span`` with one input of its record changed at a time."""
    choices = KpiChoices()
    out: list[tuple[str, IntervalCounters, KpiChoices]] = []
    for index, name in enumerate(COUNTER_NAMES):
        counters = list(span.counters)
        counters[index] += 1.0
        out.append((f"counter {name}", replace(span, counters=tuple(counters)), choices))
    out.append(("busy seconds", replace(span, busy_seconds=span.busy_seconds + 1), choices))
    out.append(("available", replace(span, available_seconds=span.available_seconds + 1), choices))
    for index in range(len(COUNTER_NAMES)):
        sums = list(span.channels["chat"])
        sums[index] += 1.0
        out.append(
            (f"chat counter {index}", replace(span, channels={"chat": tuple(sums)}), choices)
        )
    out.append(("channel name", replace(span, channels={"email": span.channels["chat"]}), choices))
    out.append(("no channel", replace(span, channels={}), choices))
    out.append(("sl variant", span, KpiChoices(sl_variant="answered")))
    out.append(("sl callbacks", span, KpiChoices(sl_callbacks="against")))
    out.append(("sl flow-outs", span, KpiChoices(sl_flow_outs="against")))
    return out


def test_the_fingerprint_changes_with_every_input_of_the_record_and_only_with_them() -> None:
    """The tracker compares fingerprints before it encodes a record (an unchanged interval is
    never encoded): every input of the record must change the fingerprint, and an equal span
    built anew must not."""
    choices = KpiChoices()
    base = _fingerprint(_SPAN, choices)
    rebuilt = IntervalCounters(
        _SPAN.start,
        _SPAN.seconds,
        tuple(_SPAN.counters),
        _SPAN.busy_seconds,
        _SPAN.available_seconds,
        {"chat": tuple(_SPAN.channels["chat"])},
    )
    assert _fingerprint(rebuilt, KpiChoices()) == base
    record = interval_record("q", _SPAN, choices)
    for what, span, other in _variants(_SPAN):
        changed = interval_record("q", span, other)
        if changed == record:
            continue  # an input that does not reach the record (none so far)
        assert _fingerprint(span, other) != base, f"{what} changed the record, not the fingerprint"
    assert sum(interval_record("q", s, c) != record for _, s, c in _variants(_SPAN)) >= len(
        COUNTER_NAMES
    )
