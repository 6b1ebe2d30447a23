"""The ticket flow of the simulation: tickets created, assigned, replied to, set pending,
solved, sometimes reopened or moved to another queue; a share of solved ones answered by a
survey."""

from __future__ import annotations

from processors.events import (
    Event,
    TicketAssigned,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from streams.offline.simulator.core import SimQueue, SimulationCore

__all__ = ["TicketFlow"]


class TicketFlow(SimulationCore):
    """Adds the ticket flow to the core (:class:`~streams.offline.simulator.model.Simulation`
    schedules the first ticket of each queue)."""

    def _ticket_arrives(self, queue: SimQueue, t: float) -> list[Event]:
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
