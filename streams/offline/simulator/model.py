"""A discrete-event model of a contact centre that emits canonical ccpulse events.

This module holds the call flow and runs the simulation; its parts: traffic.py (the queues,
the daily curve, the scenarios), core.py (state, scheduler, arrivals, agents, surveys),
tickets.py (the ticket flow).

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

Channels (docs/kpis.md#channels): a share of contacts are chats and messages sharing the queues
and agents with voice calls. A contact's channel is a hash of its call id and the seed, not a
draw, so every event of a contact names the same channel, nothing is remembered per contact,
and the other draws (hence every time and outcome) are the same as without channels.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections.abc import Iterator

import msgspec

from processors.events import (
    CONTACT_TYPES,
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
)
from streams.offline.simulator.core import SimAgent, SimQueue
from streams.offline.simulator.tickets import TicketFlow

__all__ = ["Simulation"]

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
CHANNEL_SHARES = (("chat", 20), ("messaging", 8))
"""Percent of contacts per channel other than voice (the rest)."""


class Simulation(TicketFlow):
    """Iterate :meth:`events` to get events in non-decreasing time order."""

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
            for event in action(t):
                if isinstance(event, CONTACT_TYPES):
                    channel = self._channel(event.call_id)
                    if channel != "voice":
                        event = msgspec.structs.replace(event, channel=channel)
                yield event

    def _channel(self, call_id: str) -> str:
        """The channel of a contact: its share of the hash of (seed, call id)."""
        point = zlib.crc32(f"{self.seed}/{call_id}".encode()) % 100
        for channel, share in CHANNEL_SHARES:
            if point < share:
                return channel
            point -= share
        return "voice"

    # -- agents ---------------------------------------------------------------------------------

    def _outage(self, queue: SimQueue, t: float, starting: bool) -> list[Event]:
        out: list[Event] = []
        for agent in queue.agents:
            if starting and agent.state in ("available", "not_ready"):
                out.append(self._agent_event(queue, agent, "logged_out", t, "outage"))
            elif not starting and agent.state == "logged_out":
                out.append(self._agent_event(queue, agent, "available", t))
                out.extend(self._serve_next(queue, agent, t))
        return out

    # -- calls ------------------------------------------------------------------------------------

    def _call_arrives(self, queue: SimQueue, t: float) -> list[Event]:
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

    def _ivr(self, queue: SimQueue, call_id: str, customer: str, t: float) -> list[Event]:
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

    def _join(self, queue: SimQueue, call_id: str, customer: str | None, t: float) -> list[Event]:
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

    def _offer(self, queue: SimQueue, call_id: str, entered: float, t: float) -> list[Event]:
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
        self, queue: SimQueue, call_id: str, entered: float, t: float, abandoned: bool
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
        self, queue: SimQueue, call_id: str, t: float, wait: float | None = None
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
        self, queue: SimQueue, call_id: str, t: float, wait: float
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
        self, queue: SimQueue, agent: SimAgent, call_id: str, entered: float, t: float
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
        queue: SimQueue,
        agent: SimAgent,
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

    def _back_from_break(self, queue: SimQueue, agent: SimAgent, t: float) -> list[Event]:
        if agent.state != "not_ready":
            return []
        return [self._agent_event(queue, agent, "available", t), *self._serve_next(queue, agent, t)]

    def _serve_next(self, queue: SimQueue, agent: SimAgent, t: float) -> list[Event]:
        if not queue.waiting or agent.state != "available":
            return []
        call_id, entered = queue.waiting.popleft()
        return self._answer(queue, agent, call_id, entered, t)
