"""Callbacks, transfers and IVR on small hand-computed histories: the numbers of docs/kpis.md
worked out by hand, the two service-level settings side by side, and what is forgotten when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from processors.engine import KpiEngine
from processors.events import (
    CallAbandoned,
    CallAnswered,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEntered,
    CallTransferred,
    Event,
    IvrEntered,
    IvrExited,
)
from processors.settings import EngineSettings, QueueSettings
from processors.state import decode_state, encode_state

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def by_time(event: Event) -> datetime:
    return event.time


def calls(queue: str) -> list[Event]:
    """Four calls: one answered in 10 s and transferred by its agent, one that asks for a
    callback after 30 s (called back 600 s later), one moved on to another queue after 50 s,
    one answered after 25 s; a second callback request that fails."""
    q = {"queue": queue}
    return [
        CallEntered(id="e1", time=at(0), call_id="c1", **q),
        CallAnswered(id="x1", time=at(10), call_id="c1", **q),
        CallTransferred(id="t1", time=at(100), call_id="c1", to_queue="sales", **q),
        CallEntered(id="e2", time=at(0), call_id="c2", **q),
        CallCallbackRequested(id="x2", time=at(30), call_id="c2", **q),
        CallCallbackAttempted(id="a2", time=at(300), call_id="c2", outcome="no_answer", **q),
        CallCallbackAttempted(id="b2", time=at(600), call_id="c2", **q),
        CallCallbackCompleted(id="d2", time=at(630), call_id="c2", **q),
        CallEntered(id="e3", time=at(0), call_id="c3", **q),
        CallTransferred(id="x3", time=at(50), call_id="c3", while_queued=True, **q),
        CallEntered(id="e4", time=at(5), call_id="c4", **q),
        CallAnswered(id="x4", time=at(30), call_id="c4", **q),
        CallCallbackRequested(id="x5", time=at(40), call_id="c5", wait_seconds=8.0, **q),
        CallCallbackCompleted(id="d5", time=at(700), call_id="c5", success=False, **q),
    ]


def test_callbacks_and_transfers_by_hand_under_both_settings() -> None:
    settings = EngineSettings(
        queues={"against": QueueSettings(sl_callbacks="against", sl_flow_outs="against")}
    )
    engine = KpiEngine(settings)
    result = engine.apply_all(sorted([*calls("excluded"), *calls("against")], key=by_time))
    assert result.late == 0
    middle = engine.snapshot(at(400).timestamp())
    assert middle["excluded"].live.callbacks_pending == 2
    end = engine.snapshot(at(800).timestamp())
    assert end["excluded"].live.callbacks_pending == 0
    excluded = end["excluded"].windows["15m"]
    against = end["against"].windows["15m"]
    for w in (excluded, against):
        assert (w.entered, w.answered, w.callbacks_requested, w.flow_outs) == (4, 2, 2, 1)
        assert (w.transfers, w.transfer_rate) == (1, 0.5)
        assert (w.callback_attempts, w.callbacks_completed, w.callbacks_succeeded) == (2, 2, 1)
        assert w.callback_success_rate == 0.5
        assert w.time_to_callback_seconds == 600.0  # 630 - 30; the failed one is not timed
        assert w.abandoned == 0 and w.other_exits == 0
        assert w.service_level_answered == 0.5  # answered in 10 s and 25 s; T = 20 s
    # E: 2 answered (excluded) or 2 + 2 callbacks + 1 flow-out (against); A_T = 1 (10 s <= 20).
    assert excluded.service_level_offered == 0.5
    assert against.service_level_offered == 1 / 5
    assert excluded.abandon_rate == 0.0 and against.abandon_rate == 0.0
    # Patience: all waits (10 + 25 + 30 + 8 + 50) over no abandon: None either way.
    assert excluded.patience_seconds is None


def test_ivr_by_hand() -> None:
    q = {"queue": "ivr-main", "flow": "main"}
    events: list[Event] = [
        IvrEntered(id="i1", time=at(0), call_id="c1", **q),
        IvrExited(id="o1", time=at(30), call_id="c1", outcome="self_served", **q),
        IvrEntered(id="i2", time=at(0), call_id="c2", **q),
        IvrExited(id="o2", time=at(50), call_id="c2", outcome="to_queue", to_queue="billing", **q),
        IvrExited(id="o3", time=at(60), call_id="c3", outcome="self_served", ivr_seconds=70, **q),
        IvrEntered(id="i4", time=at(10), call_id="c4", **q),
        IvrExited(id="o4", time=at(20), call_id="c4", outcome="abandoned", **q),
        IvrEntered(id="i5", time=at(40), call_id="c5", **q),
    ]
    engine = KpiEngine()
    engine.apply_all(events)
    snap = engine.snapshot(at(100).timestamp())["ivr-main"]
    w = snap.windows["15m"]
    assert (w.ivr_entered, w.ivr_self_served, w.ivr_to_queue, w.ivr_abandoned) == (4, 2, 1, 1)
    assert w.ivr_containment_rate == 2 / 3
    assert w.ivr_abandon_rate == 1 / 4
    assert w.ivr_seconds == (30 + 50 + 70 + 10) / 4
    assert snap.live.ivr_active == 1  # c5


def test_what_is_forgotten_and_what_a_restart_keeps() -> None:
    engine = KpiEngine(EngineSettings(max_open_callback_seconds=3600))
    q = {"queue": "billing"}
    engine.apply_all(
        [
            CallCallbackRequested(id="r1", time=at(0), call_id="c1", wait_seconds=5.0, **q),
            IvrEntered(id="i1", time=at(0), call_id="c2", flow="main", **q),
            IvrExited(id="o1", time=at(1), call_id="c3", flow="main", outcome="error", **q),
        ]
    )
    state = engine.queues["billing"]
    restored = decode_state(encode_state(state))
    assert restored.callbacks == state.callbacks and restored.ivr == state.ivr
    assert len(restored.callbacks) == 1 and len(restored.ivr) == 2
    # Five hours later: the callback (limit 1 h) and the pass never ended (limit 4 h) are lost;
    # the exit whose entry never came is unmatched.
    engine.apply_all([CallEntered(id="later", time=at(5 * 3600), call_id="c9", **q)])
    state = engine.queues["billing"]
    assert state.callbacks == {} and state.ivr == {}
    assert (state.lost_callbacks, state.lost_calls, state.unmatched_exits) == (1, 1, 1)


def test_one_pass_per_call_and_flow_and_one_callback_per_call_and_queue() -> None:
    """docs/kpis.md: a caller who goes round the same flow again is one pass, and a second
    callback request for the same call (a new event id: not a duplicate) opens no second
    callback and is no second exit."""
    q = {"queue": "billing"}
    engine = KpiEngine()
    engine.apply_all(
        [
            IvrEntered(id="i1", time=at(0), call_id="c1", flow="main", **q),
            IvrEntered(id="i2", time=at(20), call_id="c1", flow="main", **q),  # round again
            IvrExited(id="o1", time=at(40), call_id="c1", flow="main", outcome="to_queue", **q),
            CallEntered(id="e1", time=at(40), call_id="c1", **q),
            CallCallbackRequested(id="r1", time=at(80), call_id="c1", **q),
            CallCallbackRequested(id="r2", time=at(90), call_id="c1", **q),  # asked again
        ]
    )
    snap = engine.snapshot(at(100).timestamp())["billing"]
    w = snap.windows["15m"]
    assert (w.ivr_entered, w.ivr_to_queue, w.ivr_seconds) == (1, 1, 40.0)
    assert (w.entered, w.callbacks_requested) == (1, 1)
    assert snap.live.callbacks_pending == 1


def test_a_callback_presumed_lost_and_completed_later_counts_in_both() -> None:
    """docs/kpis.md, callbacks_pending: ``ccpulse_callbacks_lost_total`` counts a presumption
    (no completion within engine.max_open_callback_seconds); a completion that still comes
    is a completion, without a time to callback (its request was forgotten)."""
    q = {"queue": "billing"}
    engine = KpiEngine(EngineSettings(max_open_callback_seconds=3600))
    engine.apply_all([CallCallbackRequested(id="r1", time=at(0), call_id="c1", **q)])
    engine.apply_all([CallEntered(id="later", time=at(2 * 3600), call_id="c9", **q)])
    assert engine.queues["billing"].lost_callbacks == 1
    engine.apply_all([CallCallbackCompleted(id="d1", time=at(2 * 3600 + 10), call_id="c1", **q)])
    w = engine.snapshot(at(2 * 3600 + 20).timestamp())["billing"].windows["15m"]
    assert (w.callbacks_completed, w.callbacks_succeeded) == (1, 1)
    assert w.time_to_callback_seconds is None
    assert engine.queues["billing"].lost_callbacks == 1


def test_a_request_again_after_the_call_is_forgotten_is_no_second_exit() -> None:
    """docs/kpis.md, one callback per call and queue: the call's visit is forgotten once it can
    no longer change a KPI, but its callback is still open; asking again then is no new exit."""
    q = {"queue": "billing"}
    engine = KpiEngine()
    engine.apply_all(
        [
            CallEntered(id="e1", time=at(0), call_id="c1", **q),
            CallCallbackRequested(id="r1", time=at(30), call_id="c1", **q),
        ]
    )
    engine.apply_all([CallEntered(id="e9", time=at(3 * 3600), call_id="c9", **q)])
    assert "c1" not in engine.queues["billing"].calls and "c1" in engine.queues["billing"].callbacks
    again = CallCallbackRequested(
        id="r2", time=at(3 * 3600 + 5), call_id="c1", wait_seconds=30, **q
    )
    engine.apply_all([again])  # with its wait: it would count without its entry
    w = engine.snapshot(at(3 * 3600 + 10).timestamp())["billing"].windows["today"]
    assert w.callbacks_requested == 1
    assert engine.snapshot(at(3 * 3600 + 10).timestamp())["billing"].live.callbacks_pending == 1


def test_two_requests_at_one_instant_give_the_same_exit_in_either_order() -> None:
    """docs/kpis.md: of two requests of a call at the same instant, the one that reports a wait
    is the exit's, whichever arrives first (hypothesis found the tie: seed 8772)."""
    q = {"queue": "billing"}
    entered = CallEntered(id="e1", time=at(0), call_id="c1", **q)
    silent = CallCallbackRequested(id="r1", time=at(20), call_id="c1", **q)
    reported = CallCallbackRequested(id="r2", time=at(20), call_id="c1", wait_seconds=21, **q)
    gave_up = CallAbandoned(id="a3", time=at(30), call_id="c3", wait_seconds=10, **q)
    for order in ([silent, reported], [reported, silent]):
        engine = KpiEngine()
        engine.apply_all([entered, *order, gave_up])
        w = engine.snapshot(at(60).timestamp())["billing"].windows["today"]
        assert (w.callbacks_requested, w.offered, w.abandoned) == (1, 1, 1)
        # Caller patience sums every exit's wait over the abandons: the reported 21 s of the
        # callback request (not the 20 s computed from the entry) and the abandon's 10 s.
        assert w.patience_seconds == 31.0, order


def test_two_requests_at_one_instant_in_two_channels_give_the_same_channel_in_either_order() -> (
    None
):
    """docs/kpis.md: if both or neither report a wait, the exit is the request whose channel
    sorts first, whichever arrives first (hypothesis found the tie: seed 1039 with channels)."""
    q = {"queue": "billing", "call_id": "c1"}
    entered = CallEntered(id="e1", time=at(0), channel="chat", **q)
    sms = CallCallbackRequested(id="r1", time=at(20), channel="sms", **q)
    chat = CallCallbackRequested(id="r2", time=at(20), channel="chat", **q)
    other = CallEntered(id="e2", time=at(5), queue="billing", call_id="c2")  # voice: a split
    for order in ([sms, chat], [chat, sms]):
        engine = KpiEngine()
        engine.apply_all([entered, other, *order])
        channels = engine.snapshot(at(60).timestamp())["billing"].channels
        requested = {c: w["today"]["callbacks_requested"] for c, w in channels.items()}
        # (Arriving first, the sms request was the exit until the chat one took it back: its
        # channel was seen and holds 0.)
        assert (requested["chat"], requested["voice"], requested.get("sms", 0)) == (1, 0, 0)
