"""Property tests: the streaming engine equals the batch definitions, whatever the arrival order.

Hypothesis generates random, well-formed contact-centre histories over several queues (calls of
every outcome with and without source-reported waits, blocked calls, handled calls, agent
states, tickets with replies, status changes, solves, reopens and moves, surveys, repeat
customers), delivers them in a random order that stays within the allowed lateness, adds
duplicates, and compares every KPI of every window with tests/kpi_reference.py.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.engine import KpiEngine, Position
from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEnded,
    CallEntered,
    CallExited,
    CallTransferred,
    Event,
    IvrEntered,
    IvrExited,
    SurveyResponse,
    TicketClosed,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from processors.settings import Calendar, EngineSettings, QueueSettings
from processors.state import decode_state, encode_state
from tests.kpi_reference import CONTACT_EVENTS, reference

LATENESS = 60.0
T0 = datetime(2026, 3, 28, 23, 30, tzinfo=UTC).timestamp()  # London's clocks change at 01:00 UTC
SPAN = 2400.0
WINDOWS = ["5m", "15m", "1h", "today"]
SETTINGS = EngineSettings(
    windows=WINDOWS,
    allowed_lateness_seconds=LATENESS,
    # Business hours around the span (Saturday 23:30 UTC on) and the three days of older tickets
    # before it: ranges that open and close within the span, a holiday, weekend gaps.
    calendars={
        "london": Calendar(
            timezone="Europe/London",
            hours={
                **{day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
                "sat": ["23:00-23:45", "23:50-24:00"],
                "sun": ["00:00-00:05", "00:07-01:30"],
            },
            holidays=["2026-03-26"],
        ),
        "shifts": Calendar(
            hours={
                **{day: ["08:00-12:00"] for day in ("wed", "thu", "fri")},
                "sat": ["23:40-24:00"],
                "sun": ["00:00-00:03"],
            }
        ),
    },
    defaults=QueueSettings(
        fcr_window_hours=0.25,
        sl_variant="offered",
        sl_flow_outs="against",
        sl_threshold_by_channel={"chat": 30.0},
        calendar="shifts",
        first_reply_hours={"urgent": 0.01, "high": 0.05, "normal": 0.1, "low": 2},
    ),
    queues={
        "q-london": QueueSettings(
            timezone="Europe/London",
            sl_variant="answered",
            fcr_window_hours=0.1,
            calendar="london",
            first_reply_hours={"urgent": 0.05, "high": 0.1, "normal": 0.2, "low": 8},
            sla_hours={"urgent": 0.15, "high": 0.3, "normal": 9, "low": 12},
            paused_statuses=["pending", "hold"],
            sla_warning_ratio=0.5,
        ),
        "q-kolkata": QueueSettings(
            timezone="Asia/Kolkata",
            sl_threshold_seconds=30,
            sl_threshold_by_channel={"chat": 45.0, "email": 600.0, "voice": 20.0},
            short_abandon_seconds=3,
            sl_callbacks="against",
            first_reply_hours={"urgent": 0.1, "high": 0.2, "normal": 0.3, "low": 30},
        ),
    },
)
QUEUES = ["q-london", "q-kolkata", "q-utc"]


def when(t: float) -> datetime:
    return datetime.fromtimestamp(round(T0 + t, 3), UTC)


class History:
    """Builds a consistent history from random draws (ids unique, times distinct per entity)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.events: list[Event] = []
        self.n = 0

    def id(self) -> str:
        self.n += 1
        return f"e{self.n}"

    def t(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 3)

    def ivr(self, queue: str, call_id: str, t: float) -> float:
        """Maybe a pass through a self-service flow ending at ``t`` (before the call queues) or,
        for a call that never queues, anywhere; returns when the pass ended."""
        rng = self.rng
        flow = rng.choice(["main", "billing-menu"])
        start = t - rng.choice([0.0, 4.5, round(rng.uniform(1, 200), 3)])
        if rng.random() < 0.9:  # else: an exit whose entry never arrives
            self.events.append(
                IvrEntered(id=self.id(), time=when(start), queue=queue, call_id=call_id, flow=flow)
            )
        if rng.random() < 0.2:  # round the same flow again: still one pass (docs/kpis.md)
            again = round(rng.uniform(start, t), 3)
            self.events.append(
                IvrEntered(id=self.id(), time=when(again), queue=queue, call_id=call_id, flow=flow)
            )
        if rng.random() < 0.15:
            return t  # still in the flow
        reported = None if rng.random() < 0.6 else round(t - start + rng.choice([0.0, 2.0]), 3)
        self.events.append(
            IvrExited(
                id=self.id(),
                time=when(t),
                queue=queue,
                call_id=call_id,
                flow=flow,
                outcome=rng.choice(
                    ["self_served", "self_served", "to_queue", "abandoned", "error"]
                ),
                ivr_seconds=reported,
            )
        )
        return t

    def call(self, queue: str) -> None:
        rng, t = self.rng, self.t(0, SPAN)
        call_id = f"call-{self.n}"
        if rng.random() < 0.35:
            self.ivr(queue, call_id, t)
        customer = f"cust-{rng.randrange(6)}" if rng.random() < 0.7 else None
        outcome = rng.choice(
            [
                *("answered", "answered", "abandoned", "exited", "waiting", "blocked", "orphan"),
                *("callback", "flow_out"),
            ]
        )
        if outcome == "blocked":
            self.events.append(
                CallBlocked(id=self.id(), time=when(t), queue=queue, call_id=call_id)
            )
            return
        if outcome != "orphan":
            self.events.append(
                CallEntered(
                    id=self.id(), time=when(t), queue=queue, call_id=call_id, customer=customer
                )
            )
        if outcome == "waiting":
            return
        wait = rng.choice([0.0, 2.5, 5.0, 19.999, 20.0, 20.001, 30.0, round(rng.uniform(0, 90), 3)])
        exit_t = t + wait
        reported = None if rng.random() < 0.5 else round(wait + rng.choice([0.0, 0.0, 1.0]), 3)
        if outcome == "orphan" and reported is None and rng.random() < 0.5:
            reported = wait  # an exit whose entry never comes: counted only with a reported wait
        kind = {
            "answered": CallAnswered,
            "abandoned": CallAbandoned,
            "exited": CallExited,
            "orphan": CallAnswered,
            "callback": CallCallbackRequested,
            "flow_out": CallTransferred,
        }[outcome]
        extra: dict[str, Any] = {"while_queued": True} if kind is CallTransferred else {}
        self.events.append(
            kind(
                id=self.id(),
                time=when(exit_t),
                queue=queue,
                call_id=call_id,
                wait_seconds=reported,
                **extra,
            )
        )
        if kind is CallCallbackRequested:
            completed = self.callback(queue, call_id, exit_t)
            if rng.random() < 0.2:
                # Asked again (a new id) while waiting for the call back: still one callback,
                # one exit. (After the callback was completed and forgotten, a request is a
                # new callback: docs/kpis.md.)
                latest = exit_t + 120 if completed is None else min(exit_t + 120, completed)
                self.events.append(
                    CallCallbackRequested(
                        id=self.id(),
                        time=when(round(rng.uniform(exit_t, latest), 3)),
                        queue=queue,
                        call_id=call_id,
                        wait_seconds=rng.choice([None, reported]),
                    )
                )
        if kind is CallAnswered and rng.random() < 0.3:
            # An agent transfers the answered call: counted in `transfers`, not an exit.
            self.events.append(
                CallTransferred(
                    id=self.id(),
                    time=when(exit_t + self.t(0, 400)),
                    queue=queue,
                    call_id=call_id,
                    to_queue=rng.choice(QUEUES),
                )
            )
        if kind is CallAnswered and rng.random() < 0.6:
            talk = round(rng.uniform(10, 300), 3)
            self.events.append(
                CallEnded(
                    id=self.id(),
                    time=when(exit_t + talk + 5),
                    queue=queue,
                    call_id=call_id,
                    talk_seconds=talk,
                    hold_seconds=rng.choice([0.0, 12.5]),
                    wrapup_seconds=5.0,
                )
            )

    def callback(self, queue: str, call_id: str, requested: float) -> float | None:
        """Tries after a callback request, and maybe its completion (its time, returned); either
        may come before the request in arrival order (close in time) or much later (still
        pending at times)."""
        rng, t = self.rng, requested
        for _ in range(rng.randrange(0, 3)):
            t += rng.choice([0.0, self.t(0, 30), self.t(30, 900)])
            self.events.append(
                CallCallbackAttempted(
                    id=self.id(),
                    time=when(t),
                    queue=queue,
                    call_id=call_id,
                    outcome=rng.choice(["connected", "no_answer", "busy"]),
                )
            )
        if rng.random() < 0.75:
            t += rng.choice([0.0, self.t(0, 20), self.t(20, 1200)])
            self.events.append(
                CallCallbackCompleted(
                    id=self.id(),
                    time=when(t),
                    queue=queue,
                    call_id=call_id,
                    success=rng.random() < 0.7,
                )
            )
            return t
        return None

    def agent(self, queue: str, index: int) -> None:
        t = self.t(0, 60)
        for _ in range(self.rng.randrange(1, 6)):
            state = self.rng.choice(["available", "on_call", "wrap_up", "not_ready", "logged_out"])
            self.events.append(
                AgentStateChanged(
                    id=self.id(), time=when(t), queue=queue, agent=f"{queue}-a{index}", state=state
                )
            )
            t += self.t(1, 700)

    def ticket(self, queue: str) -> None:
        rng = self.rng
        created = self.t(-3 * 86400, SPAN) if rng.random() < 0.2 else self.t(0, SPAN)
        ticket_id = f"tkt-{self.n}"
        priority = rng.choice(["low", "normal", "high", "urgent"])
        due = when(created + rng.uniform(60, 7200)) if rng.random() < 0.3 else None
        customer = f"cust-{rng.randrange(6)}" if rng.random() < 0.7 else None
        self.events.append(
            TicketCreated(
                id=self.id(),
                time=when(created),
                queue=queue,
                ticket_id=ticket_id,
                priority=priority,
                due_at=due,
                customer=customer,
            )
        )
        t = created
        if rng.random() < 0.3:
            # Moved while unsolved, with nothing but its creation in the old queue (see the
            # reference's assumptions), well after creation so no valid shuffle reorders them.
            t += LATENESS + self.t(5, 300)
            target = rng.choice([q for q in QUEUES if q != queue])
            self.events.append(
                TicketMoved(
                    id=self.id(), time=when(t), queue=queue, ticket_id=ticket_id, to_queue=target
                )
            )
            queue = target
        for _ in range(rng.randrange(0, 6)):
            t += self.t(1, 600)
            step = rng.choice(
                [
                    *("reply", "reply", "customer", "private", "pending", "solved"),
                    *("reopened", "closed", "hold", "open"),
                ]
            )
            common = {"id": self.id(), "time": when(t), "queue": queue, "ticket_id": ticket_id}
            if step == "reply":
                self.events.append(TicketReplied(**common, author="agent"))
            elif step == "customer":
                self.events.append(TicketReplied(**common, author="customer"))
            elif step == "private":
                self.events.append(TicketReplied(**common, author="agent", public=False))
            elif step in ("pending", "hold", "open"):
                self.events.append(TicketStatusChanged(**common, status=step))
            elif step == "solved":
                self.events.append(TicketSolved(**common))
            elif step == "reopened":
                self.events.append(TicketReopened(**common))
            else:
                self.events.append(TicketClosed(**common))

    def survey(self, queue: str) -> None:
        rng = self.rng
        self.events.append(
            SurveyResponse(
                id=self.id(),
                time=when(self.t(0, SPAN)),
                queue=queue,
                csat=rng.choice([None, 1, 3, 4, 5]),
                nps=rng.choice([None, 0, 6, 7, 8, 9, 10]),
                ces=rng.choice([None, 1, 4, 7]),
            )
        )


