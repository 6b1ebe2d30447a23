"""Asterisk / FreePBX ``queue_log`` -> canonical events.

A line is ``epoch|callid|queue|agent|EVENT|data1|data2|...``. Field meanings follow the Asterisk
documentation of queue_log events (Asterisk "Queue Logs" reference):

| EVENT | data | ccpulse event |
|---|---|---|
| ENTERQUEUE | url, callerid, position | call.entered (customer = callerid) |
| CONNECT | holdtime, bridged channel, ringtime | call.answered (wait = holdtime) |
| ABANDON | position, origposition, waittime | call.abandoned (wait = waittime) |
| EXITWITHTIMEOUT / EXITEMPTY | position, origposition, waittime | call.exited timeout / empty |
| EXITWITHKEY | key, position, origposition, waittime | call.exited key |
| FULL / JOINEMPTY / JOINUNAVAIL | - | call.blocked queue_full / no_agents / no_agents |
| COMPLETECALLER / COMPLETEAGENT | holdtime, calltime, origposition | call.ended (talk = calltime) |
| TRANSFER, BLINDTRANSFER, ATTENDEDTRANSFER | -, -, holdtime, calltime | transferred + ended |
| ADDMEMBER, AGENTLOGIN, UNPAUSE, UNPAUSEALL | - | agent.state available |
| REMOVEMEMBER, AGENTLOGOFF | - | agent.state logged_out |
| PAUSE, PAUSEALL | reason | agent.state not_ready |
| RINGNOANSWER | ringtime (ms) | call.missed (the agent rang and did not answer) |

A transferred call is not followed by COMPLETECALLER / COMPLETEAGENT (the transfer ends the
queue call), so the transfer line also ends the agent's work on it (``call.ended``, talk =
calltime, id suffixed ``:ended``).

:class:`QueueLogMapper` (what ``replay`` and the live follower use) also derives the agent's
state from the call lines, with one small piece of memory per (queue, agent): CONNECT puts the
agent ``on_call``, the end of the call (COMPLETE* or a transfer) makes them ``available`` again,
and a PAUSE always wins (a paused member is ``not_ready``, on a call or not, as Asterisk itself
reports it, until UNPAUSE). Those derived events carry the line's id suffixed ``:agent``. The
memory is serialisable, so the follower saves it with its read position and a restart maps the
next line exactly as an uninterrupted run would.

Asterisk's "holdtime" is the time the caller waited in the queue, not time on hold, so a
``call.ended`` from queue_log has hold 0; queue_log records no after-call work, so wrap-up is 0.
Lines with no KPI meaning (RINGCANCELED, QUEUESTART, CONFIGRELOAD, anything on queue NONE) are
read and produce nothing. Every event's id is derived from the line itself, so a line read twice
(a restarted follower) is a duplicate the engine ignores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallBlocked,
    CallEnded,
    CallEntered,
    CallExited,
    CallMissed,
    CallTransferred,
    Event,
)
from streams.sources.problems import ParseProblem

__all__ = ["QueueLogMapper", "parse_queue_log_line", "read_queue_log"]

_BLOCKED = {"FULL": "queue_full", "JOINEMPTY": "no_agents", "JOINUNAVAIL": "no_agents"}
_EXITS = {"EXITWITHTIMEOUT": ("timeout", 2), "EXITEMPTY": ("empty", 2), "EXITWITHKEY": ("key", 3)}
_AGENT_STATES = {
    "ADDMEMBER": "available",
    "AGENTLOGIN": "available",
    "UNPAUSE": "available",
    "UNPAUSEALL": "available",
    "REMOVEMEMBER": "logged_out",
    "AGENTLOGOFF": "logged_out",
    "PAUSE": "not_ready",
    "PAUSEALL": "not_ready",
}
_TRANSFERS = {"TRANSFER", "BLINDTRANSFER", "ATTENDEDTRANSFER"}
_SILENT = {"RINGCANCELED", "QUEUESTART", "CONFIGRELOAD", "SYSCOMPAT", "INFO", "DID"}


def _seconds(data: list[str], index: int, what: str) -> float:
    try:
        value = float(data[index])
    except (IndexError, ValueError):
        raise ValueError(f"{what} (data{index + 1}) is not a number") from None
    if value < 0:
        raise ValueError(f"{what} (data{index + 1}) is negative")
    return value


def parse_queue_log_line(
    line: str, line_number: int, queue_map: Mapping[str, str] | None = None
) -> list[Event] | ParseProblem:
    """One line -> its events (none for a line with no KPI meaning), or a problem to report.

    Stateless; :class:`QueueLogMapper` adds the agent states derived from call lines."""
    text = line.rstrip("\r\n")
    fields = text.split("|")
    if len(fields) < 5:
        return ParseProblem(line_number, "expected epoch|callid|queue|agent|EVENT|data...", text)
    epoch, callid, queue, agent, kind, *data = fields
    try:
        when = datetime.fromtimestamp(float(epoch), UTC)
    except (ValueError, OverflowError, OSError):
        return ParseProblem(line_number, f"timestamp {epoch!r} is not epoch seconds", text)
    if kind in _SILENT or queue in ("", "NONE"):
        return []
    ident = "ast-" + hashlib.sha1(text.encode()).hexdigest()[:20]
    if queue_map:
        queue = queue_map.get(queue, queue)
    base = {"id": ident, "time": when, "queue": queue}
    try:
        if kind == "ENTERQUEUE":
            customer = data[1] if len(data) > 1 and data[1] else None
            return [CallEntered(**base, call_id=callid, customer=customer)]
        if kind == "CONNECT":
            return [
                CallAnswered(
                    **base,
                    call_id=callid,
                    agent=_agent(agent),
                    wait_seconds=_seconds(data, 0, "holdtime"),
                )
            ]
        if kind == "ABANDON":
            return [
                CallAbandoned(**base, call_id=callid, wait_seconds=_seconds(data, 2, "waittime"))
            ]
        if kind in _EXITS:
            reason, index = _EXITS[kind]
            return [
                CallExited(
                    **base,
                    call_id=callid,
                    reason=reason,
                    wait_seconds=_seconds(data, index, "waittime"),
                )
            ]  # type: ignore[arg-type]
        if kind == "RINGNOANSWER":
            name = _agent(agent)
            if name is None:
                return []  # rang nobody we can name: nothing to count
            ring = float(data[0]) / 1000.0 if data and data[0].isdigit() else None
            return [CallMissed(**base, call_id=callid, agent=name, ring_seconds=ring)]
        if kind in _BLOCKED:
            return [CallBlocked(**base, call_id=callid, reason=_BLOCKED[kind])]  # type: ignore[arg-type]
        if kind in ("COMPLETECALLER", "COMPLETEAGENT"):
            talk = _seconds(data, 1, "calltime")
            return [CallEnded(**base, call_id=callid, agent=_agent(agent), talk_seconds=talk)]
        if kind in _TRANSFERS:
            transferred: list[Event] = [CallTransferred(**base, call_id=callid)]
            if len(data) > 3 and data[3]:
                talk = _seconds(data, 3, "calltime")
                ended = {**base, "id": ident + ":ended"}
                transferred.append(
                    CallEnded(**ended, call_id=callid, agent=_agent(agent), talk_seconds=talk)
                )
            return transferred
        if kind in _AGENT_STATES:
            name = _agent(agent)
            if name is None:
                return ParseProblem(line_number, f"{kind} without an agent", text)
            reason = data[0] if kind.startswith("PAUSE") and data and data[0] else None
            return [AgentStateChanged(**base, agent=name, state=_AGENT_STATES[kind], reason=reason)]  # type: ignore[arg-type]
    except ValueError as exc:
        return ParseProblem(line_number, f"{kind}: {exc}", text)
    return []  # an event with no KPI meaning


def _agent(field: str) -> str | None:
    return field if field and field != "NONE" else None


class QueueLogMapper:
    """queue_log lines -> events, plus the agent states the call lines imply (module docstring).

    ``state()`` / ``QueueLogMapper(state=...)`` save and restore the per-agent memory."""

    def __init__(
        self,
        queue_map: Mapping[str, str] | None = None,
        state: Mapping[str, list[bool]] | None = None,
    ) -> None:
        self.queue_map = dict(queue_map or {})
        # "queue|agent" -> [on_call, paused]
        self._agents: dict[str, list[bool]] = {k: list(v) for k, v in (state or {}).items()}

    def state(self) -> dict[str, list[bool]]:
        return {key: list(flags) for key, flags in self._agents.items()}

    def map_line(self, line: str, line_number: int) -> list[Event] | ParseProblem:
        parsed = parse_queue_log_line(line, line_number, self.queue_map)
        if isinstance(parsed, ParseProblem) or not parsed:
            return parsed
        derived: list[Event] = []
        for event in parsed:
            extra = self._derive(event)
            if extra is not None:
                derived.append(extra)
        return parsed + derived

    def _flags(self, queue: str, agent: str) -> list[bool]:
        key = f"{queue}|{agent}"
        flags = self._agents.get(key)
        if flags is None:
            flags = self._agents[key] = [False, False]
        return flags

    def _derive(self, event: Event) -> AgentStateChanged | None:
        if isinstance(event, AgentStateChanged):
            flags = self._flags(event.queue, event.agent)
            if event.state == "not_ready":
                flags[1] = True
            elif event.state == "logged_out":
                flags[0] = flags[1] = False
            elif event.state == "available":
                flags[1] = False
                if flags[0]:  # UNPAUSE during a call: back to the call, not to available
                    return _derived(event, event.agent, "on_call")
            return None
        if isinstance(event, CallAnswered) and event.agent is not None:
            flags = self._flags(event.queue, event.agent)
            flags[0] = True
            return None if flags[1] else _derived(event, event.agent, "on_call")
        if isinstance(event, CallEnded) and event.agent is not None:
            flags = self._flags(event.queue, event.agent)
            if not flags[0]:
                return None  # a call we never saw answered (or already ended)
            flags[0] = False
            return None if flags[1] else _derived(event, event.agent, "available")
        return None


def _derived(event: Event, agent: str, state: str) -> AgentStateChanged:
    ident = event.id.split(":")[0] + ":agent"
    return AgentStateChanged(id=ident, time=event.time, queue=event.queue, agent=agent, state=state)  # type: ignore[arg-type]


def read_queue_log(
    path: str, queue_map: Mapping[str, str] | None = None
) -> Iterator[Event | ParseProblem]:
    mapper = QueueLogMapper(queue_map)
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            parsed = mapper.map_line(line, number)
            if isinstance(parsed, ParseProblem):
                yield parsed
            else:
                yield from parsed
