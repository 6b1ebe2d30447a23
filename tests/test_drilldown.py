"""Unit tests of the drill-down: "recovered" in every arrival order, the bounds, masking, the
agents' rows, and the state kept through encode/decode."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from processors.agent_board import agent_rows, pause_reasons
from processors.drilldown import abandoned_today, blocked_today, waiting_calls
from processors.engine import KpiEngine
from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallEnded,
    CallEntered,
    CallMissed,
    Event,
)
from processors.settings import EngineSettings
from processors.state import decode_state, encode_state
from streams.views.queues import mask_caller

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC).timestamp()


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, UTC)


def callback_history() -> list[Event]:
    """A caller hangs up after 40 s, calls again and is answered; another caller gives up."""
    return [
        CallEntered(id="1", time=at(0), queue="q", call_id="a", customer="+441632960001"),
        CallAbandoned(id="2", time=at(40), queue="q", call_id="a"),
        CallEntered(id="3", time=at(50), queue="q", call_id="b", customer="+441632960001"),
        CallAnswered(id="4", time=at(65), queue="q", call_id="b", agent="ann"),
        CallEntered(id="5", time=at(70), queue="q", call_id="c", customer="+12025550143"),
        CallAbandoned(id="6", time=at(80), queue="q", call_id="c", wait_seconds=9.5),
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_recovered_whatever_order_the_four_events_arrive_in(order: tuple[int, ...]) -> None:
    events = callback_history()
    engine = KpiEngine()
    engine.apply_all([events[i] for i in order] + events[4:])
    state = engine.queues["q"]
    listed = abandoned_today(state, int(T0 + 90), "UTC")
    assert [(e.call_id, e.wait, e.caller, e.recovered_at) for e in listed] == [
        ("c", 9.5, "+12025550143", None),
        ("a", 40.0, "+441632960001", T0 + 65),
    ]


def test_an_answer_before_the_hang_up_recovers_nothing() -> None:
    events = callback_history()
    answered_first = [
        events[2],
        CallAnswered(id="4", time=at(30), queue="q", call_id="b"),
        events[0],
        events[1],
    ]
    engine = KpiEngine()
    engine.apply_all(answered_first)
    (entry,) = abandoned_today(engine.queues["q"], int(T0 + 90), "UTC")
    assert entry.recovered_at is None


def test_lists_are_bounded_by_n_and_keep_the_latest() -> None:
    engine = KpiEngine(EngineSettings(drilldown_length=3))
    events: list[Event] = []
    for i in range(10):
        events.append(CallEntered(id=f"e{i}", time=at(i * 10), queue="q", call_id=f"c{i}"))
        events.append(CallAbandoned(id=f"x{i}", time=at(i * 10 + 5), queue="q", call_id=f"c{i}"))
        events.append(CallBlocked(id=f"b{i}", time=at(i * 10 + 1), queue="q", call_id=f"k{i}"))
    engine.apply_all(reversed(events))
    state = engine.queues["q"]
    assert [e.call_id for e in state.drill.abandoned] == ["c7", "c8", "c9"]
    assert [b.call_id for b in blocked_today(state, int(T0 + 200), "UTC")] == ["k9", "k8", "k7"]


def test_callers_are_forgotten_with_their_calls_and_waiting_calls_keep_theirs() -> None:
    engine = KpiEngine(EngineSettings(allowed_lateness_seconds=10))
    engine.apply_all(callback_history())
    engine.apply_all(
        [CallEntered(id="w", time=at(4000), queue="q", call_id="w", customer="+3312345678")]
    )
    state = engine.queues["q"]
    assert state.drill.callers == {"w": "+3312345678"}
    assert waiting_calls(state, int(T0 + 4010)) == [("w", T0 + 4000, "+3312345678")]
    # the list outlives the calls it names
    assert [e.call_id for e in abandoned_today(state, int(T0 + 4010), "UTC")] == ["c", "a"]


def test_agents_rows_reason_time_in_state_and_todays_calls() -> None:
    engine = KpiEngine(EngineSettings(allowed_lateness_seconds=2 * 86400.0))
    engine.apply_all(
        [
            AgentStateChanged(id="s1", time=at(0), queue="q", agent="ann", state="available"),
            AgentStateChanged(id="s2", time=at(100), queue="q", agent="ann", state="on_call"),
            CallAnswered(id="a1", time=at(100), queue="q", call_id="c1", agent="ann"),
            CallEnded(
                id="n1", time=at(400), queue="q", call_id="c1", agent="ann", talk_seconds=280
            ),
            AgentStateChanged(
                id="s3", time=at(400), queue="q", agent="ann", state="not_ready", reason="lunch"
            ),
            CallMissed(id="m1", time=at(50), queue="q", call_id="c0", agent="ann"),
            AgentStateChanged(id="s4", time=at(10), queue="q", agent="bob", state="available"),
            AgentStateChanged(id="s5", time=at(20), queue="q", agent="bob", state="logged_out"),
            # yesterday's call counts in no "today"
            CallMissed(id="m0", time=at(-86400), queue="q", call_id="c9", agent="ann"),
        ]
    )
    rows = agent_rows(engine.queues["q"], int(T0 + 500), "UTC")
    assert [r.agent for r in rows] == ["ann"]
    (ann,) = rows
    assert (ann.state, ann.since, ann.reason) == ("not_ready", T0 + 400, "lunch")
    assert (ann.answered, ann.missed, ann.handled, ann.aht_seconds) == (1, 1, 1, 280.0)
    assert ann.occupancy_1h == pytest.approx(300 / 400)
    assert pause_reasons(rows) == {"lunch": 1}
    # Tomorrow the counts start again from zero.
    (tomorrow,) = agent_rows(engine.queues["q"], int(T0 + 86400), "UTC")
    assert (tomorrow.answered, tomorrow.missed, tomorrow.handled) == (0, 0, 0)


def test_drilldown_state_survives_encode_and_decode() -> None:
    engine = KpiEngine()
    engine.apply_all([*callback_history(), CallBlocked(id="b", time=at(5), queue="q", call_id="k")])
    state = engine.queues["q"]
    assert state.drill.abandoned and state.drill.blocked and state.drill.callers
    assert decode_state(encode_state(state)).drill == state.drill


@pytest.mark.parametrize(
    ("mode", "number", "shown"),
    [
        ("full", "+441632960001", "+441632960001"),
        ("masked", "+441632960001", "*********0001"),
        ("masked", "0001", "****"),
        ("hidden", "+441632960001", None),
        ("masked", None, None),
    ],
)
def test_caller_numbers_are_shown_as_configured(mode: str, number: str | None, shown: str) -> None:
    assert mask_caller(number, mode, 4) == shown


def test_asterisk_ringnoanswer_is_the_agents_missed_call() -> None:
    from streams.sources.asterisk import parse_queue_log_line

    (missed,) = parse_queue_log_line("1780304400|1780.7|sales|PJSIP/201|RINGNOANSWER|15000", 1)
    assert isinstance(missed, CallMissed)
    assert (missed.agent, missed.call_id, missed.ring_seconds) == ("PJSIP/201", "1780.7", 15.0)
    assert parse_queue_log_line("1780304400|1780.7|sales|NONE|RINGNOANSWER|15000", 2) == []


def test_a_restarted_worker_rebuilds_the_same_drilldown_from_the_changelog() -> None:
    """Snapshot plus deltas (streams/worker/state_store.py), the way a worker restarts."""
    import msgspec

    from streams.worker.state_store import QueueStateStore
    from tests.test_state_store import FakeTable, apply_batch

    encoded = [msgspec.json.encode(e) for e in callback_history()]
    encoded.append(msgspec.json.encode(CallBlocked(id="b", time=at(85), queue="q", call_id="k")))
    encoded.append(
        msgspec.json.encode(
            AgentStateChanged(
                id="p", time=at(86), queue="q", agent="ann", state="not_ready", reason="lunch"
            )
        )
    )
    rows = [("ccpulse.telephony", 0, offset, raw) for offset, raw in enumerate(encoded)]
    table = FakeTable()
    store = QueueStateStore(table, KpiEngine())
    apply_batch(store, rows[:3])
    store.write_snapshots()
    apply_batch(store, rows[3:])
    live = store.engine.queues["q"].drill
    assert live.abandoned[0].recovered_at == T0 + 65 and live.blocked and live.reasons
    fresh = QueueStateStore(table.recovered(), KpiEngine())
    assert fresh.rebuild({0}) == ["q"]
    assert fresh.engine.queues["q"].drill == live


def test_an_answer_is_remembered_through_evictions_while_an_earlier_hang_up_can_still_come() -> (
    None
):
    """Applied in separate batches, as a worker does: the queue is evicted in between, and the
    hang-up that arrives afterwards (late, within the lateness) still finds the answer."""
    engine = KpiEngine(EngineSettings(allowed_lateness_seconds=120))
    caller = "+441632960001"
    engine.apply_all(
        [
            CallEntered(id="1", time=at(90), queue="q", call_id="b", customer=caller),
            CallAnswered(id="2", time=at(100), queue="q", call_id="b"),
            CallBlocked(id="3", time=at(170), queue="q", call_id="z"),  # moves "now" on
        ]
    )
    state = engine.queues["q"]
    assert state.evicted_through == T0 + 170  # evicted once, after that batch
    engine.apply_all(
        [
            CallEntered(id="4", time=at(60), queue="q", call_id="a", customer=caller),
            CallAbandoned(id="5", time=at(80), queue="q", call_id="a"),
        ]
    )
    (entry,) = abandoned_today(state, int(T0 + 200), "UTC")
    assert entry.recovered_at == T0 + 100
    # Once older than the lateness, answers are forgotten with their calls.
    engine.apply_all([CallBlocked(id="6", time=at(1000), queue="q", call_id="y")])
    assert state.drill.answers == {} and state.drill.callers == {}