def history(seed: int, calls: int, tickets: int, agents: int, surveys: int) -> list[Event]:
    rng = random.Random(seed)
    built = History(rng)
    for queue in QUEUES:
        for _ in range(calls):
            built.call(queue)
        for _ in range(tickets):
            built.ticket(queue)
        for index in range(agents):
            built.agent(queue, index)
        for _ in range(surveys):
            built.survey(queue)
    return with_channels(built.events, random.Random(seed ^ 0x5EED))


def with_channels(events: list[Event], rng: random.Random) -> list[Event]:
    """The same history with contact channels drawn on a random stream of their own (the draws
    above are unchanged): a third of histories all voice (no event names a channel), the rest
    one channel per call, and now and then one event naming another channel than its call's
    (each event counts in its own: docs/kpis.md#channels)."""
    if rng.random() < 1 / 3:
        return events
    of_call: dict[tuple[str, str], str] = {}
    out: list[Event] = []
    for event in events:
        if isinstance(event, CONTACT_EVENTS):
            key = (event.queue, event.call_id)
            channel = of_call.setdefault(key, rng.choice(["voice", "voice", "chat", "email"]))
            if rng.random() < 0.05:
                channel = rng.choice(["voice", "chat", "sms"])
            if channel != "voice" or rng.random() < 0.5:
                event = msgspec.structs.replace(event, channel=channel)
        out.append(event)
    return out


