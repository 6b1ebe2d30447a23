"""What the drill-down (processors/drilldown.py) costs in memory, for the bench's memory table.

The drill-down's lists are bounded by N (``engine.drilldown_length``), so its worst case is
known in advance: every queue with its N abandoned and N blocked calls kept, callers known, a
few calls waiting with their callers, and agents with today's counters and a pause reason.
:func:`full_drilldown` builds exactly that through the engine (so the same objects a worker
holds) and measures it with :func:`drilldown_bytes`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

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
from processors.state import QueueState

__all__ = ["drilldown_bytes", "full_drilldown"]

START = 1_795_000_000.0


def drilldown_bytes(states: Iterable[QueueState]) -> int:
    """``sys.getsizeof`` of every object the states' drill-downs hold (containers, entries,
    their strings and floats), each object once: approximate, like the probe's breakdown."""
    counted: set[int] = set()

    def size(obj: Any) -> int:
        if obj is None or id(obj) in counted:
            return 0
        counted.add(id(obj))
        return sys.getsizeof(obj)

    total = 0
    for state in states:
        drill = state.drill
        total += size(drill) + size(drill.callers) + size(drill.abandoned) + size(drill.blocked)
        total += size(drill.agent_days) + size(drill.reasons) + size(drill.answers)
        for call_id, caller in drill.callers.items():
            total += size(call_id) + size(caller)
        for entry in drill.abandoned:
            total += size(entry) + size(entry.call_id) + size(entry.caller)
            total += size(entry.at) + size(entry.wait) + size(entry.recovered_at)
        for blocked in drill.blocked:
            total += size(blocked) + size(blocked.event_id) + size(blocked.call_id)
            total += size(blocked.reason) + size(blocked.at)
        for agent, day in drill.agent_days.items():
            total += size(agent) + size(day) + size(day.handle_seconds)
        for agent, notes in drill.reasons.items():
            total += size(agent) + size(notes)
            for note in notes:
                total += size(note) + size(note.at) + size(note.reason)
        for caller, answers in drill.answers.items():
            total += size(caller) + size(answers) + sum(size(t) for t in answers)
    return total


def _queue_events(queue: str, length: int, waiting: int, agents: int) -> list[Event]:
    events: list[Event] = []

    def at(seconds: float) -> datetime:
        return datetime.fromtimestamp(START + seconds, UTC)

    for i in range(length):
        call = f"{queue}-ab-{i}"
        customer = f"+4416329{i:05d}"
        events.append(
            CallEntered(id=f"{call}-e", time=at(i), queue=queue, call_id=call, customer=customer)
        )
        events.append(CallAbandoned(id=f"{call}-x", time=at(i + 30.5), queue=queue, call_id=call))
        events.append(
            CallBlocked(
                id=f"{queue}-bl-{i}",
                time=at(i + 0.5),
                queue=queue,
                call_id=f"{queue}-bl-{i}",
                reason="queue_full",
            )
        )
    for i in range(agents):
        agent = f"{queue}-agent-{i}"
        call = f"{queue}-an-{i}"
        events.append(
            AgentStateChanged(
                id=f"{agent}-s", time=at(i), queue=queue, agent=agent, state="available"
            )
        )
        events.append(
            CallMissed(id=f"{call}-m", time=at(40 + i), queue=queue, call_id=call, agent=agent)
        )
        events.append(
            CallAnswered(id=f"{call}-a", time=at(50 + i), queue=queue, call_id=call, agent=agent)
        )
        events.append(
            CallEnded(
                id=f"{call}-n",
                time=at(200 + i),
                queue=queue,
                call_id=call,
                agent=agent,
                talk_seconds=140.25,
            )
        )
        events.append(
            AgentStateChanged(
                id=f"{agent}-p",
                time=at(300 + i),
                queue=queue,
                agent=agent,
                state="not_ready",
                reason="break",
            )
        )
    # Well past the lateness: the finished calls (and their callers) are evicted, as in a
    # worker; the calls entering now stay, waiting, with their callers.
    late = EngineSettings().allowed_lateness_seconds + 400
    for i in range(waiting):
        call = f"{queue}-w-{i}"
        events.append(
            CallEntered(
                id=f"{call}-e",
                time=at(late + i),
                queue=queue,
                call_id=call,
                customer=f"+4420794{i:05d}",
            )
        )
    return events


def full_drilldown(
    queues: int = 1000, length: int | None = None, waiting: int = 10, agents: int = 20
) -> dict[str, Any]:
    """Every one of ``queues`` queues with its drill-down full at N = ``length`` (default: the
    configured default), ``waiting`` calls waiting and ``agents`` agents: the bytes it holds."""
    settings = EngineSettings() if length is None else EngineSettings(drilldown_length=length)
    engine = KpiEngine(settings)
    started = time.perf_counter()
    for index in range(queues):
        engine.apply_all(_queue_events(f"q{index:04d}", settings.drilldown_length, waiting, agents))
    seconds = time.perf_counter() - started
    states = list(engine.queues.values())
    assert all(len(s.drill.abandoned) == settings.drilldown_length for s in states)
    total = drilldown_bytes(states)
    return {
        "queues": queues,
        "length": settings.drilldown_length,
        "waiting_per_queue": waiting,
        "agents_per_queue": agents,
        "bytes": total,
        "bytes_per_queue": total / max(1, queues),
        "build_seconds": seconds,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(full_drilldown()))
