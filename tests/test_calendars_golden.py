"""Business-hours ticket SLAs on the calendar's edge cases, worked out by hand: a target that
spans a weekend, a holiday, a daylight-saving change (a working range across the change, and a
target across a changed weekend), a ticket paused and resumed across midnight."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from processors.alerts import AlertEvaluator
from processors.calendars import BusinessClock
from processors.engine import KpiEngine
from processors.events import Event, TicketCreated, TicketStatusChanged
from processors.settings import Calendar, EngineSettings, QueueSettings
from processors.state import Ticket
from processors.ticket_sla import sla_clock
from streams.config import load_config

OFFICE = Calendar(timezone="Europe/Berlin", holidays=["2026-12-25"])  # mon-fri 09:00-17:00
ALL_DAY = Calendar(
    timezone="Europe/Berlin",
    hours={day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
)
HOUR = 3600.0


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def office_engine(**queue: object) -> KpiEngine:
    return KpiEngine(
        EngineSettings(
            calendars={"office": OFFICE},
            defaults=QueueSettings(calendar="office", **queue),  # type: ignore[arg-type]
        )
    )


def created(when: str, ticket_id: str = "t1") -> TicketCreated:
    return TicketCreated(
        id=f"c-{ticket_id}",
        time=datetime.fromisoformat(when),
        queue="support",
        ticket_id=ticket_id,
    )


def gauges(engine: KpiEngine, when: str) -> tuple[int, int, int, int]:
    live = engine.snapshot(ts(when))["support"].live
    return (
        live.first_reply_sla_breached,
        live.first_reply_sla_at_risk,
        live.resolution_sla_breached,
        live.resolution_sla_at_risk,
    )


def test_a_target_that_spans_a_weekend() -> None:
    # Friday 15:00 + 8 working hours: 2 on Friday, 6 on Monday -> due Monday 15:00.
    engine = office_engine(sla_hours={"normal": 8.0}, first_reply_hours={"normal": 2.0})
    engine.apply_all([created("2026-11-27T15:00:00+01:00")])
    # First reply (2 h) due Friday 17:00; at risk from 80 % = 16:36.
    assert gauges(engine, "2026-11-27T16:35:59+01:00") == (0, 0, 0, 0)
    assert gauges(engine, "2026-11-27T16:36:00+01:00") == (0, 1, 0, 0)
    # Saturday to Monday 09:00: no working time passes; the resolution clock stands at 2 h.
    assert gauges(engine, "2026-11-30T08:59:59+01:00") == (1, 0, 0, 0)
    # Resolution at risk from 6.4 h = Monday 13:24, breached at Monday 15:00.
    assert gauges(engine, "2026-11-30T13:23:59+01:00") == (1, 0, 0, 0)
    assert gauges(engine, "2026-11-30T13:24:00+01:00") == (1, 0, 0, 1)
    assert gauges(engine, "2026-11-30T14:59:59+01:00") == (1, 0, 0, 1)
    assert gauges(engine, "2026-11-30T15:00:00+01:00") == (1, 0, 1, 0)


def test_a_holiday_is_not_working_time() -> None:
    clock = BusinessClock(OFFICE)
    # Thursday 24 December 16:00 -> Monday 28 December 16:00: 1 h + (Friday 25: holiday) + 7 h.
    assert clock.seconds(ts("2026-12-24T16:00:00+01:00"), ts("2026-12-28T16:00:00+01:00")) == (
        8 * HOUR
    )
    without = BusinessClock(Calendar(timezone="Europe/Berlin"))
    assert without.seconds(ts("2026-12-24T16:00:00+01:00"), ts("2026-12-28T16:00:00+01:00")) == (
        16 * HOUR
    )


def test_a_target_across_a_daylight_saving_weekend() -> None:
    # Berlin leaves summer time on Sunday 25 October 2026. Friday 16:00 CEST + 8 working hours
    # is Monday 16:00 CET = 15:00 UTC (a fixed +02:00 offset would say 14:00 UTC).
    clock = BusinessClock(OFFICE)
    start = ts("2026-10-23T16:00:00+02:00")
    assert clock.seconds(start, ts("2026-10-26T15:00:00+00:00")) == 8 * HOUR
    assert clock.seconds(start, ts("2026-10-26T14:00:00+00:00")) == 7 * HOUR
    # Around the clock, that Sunday has 25 hours and the spring Sunday 23.
    every = BusinessClock(ALL_DAY)
    assert every.seconds(ts("2026-10-25T00:00:00+02:00"), ts("2026-10-26T00:00:00+01:00")) == (
        25 * HOUR
    )
    assert every.seconds(ts("2026-03-29T00:00:00+01:00"), ts("2026-03-30T00:00:00+02:00")) == (
        23 * HOUR
    )


def test_a_working_range_across_the_change_holds_the_instants_whose_local_time_is_in_it() -> None:
    night = {"sun": ["00:00-02:30"]}
    clock = BusinessClock(Calendar(timezone="Europe/Berlin", hours=night))
    # Spring: 02:00-03:00 does not exist; 00:00-02:00 CET is all the range holds (2 h).
    assert clock.seconds(ts("2026-03-28T12:00:00Z"), ts("2026-03-29T12:00:00Z")) == 2 * HOUR
    # Autumn: 02:00-02:30 happens twice (CEST, then CET): 2.5 h + 0.5 h.
    assert clock.seconds(ts("2026-10-24T12:00:00Z"), ts("2026-10-25T12:00:00Z")) == 3 * HOUR


def test_a_ticket_paused_and_resumed_across_midnight() -> None:
    ticket = Ticket(
        first_seen=ts("2026-12-01T09:00:00+01:00"),
        created_at=ts("2026-12-01T09:00:00+01:00"),  # Tuesday
        statuses=(
            (ts("2026-12-01T16:00:00+01:00"), "pending"),
            (ts("2026-12-02T10:00:00+01:00"), "open"),
        ),
    )
    paused = frozenset({"pending"})
    at = ts("2026-12-02T12:00:00+01:00")
    # Tuesday 09:00-16:00 (7 h), paused to Wednesday 10:00, then 10:00-12:00 (2 h).
    assert sla_clock(ticket, at, paused, BusinessClock(OFFICE)) == 9 * HOUR
    # Not paused: Tuesday 09:00-17:00 and Wednesday 09:00-12:00.
    assert sla_clock(ticket, at, frozenset(), BusinessClock(OFFICE)) == 11 * HOUR
    # Around the clock: 7 h, paused 18 h, 2 h.
    assert sla_clock(ticket, at, paused, None) == 9 * HOUR
    # The same through the engine: a 9.5 h target is at risk (>= 80 %) and not breached.
    engine = office_engine(sla_hours={"normal": 9.5}, first_reply_hours={"normal": 100.0})
    events: list[Event] = [
        created("2026-12-01T09:00:00+01:00"),
        TicketStatusChanged(
            id="p",
            time=datetime.fromisoformat("2026-12-01T16:00:00+01:00"),
            queue="support",
            ticket_id="t1",
            status="pending",
        ),
        TicketStatusChanged(
            id="o",
            time=datetime.fromisoformat("2026-12-02T10:00:00+01:00"),
            queue="support",
            ticket_id="t1",
            status="open",
        ),
    ]
    engine.apply_all(events)
    assert gauges(engine, "2026-12-02T12:00:00+01:00") == (0, 0, 0, 1)
    assert gauges(engine, "2026-12-02T12:30:00+01:00") == (0, 0, 1, 0)


def test_an_alert_rule_on_a_business_hours_gauge_fires_from_the_engine(tmp_path: Path) -> None:
    """The documented rule (docs/alerts.md, Business-hours SLAs): validated by the config, it
    fires once the first-reply target of the weekend ticket has passed, and only then."""
    config = tmp_path / "ccpulse.yaml"
    config.write_text(
        "alerts:\n"
        "  use_default_rules: false\n"
        "  rules:\n"
        "    - {name: first_reply_overdue, kpi: first_reply_sla_breached, fire: 0, clear: 0,\n"
        "       for_seconds: 0, queues: ['support']}\n"
    )
    evaluator = AlertEvaluator(load_config(config).alerts.effective_rules())
    engine = office_engine(sla_hours={"normal": 8.0}, first_reply_hours={"normal": 2.0})
    engine.apply_all([created("2026-11-27T15:00:00+01:00")])
    before = engine.snapshot(ts("2026-11-27T16:59:59+01:00"))
    assert not [t for t in evaluator.evaluate(before) if t.state == "firing"]
    after = engine.snapshot(ts("2026-11-27T17:00:00+01:00"))
    assert [t.state for t in evaluator.evaluate(after)] == ["pending", "firing"]  # for 0 s