def arrival_order(events: list[Event], rng: random.Random, duplicates: int) -> list[Event]:
    """Each event delayed by up to 0.9 x lateness: never late, often out of order."""
    keyed = [
        (e.time.timestamp() + rng.uniform(0, 0.9 * LATENESS), i, e) for i, e in enumerate(events)
    ]
    keyed.sort(key=lambda k: (k[0], k[1]))
    order = [e for _, _, e in keyed]
    for _ in range(duplicates):
        index = rng.randrange(len(order))
        order.insert(min(len(order), index + rng.randrange(1, 5)), order[index])
    return order


def compare(engine: KpiEngine, events: list[Event], at: int) -> list[str]:
    problems: list[str] = []
    snapshots = engine.snapshot(at)
    for window in WINDOWS:
        expected = reference(events, at, window, SETTINGS)
        for queue, fields in expected.items():
            if queue not in snapshots:
                if any(
                    v not in (0, 0.0, None, {}, {"lt_24h": 0, "24h_48h": 0, "gt_48h": 0})
                    for v in fields.values()
                ):
                    problems.append(f"{queue}: missing from the engine")
                continue
            snap = snapshots[queue]
            actual: dict[str, Any] = msgspec.structs.asdict(snap.live) | msgspec.structs.asdict(
                snap.windows[window]
            )
            problems += _compare_channels(queue, window, snap.channels, fields.pop("channels"))
            for name, value in fields.items():
                got = actual[name]
                if not _same(got, value):
                    problems.append(
                        f"{queue} {window} {name}: engine {got!r} != definition {value!r}"
                    )
    return problems


