"""A discrete-event model of a contact centre that emits canonical ccpulse events.

Per queue: calls arrive as a Poisson process whose rate follows a daily curve (thinning), are
blocked when no agent is logged in or the queue holds ``capacity`` callers, wait first come first
served for an agent, abandon after an exponential patience or time out; agents talk (lognormal
handle time, sometimes with hold), wrap up, take breaks. Tickets are created, assigned, replied
to, set pending, solved, sometimes reopened or moved to another queue; surveys come back for a
share of handled calls and solved tickets. Same seed and start -> the very same events.

Around the queues (docs/kpis.md, Callbacks and transfers, Self-service): a share of callers pass
a self-service flow first (served there, hanging up, or sent on to the queue with the same call
id); callers still waiting after 40 s are offered a callback (tried later, not always reached)
and some are moved on to another queue (overflow: a flow-out, then an entry there), as are some
who time out, and some about to hang up after a long wait ask for a callback instead; a few
answered calls are transferred by their agent to another queue. These draw from a random
stream of their own (``seed`` + 1).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

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
    TicketAssigned,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)

__all__ = ["DAILY_CURVE", "QueueModel", "Scenario", "Simulation", "default_queues"]

# Hour-of-day multipliers (local time): quiet nights, a morning and an afternoon peak.
DAILY_CURVE: tuple[float, ...] = (
    0.15, 0.1, 0.1, 0.1, 0.15, 0.25, 0.45, 0.75, 1.1, 1.35, 1.4, 1.3,
    1.15, 1.2, 1.35, 1.3, 1.15, 0.95, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2,
)  # fmt: skip


IVR_SHARE = 0.35
"""Share of callers who pass the self-service flow before the queue."""
IVR_OUTCOMES = (("self_served", 0.45), ("abandoned", 0.08), ("error", 0.02), ("to_queue", 0.45))
CALLBACK_SHARE = 0.3
"""Share of callers about to hang up after at least ``CALLBACK_MIN_WAIT`` who ask for a
callback instead."""
CALLBACK_MIN_WAIT = 45.0
FLOW_OUT_SHARE = 0.5
"""Share of timed-out callers moved on to another queue."""
OFFER_AFTER = 40.0
"""Seconds of waiting after which a caller is offered a callback (``OFFER_CALLBACK`` of them
take it) or moved on to another queue (``OFFER_OVERFLOW``)."""
OFFER_CALLBACK = 0.3
OFFER_OVERFLOW = 0.15
TRANSFER_SHARE = 0.06
"""Share of answered calls transferred by their agent to another queue."""


@dataclass(frozen=True)
class QueueModel:
    name: str
    calls_per_hour: float
    agents: int
    timezone: str = "UTC"
    talk_mean: float = 240.0
    wrapup_mean: float = 45.0
    patience_mean: float = 120.0
    max_wait: float = 600.0
    capacity: int = 25
    tickets_per_hour: float = 20.0


def default_queues() -> list[QueueModel]:
    return [
        QueueModel("billing", 120, 17, "Europe/London"),
        QueueModel("sales", 90, 13, "America/New_York", talk_mean=300, tickets_per_hour=10),
        QueueModel("support", 150, 28, "UTC", talk_mean=360, tickets_per_hour=40),
        QueueModel("technical", 60, 13, "Asia/Kolkata", talk_mean=420, patience_mean=180),
    ]


@dataclass(frozen=True)
class Scenario:
    """``surge``: arrivals x ``factor`` on ``queue`` during [start, start + duration) (seconds
    after the simulation start); ``outage``: the agents of ``queue`` log off for that span."""

    name: str = "normal"
    queue: str | None = None
    start: float = 600.0
    duration: float = 1800.0
    factor: float = 2.0

    def active(self, queue: str, offset: float) -> bool:
        target = self.queue if self.queue is not None else None
        return (
            self.name != "normal"
            and queue == target
            and self.start <= offset < self.start + self.duration
        )


@dataclass
class _Agent:
    name: str
    state: str = "available"
    on_break: bool = False


@dataclass
class _Queue:
    model: QueueModel
    agents: list[_Agent]
    waiting: deque[tuple[str, float]] = field(default_factory=deque)
    zone: ZoneInfo | None = None


class Simulation:
    """Iterate :meth:`events` to get events in non-decreasing time order."""

    def __init__(
        self,
        queues: list[QueueModel] | None = None,
        start: float | None = None,
        seed: int = 1,
        scenario: Scenario | None = None,
        customers_per_queue: int = 400,
        flat_day: bool = False,
    ) -> None:
        self.models = queues or default_queues()
        # Every hour at the daily peak: traffic that does not depend on the wall-clock hour
        # (a test run in a queue's quiet evening otherwise saw no abandoned call in it).
        self._curve = (max(DAILY_CURVE),) * 24 if flat_day else DAILY_CURVE
        self.start = start if start is not None else datetime.now(UTC).timestamp()
        self.seed = seed
        self.rng = random.Random(seed)
        self.extra = random.Random(seed + 1)
        """Draws for the IVR, callbacks and transfers: the queues' own draws stay as they were."""
        self._moved: set[str] = set()
        """Calls already moved to another queue once (moved at most once)."""
        scenario = scenario or Scenario()
        if scenario.name != "normal" and scenario.queue is None:
            scenario = Scenario(
                scenario.name,
                self.models[0].name,
                scenario.start,
                scenario.duration,
                scenario.factor,
            )
        self.scenario = scenario
        self.customers = customers_per_queue
        self._heap: list[tuple[float, int, Callable[[float], list[Event]]]] = []
        self._seq = 0
        self._ids = 0
        self._queues = {
            m.name: _Queue(
                m,
                [_Agent(f"{m.name}-agent-{i + 1}") for i in range(m.agents)],
                zone=ZoneInfo(m.timezone),
            )
            for m in self.models
        }
        self._ticket_queue: dict[str, str] = {}

    # -- scheduling ---------------------------------------------------------------------------

    def _at(self, t: float, action: Callable[[float], list[Event]]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, action))

    def _id(self) -> str:
        self._ids += 1
        return f"sim-{self.seed}-{self._ids}"

    def _time(self, t: float) -> datetime:
        return datetime.fromtimestamp(round(t, 3), UTC)

    def _rate(self, model: QueueModel, t: float, per_hour: float) -> float:
        queue = self._queues[model.name]
        hour = datetime.fromtimestamp(t, queue.zone).hour
        rate = per_hour / 3600.0 * self._curve[hour]
        if self.scenario.name == "surge" and self.scenario.active(model.name, t - self.start):
            rate *= self.scenario.factor
        return rate

    def _next_arrival(self, model: QueueModel, t: float, per_hour: float) -> float:
        """Thinning for a non-homogeneous Poisson process (Lewis & Shedler)."""
        peak = per_hour / 3600.0 * max(DAILY_CURVE) * max(self.scenario.factor, 1.0)
        while True:
            t += self.rng.expovariate(peak)
            if self.rng.random() * peak <= self._rate(model, t, per_hour):
                return t

    def events(self) -> Iterator[Event]:
        for queue in self._queues.values():
            name = queue.model.name
            self._at(self.start, lambda t, q=queue: self._login(q, t))
            first_call = self._next_arrival(queue.model, self.start, queue.model.calls_per_hour)
            self._at(first_call, lambda t, q=queue: self._call_arrives(q, t))
            if queue.model.tickets_per_hour > 0:
                first_ticket = self._next_arrival(
                    queue.model, self.start, queue.model.tickets_per_hour
                )
                self._at(first_ticket, lambda t, q=queue: self._ticket_arrives(q, t))
            if self.scenario.name == "outage" and self.scenario.queue == name:
                self._at(
                    self.start + self.scenario.start, lambda t, q=queue: self._outage(q, t, True)
                )
                end = self.start + self.scenario.start + self.scenario.duration
                self._at(end, lambda t, q=queue: self._outage(q, t, False))
        while self._heap:
            t, _, action = heapq.heappop(self._heap)
            yield from action(t)

    # -- agents ---------------------------------------------------------------------------------

    def _agent_event(
        self, queue: _Queue, agent: _Agent, state: str, t: float, reason: str | None = None
    ) -> Event:
        agent.state = state
        return AgentStateChanged(
            id=self._id(),
            time=self._time(t),
            queue=queue.model.name,
            agent=agent.name,
            state=state,
            reason=reason,  # type: ignore[arg-type]
        )

    def _login(self, queue: _Queue, t: float) -> list[Event]:
        return [self._agent_event(queue, agent, "available", t) for agent in queue.agents]

    def _outage(self, queue: _Queue, t: float, starting: bool) -> list[Event]:
        out: list[Event] = []
        for agent in queue.agents:
            if starting and agent.state in ("available", "not_ready"):
                out.append(self._agent_event(queue, agent, "logged_out", t, "outage"))
            elif not starting and agent.state == "logged_out":
                out.append(self._agent_event(queue, agent, "available", t))
                out.extend(self._serve_next(queue, agent, t))
        return out

    def _free_agent(self, queue: _Queue) -> _Agent | None:
        free = [a for a in queue.agents if a.state == "available"]
        return self.rng.choice(free) if free else None

    # -- calls ------------------------------------------------------------------------------------

    def _call_arrives(self, queue: _Queue, t: float) -> list[Event]:
        model = queue.model
        self._at(
            self._next_arrival(model, t, model.calls_per_hour),
            lambda t2: self._call_arrives(queue, t2),
        )
        call_id = f"call-{self._id()}"
        customer = f"cust-{model.name}-{self.rng.randrange(self.customers)}"
        if self.extra.random() < IVR_SHARE:
            return self._ivr(queue, call_id, customer, t)
        return self._join(queue, call_id, customer, t)

    def _ivr(self, queue: _Queue, call_id: str, customer: str, t: float) -> list[Event]:
        """The caller enters the self-service flow; the pass ends 15-120 s later."""
        name = queue.model.name
        flow = "main-menu"
        outcome = self.extra.choices(
            [o for o, _ in IVR_OUTCOMES], weights=[w for _, w in IVR_OUTCOMES]
        )[0]

        def leave(t2: float) -> list[Event]:
            out: list[Event] = [
                IvrExited(
                    id=self._id(),
                    time=self._time(t2),
                    queue=name,
                    call_id=call_id,
                    flow=flow,
                    outcome=outcome,  # type: ignore[arg-type]
                    to_queue=name if outcome == "to_queue" else None,
                )
            ]
            if outcome == "to_queue":
                out.extend(self._join(queue, call_id, customer, t2))
            return out

        self._at(t + self.extra.uniform(15, 120), leave)
        return [
            IvrEntered(id=self._id(), time=self._time(t), queue=name, call_id=call_id, flow=flow)
        ]

    def _join(self, queue: _Queue, call_id: str, customer: str | None, t: float) -> list[Event]:
        """The call reaches the queue: blocked, answered at once, or waiting."""
        model = queue.model
        when = self._time(t)
        if all(a.state == "logged_out" for a in queue.agents):
            return [
                CallBlocked(
                    id=self._id(), time=when, queue=model.name, call_id=call_id, reason="no_agents"
                )
            ]
        if len(queue.waiting) >= model.capacity:
            return [
                CallBlocked(
                    id=self._id(), time=when, queue=model.name, call_id=call_id, reason="queue_full"
                )
            ]
        out: list[Event] = [
            CallEntered(
                id=self._id(), time=when, queue=model.name, call_id=call_id, customer=customer
            )
        ]
        agent = self._free_agent(queue)
        if agent is not None:
            out.extend(self._answer(queue, agent, call_id, t, t))
            return out
        queue.waiting.append((call_id, t))
        patience = self.rng.expovariate(1.0 / model.patience_mean)
        if patience < model.max_wait:
            self._at(t + patience, lambda t2: self._give_up(queue, call_id, t, t2, abandoned=True))
        else:
            self._at(
                t + model.max_wait, lambda t2: self._give_up(queue, call_id, t, t2, abandoned=False)
            )
        self._at(t + OFFER_AFTER, lambda t2: self._offer(queue, call_id, t, t2))
        return out

    def _offer(self, queue: _Queue, call_id: str, entered: float, t: float) -> list[Event]:
        """A caller still waiting after ``OFFER_AFTER`` hears the offer of a callback (some
        take it), or the routing moves the call on to another queue (overflow)."""
        if (call_id, entered) not in queue.waiting:
            return []
        draw = self.extra.random()
        wait = round(t - entered, 3)
        if draw < OFFER_CALLBACK:
            queue.waiting.remove((call_id, entered))
            return self._callback_requested(queue, call_id, t, wait)
        if draw < OFFER_CALLBACK + OFFER_OVERFLOW and call_id not in self._moved:
            queue.waiting.remove((call_id, entered))
            return self._move(queue, call_id, t, wait)
        return []

    def _give_up(
        self, queue: _Queue, call_id: str, entered: float, t: float, abandoned: bool
    ) -> list[Event]:
        if (call_id, entered) not in queue.waiting:
            return []  # answered meanwhile
        queue.waiting.remove((call_id, entered))
        wait = round(t - entered, 3)
        if abandoned and wait >= CALLBACK_MIN_WAIT and self.extra.random() < CALLBACK_SHARE:
            return self._callback_requested(queue, call_id, t, wait)
        if not abandoned and call_id not in self._moved and self.extra.random() < FLOW_OUT_SHARE:
            return self._move(queue, call_id, t, wait)
        if abandoned:
            return [
                CallAbandoned(
                    id=self._id(),
                    time=self._time(t),
                    queue=queue.model.name,
                    call_id=call_id,
                    wait_seconds=wait,
                )
            ]
        return [
            CallExited(
                id=self._id(),
                time=self._time(t),
                queue=queue.model.name,
                call_id=call_id,
                reason="timeout",
                wait_seconds=wait,
            )
        ]

    def _move(
        self, queue: _Queue, call_id: str, t: float, wait: float | None = None
    ) -> list[Event]:
        """The call goes on to another queue: a flow-out while waiting (``wait`` given), else an
        answered call transferred by its agent; then it joins the other queue."""
        others = [q for q in self._queues.values() if q is not queue]
        target = self.extra.choice(others)
        self._moved.add(call_id)
        moved = CallTransferred(
            id=self._id(),
            time=self._time(t),
            queue=queue.model.name,
            call_id=call_id,
            to_queue=target.model.name,
            while_queued=wait is not None,
            wait_seconds=wait,
        )
        return [moved, *self._join(target, call_id, None, t)]

    def _callback_requested(
        self, queue: _Queue, call_id: str, t: float, wait: float
    ) -> list[Event]:
        """The caller leaves the queue for a callback: tried 5-30 minutes later, again 10
        minutes after a try that reached nobody, given up after three."""
        name = queue.model.name

        def attempt(t2: float, tries: int) -> list[Event]:
            reached = self.extra.random() < 0.7
            out: list[Event] = [
                CallCallbackAttempted(
                    id=self._id(),
                    time=self._time(t2),
                    queue=name,
                    call_id=call_id,
                    outcome="connected" if reached else "no_answer",
                )
            ]
            if reached or tries == 3:
                end = t2 + (self.extra.uniform(60, 400) if reached else 0.0)
                self._at(end, lambda t3: [self._callback_done(name, call_id, t3, reached)])
            else:
                self._at(t2 + 600, lambda t3: attempt(t3, tries + 1))
            return out

        self._at(t + self.extra.uniform(300, 1800), lambda t2: attempt(t2, 1))
        return [
            CallCallbackRequested(
                id=self._id(), time=self._time(t), queue=name, call_id=call_id, wait_seconds=wait
            )
        ]

    def _callback_done(self, queue: str, call_id: str, t: float, success: bool) -> Event:
        return CallCallbackCompleted(
            id=self._id(), time=self._time(t), queue=queue, call_id=call_id, success=success
        )

    def _answer(
        self, queue: _Queue, agent: _Agent, call_id: str, entered: float, t: float
    ) -> list[Event]:
        model = queue.model
        out = [
            CallAnswered(
                id=self._id(),
                time=self._time(t),
                queue=model.name,
                call_id=call_id,
                agent=agent.name,
                wait_seconds=round(t - entered, 3),
            ),
            self._agent_event(queue, agent, "on_call", t),
        ]
        sigma = 0.6
        talk = self.rng.lognormvariate(math.log(model.talk_mean) - sigma**2 / 2, sigma)
        hold = self.rng.expovariate(1 / 45.0) if self.rng.random() < 0.2 else 0.0
        wrapup = self.rng.expovariate(1.0 / model.wrapup_mean)
        talk_end = t + talk + hold
        self._at(talk_end, lambda t2: [self._agent_event(queue, agent, "wrap_up", t2)])
        self._at(
            talk_end + wrapup,
            lambda t2: self._call_done(queue, agent, call_id, talk, hold, wrapup, t2),
        )
        return out

    def _call_done(
        self,
        queue: _Queue,
        agent: _Agent,
        call_id: str,
        talk: float,
        hold: float,
        wrapup: float,
        t: float,
    ) -> list[Event]:
        name = queue.model.name
        out: list[Event] = []
        if call_id not in self._moved and self.extra.random() < TRANSFER_SHARE:
            out.extend(self._move(queue, call_id, t))
        out.append(
            CallEnded(
                id=self._id(),
                time=self._time(t),
                queue=name,
                call_id=call_id,
                agent=agent.name,
                talk_seconds=round(talk, 3),
                hold_seconds=round(hold, 3),
                wrapup_seconds=round(wrapup, 3),
            )
        )
        if self.rng.random() < 0.15:
            self._at(t + 60, lambda t2: [self._survey(name, t2, call_id=call_id)])
        if self.scenario.name == "outage" and self.scenario.active(name, t - self.start):
            out.append(self._agent_event(queue, agent, "logged_out", t, "outage"))
            return out
        if self.rng.random() < 0.05:
            out.append(self._agent_event(queue, agent, "not_ready", t, "break"))
            self._at(
                t + self.rng.uniform(300, 900), lambda t2: self._back_from_break(queue, agent, t2)
            )
            return out
        out.append(self._agent_event(queue, agent, "available", t))
        out.extend(self._serve_next(queue, agent, t))
        return out

    def _back_from_break(self, queue: _Queue, agent: _Agent, t: float) -> list[Event]:
        if agent.state != "not_ready":
            return []
        return [self._agent_event(queue, agent, "available", t), *self._serve_next(queue, agent, t)]

    def _serve_next(self, queue: _Queue, agent: _Agent, t: float) -> list[Event]:
        if not queue.waiting or agent.state != "available":
            return []
        call_id, entered = queue.waiting.popleft()
        return self._answer(queue, agent, call_id, entered, t)

    def _survey(
        self, queue: str, t: float, call_id: str | None = None, ticket_id: str | None = None
    ) -> Event:
        csat = self.rng.choices((1, 2, 3, 4, 5), weights=(5, 5, 10, 35, 45))[0]
        nps = min(10, max(0, round(self.rng.gauss(7.5 + (csat - 4), 2))))
        ces = self.rng.choices(range(1, 8), weights=(30, 25, 15, 12, 8, 6, 4))[0]
        return SurveyResponse(
            id=self._id(),
            time=self._time(t),
            queue=queue,
            call_id=call_id,
            ticket_id=ticket_id,
            csat=csat,
            nps=nps,
            ces=ces,
        )

    # -- tickets ----------------------------------------------------------------------------------

    def _ticket_arrives(self, queue: _Queue, t: float) -> list[Event]:
        model = queue.model
        self._at(
            self._next_arrival(model, t, model.tickets_per_hour),
            lambda t2: self._ticket_arrives(queue, t2),
        )
        ticket = f"tkt-{self._id()}"
        self._ticket_queue[ticket] = model.name
        priority = self.rng.choices(("low", "normal", "high", "urgent"), weights=(20, 60, 15, 5))[0]
        customer = f"cust-{model.name}-{self.rng.randrange(self.customers)}"
        self._at(
            t + self.rng.uniform(60, 600), lambda t2: self._ticket_step(ticket, "assigned", t2)
        )
        self._at(
            t + self.rng.expovariate(1 / 1800.0) + 60,
            lambda t2: self._ticket_step(ticket, "replied", t2),
        )
        if self.rng.random() < 0.05:
            self._at(
                t + self.rng.uniform(120, 900), lambda t2: self._ticket_step(ticket, "moved", t2)
            )
        self._at(
            t + self.rng.expovariate(1 / 7200.0) + 1800,
            lambda t2: self._ticket_step(ticket, "solved", t2),
        )
        return [
            TicketCreated(
                id=self._id(),
                time=self._time(t),
                queue=model.name,
                ticket_id=ticket,
                priority=priority,
                customer=customer,
                channel="email",
            )
        ]  # type: ignore[arg-type]

    def _ticket_step(self, ticket: str, step: str, t: float) -> list[Event]:
        queue = self._ticket_queue.get(ticket)
        if queue is None:
            return []
        when = self._time(t)
        if step == "assigned":
            return [
                TicketAssigned(
                    id=self._id(),
                    time=when,
                    queue=queue,
                    ticket_id=ticket,
                    agent=f"{queue}-agent-{self.rng.randrange(5) + 1}",
                )
            ]
        if step == "replied":
            out: list[Event] = [
                TicketReplied(
                    id=self._id(), time=when, queue=queue, ticket_id=ticket, author="agent"
                )
            ]
            out.append(
                TicketStatusChanged(
                    id=self._id(), time=when, queue=queue, ticket_id=ticket, status="pending"
                )
            )
            if self.rng.random() < 0.5:
                self._at(
                    t + self.rng.uniform(300, 3600), lambda t2: self._customer_reply(ticket, t2)
                )
            return out
        if step == "moved":
            others = [m.name for m in self.models if m.name != queue]
            target = self.rng.choice(others)
            self._ticket_queue[ticket] = target
            return [
                TicketMoved(
                    id=self._id(), time=when, queue=queue, ticket_id=ticket, to_queue=target
                )
            ]
        if step == "solved":
            out = [TicketSolved(id=self._id(), time=when, queue=queue, ticket_id=ticket)]
            if self.rng.random() < 0.3:
                self._at(t + 600, lambda t2: [self._survey(queue, t2, ticket_id=ticket)])
            if self.rng.random() < 0.1:
                self._at(
                    t + self.rng.uniform(1800, 7200),
                    lambda t2: self._ticket_step(ticket, "reopened", t2),
                )
            else:
                self._ticket_queue.pop(ticket, None)
            return out
        if step == "reopened":
            self._at(
                t + self.rng.expovariate(1 / 3600.0) + 600,
                lambda t2: self._ticket_step(ticket, "solved", t2),
            )
            return [TicketReopened(id=self._id(), time=when, queue=queue, ticket_id=ticket)]
        raise ValueError(step)

    def _customer_reply(self, ticket: str, t: float) -> list[Event]:
        queue = self._ticket_queue.get(ticket)
        if queue is None:
            return []
        when = self._time(t)
        return [
            TicketReplied(
                id=self._id(), time=when, queue=queue, ticket_id=ticket, author="customer"
            ),
            TicketStatusChanged(
                id=self._id(), time=when, queue=queue, ticket_id=ticket, status="open"
            ),
        ]
