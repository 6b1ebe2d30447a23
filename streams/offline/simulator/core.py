"""The simulation's core: its state, its event-time scheduler (a heap of timed actions), event
ids, the thinned Poisson arrival process, agents' state changes and surveys: the steps both the
call flow (model.py) and the ticket flow (tickets.py) take."""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from processors.events import AgentStateChanged, Event, SurveyResponse
from streams.offline.simulator.traffic import DAILY_CURVE, QueueModel, Scenario, default_queues

__all__ = ["SimAgent", "SimQueue", "SimulationCore"]


@dataclass
class SimAgent:
    name: str
    state: str = "available"
    on_break: bool = False


@dataclass
class SimQueue:
    model: QueueModel
    agents: list[SimAgent]
    waiting: deque[tuple[str, float]] = field(default_factory=deque)
    zone: ZoneInfo | None = None


class SimulationCore:
    """The simulation's state, clock and shared steps: scheduling, ids, the arrival process,
    agents' state changes and surveys (:class:`~streams.offline.simulator.model.Simulation` runs
    it)."""

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
            m.name: SimQueue(
                m,
                [SimAgent(f"{m.name}-agent-{i + 1}") for i in range(m.agents)],
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

    # -- agents ---------------------------------------------------------------------------------

    def _agent_event(
        self, queue: SimQueue, agent: SimAgent, state: str, t: float, reason: str | None = None
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

    def _login(self, queue: SimQueue, t: float) -> list[Event]:
        return [self._agent_event(queue, agent, "available", t) for agent in queue.agents]

    def _free_agent(self, queue: SimQueue) -> SimAgent | None:
        free = [a for a in queue.agents if a.state == "available"]
        return self.rng.choice(free) if free else None

    # -- surveys ----------------------------------------------------------------------------------

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