def _same(got: Any, value: Any) -> bool:
    if isinstance(value, float) and isinstance(got, float):
        return math.isclose(got, value, rel_tol=1e-9, abs_tol=1e-6)
    return bool(got == value)


def _compare_channels(
    queue: str,
    window: str,
    reported: dict[str, dict[str, dict[str, float | None]]],
    expected: dict[str, dict[str, Any]],
) -> list[str]:
    """Every channel the engine reports equals the definition over that channel's events; a
    queue whose events name two channels or more reports each of them."""
    problems: list[str] = []
    named = {c for c, fields in expected.items() if any(fields.values())}
    if len(named) > 1 and not named <= set(reported):
        problems.append(f"{queue}: channels {sorted(named)} seen, {sorted(reported)} reported")
    for channel, windows in reported.items():
        want = expected.get(channel)
        if want is None:
            problems.append(f"{queue}: channel {channel!r} reported, no event names it")
            continue
        for name, got in windows[window].items():
            value = want[name]
            if not _same(got, value):
                problems.append(
                    f"{queue} {channel} {window} {name}: engine {got!r} != definition {value!r}"
                )
    return problems


def instants(events: list[Event]) -> list[int]:
    newest = max(e.time.timestamp() for e in events)
    return [math.floor(newest), math.floor(newest) + 45, math.floor(newest) + 400]


draws = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 10**9),
        "calls": st.integers(0, 25),
        "tickets": st.integers(0, 8),
        "agents": st.integers(0, 3),
        "surveys": st.integers(0, 5),
        "duplicates": st.integers(0, 10),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws)
def test_streaming_equals_the_definitions_under_shuffles_and_duplicates(
    draw: dict[str, int],
) -> None:
    events = history(draw["seed"], draw["calls"], draw["tickets"], draw["agents"], draw["surveys"])
    if not events:
        return
    order = arrival_order(events, random.Random(draw["seed"] + 1), draw["duplicates"])
    engine = KpiEngine(SETTINGS)
    result = engine.apply_all(order)
    # Originals are never late (the shuffle stays within the lateness); each inserted copy is
    # dropped, as a duplicate or (if it landed after newer events) as late.
    assert result.late + result.duplicates == draw["duplicates"]
    for at in instants(events):
        problems = compare(engine, events, at)
        assert not problems, "\n".join(problems[:20])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draws, st.integers(1, 60))
def test_batches_with_offsets_and_a_state_round_trip_change_nothing(
    draw: dict[str, int], batch: int
) -> None:
    """The worker's way: batches with source positions, a redelivered batch after a 'crash',
    and the state serialised and restored in the middle."""
    events = history(draw["seed"], draw["calls"], draw["tickets"], draw["agents"], draw["surveys"])
    if not events:
        return
    order = arrival_order(events, random.Random(draw["seed"] + 1), draw["duplicates"])
    engine = KpiEngine(SETTINGS)
    positioned = [(e, Position("topic", 0, i)) for i, e in enumerate(order)]
    forwarded: list[Event] = []
    cursor = 0
    while cursor < len(positioned):
        chunk = positioned[cursor : cursor + batch]
        result = engine.apply([*((f, None) for f in forwarded), *chunk])
        forwarded = list(result.forwarded)
        if cursor == batch:
            # Redelivery of everything so far (offsets not committed before a crash)...
            again = engine.apply(positioned[: cursor + batch])
            assert again.applied == 0 and not again.forwarded
            # ...and a restart from the serialised state.
            restored = KpiEngine(SETTINGS)
            restored.queues = {q: decode_state(encode_state(s)) for q, s in engine.queues.items()}
            engine = restored
        cursor += batch
    engine.apply([(f, None) for f in forwarded])
    for at in instants(events):
        problems = compare(engine, events, at)
        assert not problems, "\n".join(problems[:20])
