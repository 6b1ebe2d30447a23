"""The supervisor's drill-down over HTTP: ``/api/queues/{queue}`` and ``/api/agents?queue=Q``.

Both read the queue's state in the engine at the queue's "now" (``runtime.clock(queue)``), as
the wallboard does: the calls waiting, the last abandoned calls of the day (with "recovered"),
the last blocked calls, and the agents (processors/drilldown.py, processors/agent_board.py).
Caller numbers are shown as ``privacy.caller_numbers`` says (full, masked, hidden).

A worker answers for the queues it owns (404 otherwise), like ``/api/staffing``. With an
``access:`` section, a request needs a token that may read the queue (401 without one, 403 for
another team's queue); the agents' "queues served" name only the queues that token may read.
"""

from __future__ import annotations

import math
import time
from typing import Any

import faust
import msgspec

from processors.agent_board import AgentRow, agent_rows, logged_in, pause_reasons
from processors.drilldown import abandoned_today, blocked_today, waiting_calls
from processors.state import QueueState
from streams.views.access import access_of
from streams.views.wallboard import detail_tiles
from streams.views.worker_view import WorkerView

__all__ = [
    "agents_document",
    "caller_privacy",
    "mask_caller",
    "queue_document",
    "queue_time",
    "register_queue_views",
]


def mask_caller(number: str | None, mode: str, visible: int = 4) -> str | None:
    """``number`` as the privacy setting shows it: ``full``, ``masked`` (all but the last
    ``visible`` characters starred; a number that short is starred whole) or ``hidden``."""
    if number is None or mode == "hidden":
        return None
    if mode == "full":
        return number
    if len(number) <= visible or visible == 0:
        return "*" * len(number)
    return "*" * (len(number) - visible) + number[-visible:]


def caller_privacy(runtime: WorkerView) -> tuple[str, int]:
    """How caller numbers are shown: ``privacy.caller_numbers`` and ``visible_digits``."""
    privacy = getattr(runtime.config, "privacy", None)
    if privacy is None:
        return "masked", 4
    return privacy.caller_numbers, privacy.visible_digits


def queue_time(runtime: WorkerView, queue: str) -> int:
    """The whole second the queue's drill-down describes (its "now")."""
    return math.floor(runtime.clock(queue))


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _agent(row: AgentRow, at: int) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.structs.asdict(row)
    body["time_in_state_seconds"] = max(0.0, at + 1 - row.since)
    return body


def queue_document(
    runtime: WorkerView, queue: str, readable: set[str] | None = None
) -> dict[str, Any] | None:
    """The drill-down of ``queue`` (None when this worker does not own it); ``readable``: the
    queues the asker may see (None: all), for the agents' other queues."""
    engine = runtime.engine
    state: QueueState | None = engine.queues.get(queue)
    if state is None:
        return None
    at = queue_time(runtime, queue)
    zone = engine.settings.for_queue(queue).timezone
    mode, visible = caller_privacy(runtime)
    waiting = [
        {
            "position": position,
            "call_id": call_id,
            "entered_at": entered,
            "waiting_seconds": max(0.0, at + 1 - entered),
            "priority": None,  # the event contract carries no call priority
            "caller": mask_caller(caller, mode, visible),
        }
        for position, (call_id, entered, caller) in enumerate(waiting_calls(state, at), start=1)
    ]
    abandoned = [
        {
            "call_id": entry.call_id,
            "at": entry.at,
            "at_iso": _iso(entry.at),
            "wait_seconds": entry.wait,
            "caller": mask_caller(entry.caller, mode, visible),
            "recovered": entry.recovered_at is not None and entry.recovered_at < at + 1,
            "recovered_at": entry.recovered_at,
        }
        for entry in abandoned_today(state, at, zone)
    ]
    blocked = [
        {"call_id": b.call_id, "at": b.at, "at_iso": _iso(b.at), "reason": b.reason}
        for b in blocked_today(state, at, zone)
    ]
    rows = agent_rows(state, at, zone)
    served = _served(runtime, {row.agent for row in rows}, readable)
    return {
        "queue": queue,
        "at": float(at),
        "at_iso": _iso(at),
        "length": engine.settings.drilldown_length,
        "caller_numbers": mode,
        "waiting": waiting,
        "abandoned": abandoned,
        "blocked": blocked,
        "agents": [_agent(row, at) | {"queues": served[row.agent]} for row in rows],
        "pause_reasons": pause_reasons(rows),
        "more": msgspec.to_builtins(detail_tiles(runtime, queue) or []),
    }


def _served(
    runtime: WorkerView, agents: set[str], readable: set[str] | None = None
) -> dict[str, list[str]]:
    """Per agent of ``agents``, the owned (and ``readable``) queues in which it is logged in now
    (one pass over the queues, looking up only those agents)."""
    served: dict[str, list[str]] = {agent: [] for agent in agents}
    for name in sorted(runtime.engine.queues):
        if readable is not None and name not in readable:
            continue
        state = runtime.engine.queues[name]
        present = agents.intersection(state.agents)
        if not present:
            continue
        at = queue_time(runtime, name)
        for agent in present:
            if logged_in(state, agent, at):
                served[agent].append(name)
    return served


def agents_document(
    runtime: WorkerView, queue: str | None, readable: set[str] | None = None
) -> dict[str, Any] | None:
    """``{"agents": [...]}``: the agents of ``queue``, or of every owned (and ``readable``)
    queue (each row then names its queue). None when ``queue`` is not owned here."""
    engine = runtime.engine
    names = sorted(engine.queues) if queue is None else [queue]
    if readable is not None:
        names = [name for name in names if name in readable]
    if queue is not None and queue not in engine.queues:
        return None
    agents = []
    for name in names:
        at = queue_time(runtime, name)
        zone = engine.settings.for_queue(name).timezone
        for row in agent_rows(engine.queues[name], at, zone):
            agents.append({"queue": name, **_agent(row, at), "at": float(at)})
    served = _served(runtime, {body["agent"] for body in agents}, readable)
    for body in agents:
        body["queues"] = served[body["agent"]]
    return {"queue": queue, "agents": agents}


def register_queue_views(app: faust.App, runtime: WorkerView) -> None:
    access = access_of(runtime)

    @app.page("/api/queues/{queue}")
    async def queue_view(
        self: faust.web.View, request: faust.web.Request, queue: str
    ) -> faust.web.Response:
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        if not grant.may("read", queue):
            return access.refused(self, request, f"may not read queue {queue!r}", 403)
        readable = set(grant.readable(runtime.engine.queues))
        body = queue_document(runtime, queue, readable)
        if body is None:
            return self.json({"error": f"queue {queue!r} is not owned by this worker"}, status=404)
        return self.bytes(msgspec.json.encode(body), content_type="application/json")

    @app.page("/api/agents")
    async def agents_view(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        queue = request.query.get("queue") or None
        if queue is not None and not grant.may("read", queue):
            return access.refused(self, request, f"may not read queue {queue!r}", 403)
        body = agents_document(runtime, queue, set(grant.readable(runtime.engine.queues)))
        if body is None:
            return self.json({"error": f"queue {queue!r} is not owned by this worker"}, status=404)
        return self.bytes(msgspec.json.encode(body), content_type="application/json")

    del queue_view, agents_view
