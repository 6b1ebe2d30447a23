"""Hand-worked scenarios: the expected numbers are worked out in the comments, not computed."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from processors.calendars import local_midnight
from processors.engine import KpiEngine, Position
from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallEntered,
    CallExited,
    Event,
    SurveyResponse,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
)
from processors.settings import EngineSettings, QueueSettings
from processors.snapshot import QueueSnapshot

BASE = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()  # a Sunday, UTC
_n = 0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(BASE + seconds, UTC)


def eid() -> str:
    global _n
    _n += 1
    return f"g{_n}"


def entered(t: float, call: str, queue: str = "q", customer: str | None = None) -> CallEntered:
    return CallEntered(id=eid(), time=at(t), queue=queue, call_id=call, customer=customer)


def answered(t: float, call: str, wait: float | None = None, queue: str = "q") -> CallAnswered:
    return CallAnswered(id=eid(), time=at(t), queue=queue, call_id=call, wait_seconds=wait)


def abandoned(t: float, call: str, wait: float | None = None) -> CallAbandoned:
    return CallAbandoned(id=eid(), time=at(t), queue="q", call_id=call, wait_seconds=wait)


def run(
    events: list[Event],
    when: float,
    settings: EngineSettings | None = None,
    in_time_order: bool = True,
) -> QueueSnapshot:
    """Apply ``events`` (sorted by time unless the test is about arrival order) and snapshot."""
    engine = KpiEngine(settings or EngineSettings(windows=["5m", "15m", "1h", "today"]))
    engine.apply_all(sorted(events, key=lambda e: e.time) if in_time_order else events)
    return engine.snapshot(BASE + when)["q"]


def calls_for_service_level() -> list[Event]:
    """Seven calls, T = 20 s, short abandon < 5 s:
    a answered after 10 s, b answered after 20 s (exactly T: within), c answered after 20.001 s,
    d abandoned after 15 s (within T), e abandoned after 40 s, f abandoned after 3 s (short),
    g timed out after 300 s."""
    waits = {"a": 10, "b": 20, "c": 20.001, "d": 15, "e": 40, "f": 3, "g": 300}
    events: list[Event] = [entered(0, call) for call in waits]
    events += [answered(waits[c], c) for c in "abc"]
    events += [abandoned(waits[c], c) for c in "def"]
    events.append(CallExited(id=eid(), time=at(300), queue="q", call_id="g", reason="timeout"))
    return events


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        # A_T = 2 (a, b), B_T = 1 (d); answered = 3; E = 3 answered + 2 abandoned + 1 other = 6
        ("answered", 2 / 3),  # A_T / answered
        ("offered", 2 / 6),  # A_T / E
        ("ignore_abandons", 2 / 5),  # A_T / (E - B_T)
        ("abandons_positive", 3 / 6),  # (A_T + B_T) / E
    ],
)
def test_each_service_level_variant_on_the_same_calls(variant: str, expected: float) -> None:
    settings = EngineSettings(defaults=QueueSettings(sl_variant=variant))  # type: ignore[arg-type]
    window = run(calls_for_service_level(), 600, settings).windows["15m"]
    assert window.service_level == pytest.approx(expected)
    assert window.answered_within_threshold == 2  # b at exactly T is within; c at T+0.001 is not
    assert window.abandoned_within_threshold == 1


def test_short_abandons_are_kept_out_of_everything_else() -> None:
    window = run(calls_for_service_level(), 600).windows["15m"]
    assert (window.entered, window.answered, window.abandoned, window.short_abandoned) == (
        7,
        3,
        2,
        1,
    )
    assert window.other_exits == 1
    assert window.abandon_rate == pytest.approx(2 / 6)  # f is in neither numerator nor denominator
    assert window.avg_abandon_seconds == pytest.approx((15 + 40) / 2)
    assert window.asa_seconds == pytest.approx((10 + 20 + 20.001) / 3)


def test_window_boundary_is_exclusive_at_the_start_and_inclusive_at_the_end() -> None:
    # 5m window at 600: seconds 301..600. A call entered at 300 is out, at 301 in, at 600 in.
    events: list[Event] = [
        entered(300, "x"),
        entered(301, "y"),
        entered(600, "z"),
        entered(601, "later"),
    ]
    window = run(events, 600).windows["5m"]
    assert window.entered == 2
    # Sub-second times belong to their whole second: 300.999 is second 300, still out.
    assert run([entered(300.999, "x"), entered(600.999, "y")], 600).windows["5m"].entered == 1


def test_empty_denominators_are_null_not_zero() -> None:
    window = run([CallBlocked(id=eid(), time=at(10), queue="q", call_id="b")], 60).windows["5m"]
    assert window.blocked_rate == 1.0
    assert (
        window.abandon_rate is None and window.asa_seconds is None and window.service_level is None
    )


def test_a_duplicate_is_applied_once() -> None:
    first = entered(0, "a")
    events: list[Event] = [first, first, answered(12, "a"), answered(12, "a")]
    engine = KpiEngine()
    result = engine.apply_all(events)
    assert result.duplicates == 1  # the second answer has a new id but is a second exit: ignored
    window = engine.snapshot(BASE + 60)["q"].windows["5m"]
    assert (window.entered, window.answered) == (1, 1)
    assert engine.queues["q"].ignored == 1


def test_an_answer_before_its_entry_gives_the_right_wait() -> None:
    # No reported wait: held until the entry arrives, then wait = 25 - 5 = 20 s (within T).
    late_entry = run([answered(25, "a"), entered(5, "a")], 60, in_time_order=False).windows["5m"]
    assert (late_entry.answered, late_entry.asa_seconds, late_entry.answered_within_threshold) == (
        1,
        20.0,
        1,
    )
    # Before the entry arrives nothing is counted and nobody is waiting.
    pending = run([answered(25, "a")], 60)
    assert pending.windows["5m"].answered == 0 and pending.live.calls_waiting == 0
    # With a reported wait the answer counts at once, and that wait is used.
    reported = run([answered(25, "a", wait=7.5)], 60).windows["5m"]
    assert (reported.answered, reported.asa_seconds) == (1, 7.5)


def test_a_late_event_is_dropped_and_counted() -> None:
    engine = KpiEngine(EngineSettings(allowed_lateness_seconds=120))
    engine.apply_all([entered(1000, "a"), entered(879, "late"), entered(880, "on-time")])
    state = engine.queues["q"]
    assert state.late == 1  # 879 < 1000 - 120
    assert engine.snapshot(BASE + 1000)["q"].windows["15m"].entered == 2


def test_calls_waiting_and_oldest_wait_now() -> None:
    events: list[Event] = [
        entered(100, "a"),
        entered(130.5, "b"),
        entered(150, "c"),
        answered(160, "a"),
    ]
    live = run(events, 200).live
    assert live.calls_waiting == 2  # b and c
    assert live.oldest_wait_seconds == 200 - 130  # entry second of b
    assert run(events, 159).live.calls_waiting == 3


@pytest.mark.parametrize(
    ("day", "expected_hours"),
    [
        # London springs forward at 01:00 UTC: midnight was 00:00 GMT, and at 12:00 UTC (13:00
        # BST) only 12 real hours have passed since.
        ("2026-03-29T12:00:00+00:00", 12),
        ("2026-10-25T12:00:00+00:00", 13),  # falls back: midnight BST was 23:00 UTC the day before
        ("2026-07-01T12:00:00+00:00", 13),  # summer: midnight BST
    ],
)
def test_today_starts_at_local_midnight_across_daylight_saving(
    day: str, expected_hours: int
) -> None:
    when = int(datetime.fromisoformat(day).timestamp())
    assert when - local_midnight(when, "Europe/London") == expected_hours * 3600


@pytest.mark.parametrize(
    "zone", ["Europe/London", "America/Santiago", "Asia/Kolkata", "Pacific/Apia", "UTC"]
)
def test_local_midnight_kept_per_zone_is_the_day_computed_afresh(zone: str) -> None:
    """The day kept per zone (processors/calendars.py) answers as a fresh computation does:
    every 7 minutes over the weeks around both daylight-saving changes, then instants in a
    shuffled order (back and forth between days). America/Santiago moves its clocks at
    midnight (a day that starts at 01:00); Pacific/Apia skipped a whole day in 2011."""
    from processors.calendars import _local_midnight

    starts = ["2026-03-20", "2026-10-20", "2026-04-01", "2026-09-01", "2011-12-26"]
    instants = [
        int(datetime.fromisoformat(start + "T00:00:00+00:00").timestamp()) + step * 420
        for start in starts
        for step in range(0, 14 * 24 * 60 // 7)
    ]
    for at in [*instants, *random.Random(5).sample(instants, len(instants))]:
        assert local_midnight(at, zone) == _local_midnight(at, zone), (zone, at)


def test_today_window_counts_from_local_midnight() -> None:
    settings = EngineSettings(
        windows=["today"], defaults=QueueSettings(timezone="America/New_York")
    )
    # BASE is 10:00 UTC = 05:00 in New York (EST); local midnight is 05:00 UTC earlier.
    events: list[Event] = [
        entered(-5 * 3600 - 1, "before-midnight"),
        entered(-5 * 3600, "at-midnight"),
        entered(0, "now"),
    ]
    assert run(events, 0, settings).windows["today"].entered == 2


def test_a_ticket_moved_and_reopened() -> None:
    settings = EngineSettings(windows=["1h"])
    engine = KpiEngine(settings)
    engine.apply_all(
        [
            TicketCreated(id=eid(), time=at(0), queue="support", ticket_id="t1", priority="high"),
            TicketMoved(
                id=eid(), time=at(600), queue="support", ticket_id="t1", to_queue="billing"
            ),
            TicketReplied(id=eid(), time=at(900), queue="billing", ticket_id="t1", author="agent"),
            TicketSolved(id=eid(), time=at(1200), queue="billing", ticket_id="t1"),
            TicketReopened(id=eid(), time=at(1500), queue="billing", ticket_id="t1"),
        ]
    )
    mid = engine.snapshot(BASE + 300)
    assert mid["support"].live.backlog == 1
    after_move = engine.snapshot(BASE + 700)
    assert (after_move["support"].live.backlog, after_move["billing"].live.backlog) == (0, 1)
    solved = engine.snapshot(BASE + 1300)["billing"]
    assert solved.live.backlog == 0
    end = engine.snapshot(BASE + 1600)
    billing = end["billing"]
    assert billing.live.backlog == 1  # reopened: back in the backlog of the queue it is in now
    assert billing.live.oldest_ticket_age_seconds == 1600  # age runs from creation in support
    assert end["support"].windows["1h"].tickets_created == 1  # inflow where it was created
    assert billing.windows["1h"].tickets_created == 0
    assert billing.windows["1h"].first_replies == 1  # first reply in billing, 900 s after creation
    assert billing.windows["1h"].first_reply_seconds == 900
    assert billing.windows["1h"].reopen_rate == 1.0  # 1 reopened / 1 solved


def test_a_moved_in_ticket_ahead_of_the_queue_s_own_events_makes_none_of_them_late() -> None:
    """The worker's order when the new queue's source partition stalls (its leader died, the
    producer retrying) while the old queue's worker forwards a move: the forwarded
    ticket.moved_in reaches the new queue before the new queue's own, older events. They are
    on time (replay applies them before the move); the moved_in must not move the watermark
    past them (test_broker_failure saw surveys and tickets dropped as late this way)."""
    created = TicketCreated(id=eid(), time=at(0), queue="technical", ticket_id="t9")
    moved = TicketMoved(id=eid(), time=at(600), queue="technical", ticket_id="t9", to_queue="q")
    own: list[Event] = [
        TicketCreated(id=eid(), time=at(100), queue="q", ticket_id="t1"),
        SurveyResponse(id=eid(), time=at(200), queue="q", csat=5, nps=10, ces=2),
        TicketReplied(id=eid(), time=at(900), queue="q", ticket_id="t1", author="agent"),
    ]
    settings = EngineSettings(windows=["1h", "today"])
    replay = KpiEngine(settings)
    replay.apply_all(sorted([created, moved, *own], key=lambda e: e.time))

    worker = KpiEngine(settings)
    forwarded = worker.apply(
        [(created, Position("ticketing", 1, 0)), (moved, Position("ticketing", 1, 1))]
    ).forwarded
    result = worker.apply(
        [(forwarded[0], Position("ticketing", 0, 0))]
        + [(event, Position("ticketing", 0, 1 + i)) for i, event in enumerate(own)]
    )
    assert result.late == 0
    assert worker.snapshot(BASE + 1000)["q"] == replay.snapshot(BASE + 1000)["q"]
    window = worker.snapshot(BASE + 1000)["q"].windows["1h"]
    assert (window.tickets_created, window.csat_responses, window.first_replies) == (1, 1, 1)


def test_a_ticket_moved_in_after_the_queue_s_newest_event_is_not_in_its_earlier_backlog() -> None:
    """A moved_in moves no watermark, so the destination's newest own event (at 300) says
    nothing about when its moved-in tickets arrived (at 600). At 500 the moved ticket is
    still the source's, also after a live read has built the destination's index of open
    tickets (the Hypothesis run of test_kpi_past_instants found the engine counting it)."""
    engine = KpiEngine(EngineSettings(windows=["1h"]))
    engine.apply_all(
        [
            TicketCreated(id=eid(), time=at(0), queue="technical", ticket_id="t9"),
            TicketCreated(id=eid(), time=at(300), queue="q", ticket_id="t1", priority="low"),
            TicketMoved(id=eid(), time=at(600), queue="technical", ticket_id="t9", to_queue="q"),
        ]
    )
    assert engine.snapshot(BASE + 700)["q"].live.backlog == 2  # t1 and t9
    earlier = engine.snapshot(BASE + 500)
    assert earlier["q"].live.backlog == 1  # t1 only: t9 arrives at 600
    assert earlier["q"].live.backlog_by_priority == {"low": 1}
    assert earlier["technical"].live.backlog == 1


def test_a_queue_whose_only_tickets_were_moved_in_is_evicted() -> None:
    """Ids of the ticketing family and no ticketing watermark (a moved_in moves none): the
    eviction a telephony watermark triggers must cope."""
    moved = TicketMoved(id=eid(), time=at(0), queue="technical", ticket_id="t9", to_queue="q")
    engine = KpiEngine(EngineSettings(windows=["1h"]))
    engine.apply_all(
        [TicketCreated(id=eid(), time=at(0), queue="technical", ticket_id="t9"), moved]
    )
    engine.apply_all([entered(t, f"c{t}") for t in range(0, 7200, 300)])
    assert engine.queues["q"].evicted_through > 0
    assert engine.snapshot(BASE + 7200)["q"].live.backlog == 1


def test_backlog_by_age_and_sla() -> None:
    settings = EngineSettings(windows=["1h"], defaults=QueueSettings(at_risk_minutes=60))
    events: list[Event] = [
        # urgent: due 4 h after creation; created 5 h ago -> past SLA, age bucket < 24 h
        TicketCreated(id=eid(), time=at(-5 * 3600), queue="q", ticket_id="u", priority="urgent"),
        # normal: due 24 h after creation; created 23.5 h ago -> at risk (due in 30 min)
        TicketCreated(id=eid(), time=at(-23.5 * 3600), queue="q", ticket_id="n", priority="normal"),
        # low: due 72 h after creation; created exactly 48 h ago -> bucket >= 48 h, fine
        TicketCreated(id=eid(), time=at(-48 * 3600), queue="q", ticket_id="l", priority="low"),
        # high with an explicit due time in 2 h -> neither past nor at risk; 30 h old
        TicketCreated(
            id=eid(),
            time=at(-30 * 3600),
            queue="q",
            ticket_id="h",
            priority="high",
            due_at=at(7200),
        ),
    ]
    live = run(events, 0, settings).live
    assert live.backlog == 4
    assert live.backlog_by_age == {"lt_24h": 2, "24h_48h": 1, "gt_48h": 1}
    assert (live.tickets_past_sla, live.tickets_at_risk) == (1, 1)
    assert live.oldest_ticket_age_seconds == 48 * 3600
    assert live.backlog_by_priority == {"urgent": 1, "normal": 1, "low": 1, "high": 1}


def test_surveys() -> None:
    def survey(csat: int | None, nps: int | None, ces: int | None) -> SurveyResponse:
        return SurveyResponse(id=eid(), time=at(10), queue="q", csat=csat, nps=nps, ces=ces)

    window = run(
        [survey(5, 10, 2), survey(4, 9, None), survey(2, 3, 6), survey(None, 7, 1)], 60
    ).windows["5m"]
    assert window.csat == pytest.approx(2 / 3)  # 4 and 5 are good; the unrated one is excluded
    assert window.nps == pytest.approx(100 * (2 - 1) / 4)  # 2 promoters, 1 detractor, 1 passive
    assert window.ces == pytest.approx((2 + 6 + 1) / 3)


def test_fcr_repeat_window_edges() -> None:
    settings = EngineSettings(windows=["1h"], defaults=QueueSettings(fcr_window_hours=0.5))
    events: list[Event] = [
        entered(0, "c1", customer="ann"),
        entered(1800, "c2", customer="ann"),  # exactly 30 min later: a repeat (within the window)
        entered(3600.001, "c3", customer="ann"),  # 30 min + 1 ms after c2: not a repeat
        entered(100, "c4", customer="bob"),
    ]
    window = run(events, 3600, settings).windows["1h"]
    # The 1 h window at 3600 holds seconds 1..3600: c2, c3 (second 3600) and c4, not c1.
    assert (window.contacts, window.repeat_contacts) == (3, 1)
    assert window.fcr == pytest.approx(2 / 3)


def test_a_late_earlier_contact_turns_the_next_into_a_repeat() -> None:
    settings = EngineSettings(windows=["1h"], defaults=QueueSettings(fcr_window_hours=1))
    in_order = run([entered(10, "a", customer="x"), entered(50, "b", customer="x")], 60, settings)
    shuffled = run(
        [entered(50, "b", customer="x"), entered(10, "a", customer="x")],
        60,
        settings,
        in_time_order=False,
    )
    assert in_order.windows["1h"].repeat_contacts == shuffled.windows["1h"].repeat_contacts == 1


def test_occupancy_and_agents_now() -> None:
    def state(t: float, agent: str, value: str) -> AgentStateChanged:
        return AgentStateChanged(id=eid(), time=at(t), queue="q", agent=agent, state=value)  # type: ignore[arg-type]

    events: list[Event] = [
        state(-100, "a1", "available"),  # before the window: clipped at its start (second 1)
        state(100, "a1", "on_call"),
        state(200, "a1", "wrap_up"),
        state(250, "a1", "not_ready"),  # counts as neither
        state(0, "a2", "available"),
        state(270, "a2", "logged_out"),
    ]
    snap = run(events, 299, EngineSettings(windows=["5m"]))
    # Window seconds 0..299 = real span [0, 300). a1: available 0-100, busy 100-250;
    # a2: available 0-270. busy 150 / (150 + 100 + 270)
    assert snap.windows["5m"].occupancy == pytest.approx(150 / 520)
    assert snap.live.agents == {"not_ready": 1}
    assert snap.live.agents_staffed == 1


def test_worker_style_replay_of_a_batch_changes_nothing() -> None:
    engine = KpiEngine()
    batch = [(entered(i, f"c{i}"), Position("tel", 3, 100 + i)) for i in range(5)]
    engine.apply(batch)
    again = engine.apply(batch[2:])  # redelivered after a crash
    assert again.applied == 0 and again.duplicates == 3
    assert engine.snapshot(BASE + 10)["q"].windows["5m"].entered == 5


def test_snapshot_document_shape() -> None:
    snap: Any = run(calls_for_service_level(), 600)
    assert set(snap.windows) == {"5m", "15m", "1h", "today"}
