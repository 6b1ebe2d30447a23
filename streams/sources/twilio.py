"""Twilio TaskRouter Workspace event callbacks -> canonical events.

TaskRouter POSTs one form-encoded callback per event to the Workspace's EventCallbackUrl
(parameters ``EventType``, ``Sid``, ``Timestamp``/``TimestampMs``, the task's ``TaskSid``,
``TaskQueueSid``/``TaskQueueName``, ``TaskCanceledReason``, the worker's ``WorkerName``,
``WorkerActivityName``, ``WorkerAttributes``...; Twilio's "TaskRouter Events reference"). A task
is the contact; its TaskQueue is the ccpulse queue (``sources.twilio.queue_map`` renames, by
TaskQueue SID or friendly name; mapping the SIDs is the robust choice, since some callbacks
carry only ``TaskQueueSid``).

| EventType | ccpulse event |
|---|---|
| task.created (when it names a TaskQueue), task-queue.entered | call.entered (call = TaskSid) |
| reservation.accepted | call.answered (agent = WorkerName; wait = accept - queue entry) |
| task.canceled | call.abandoned, or call.exited timeout when the reason names a timeout/TTL |
| task-queue.timeout | call.exited timeout |
| worker.activity.update | agent.state per queue the worker serves (``activity_states``) |
| anything else (task.completed, workflow.*, ...) | nothing (no KPI meaning) |

Ids are built from the task and the queue (``tw-<TaskSid>:entered:<queue>``...), so a callback
Twilio retries, or a task.created and task-queue.entered describing one entry, count once.
TaskRouter callbacks carry no talk time, so AHT is not fed from this source.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEntered,
    CallExited,
    Event,
)
from streams.sources.payloads import MappingResult, Unmappable, digest, parse_time, text
from streams.sources.settings import TwilioSourceConfig

__all__ = ["map_taskrouter"]

_TASK_EVENTS = frozenset(
    {
        "task.created",
        "task-queue.entered",
        "reservation.accepted",
        "task.canceled",
        "task-queue.timeout",
    }
)


def _queue(
    params: Mapping[str, Any], config: TwilioSourceConfig, known: dict[str, str] | None
) -> str | None:
    """``queue_map`` by SID, then by name; else the name (remembered per SID from earlier
    callbacks, for callbacks that carry only ``TaskQueueSid``); else the SID."""
    name = text(params.get("TaskQueueName"))
    sid = text(params.get("TaskQueueSid"))
    if known is not None and sid is not None:
        if name is not None:
            known[sid] = name
        else:
            name = known.get(sid)
    for key in (sid, name):
        if key is not None and key in config.queue_map:
            return config.queue_map[key]
    return name or sid


def _worker_queues(params: Mapping[str, Any], config: TwilioSourceConfig) -> list[str]:
    queues: list[str] = []
    raw = params.get("WorkerAttributes")
    if raw:
        try:
            attributes = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            attributes = None
        value = (
            attributes.get(config.worker_queues_attribute) if isinstance(attributes, dict) else None
        )
        if isinstance(value, str):
            queues = [value]
        elif isinstance(value, list):
            queues = [str(v) for v in value if text(v)]
    if not queues and config.default_queue:
        queues = [config.default_queue]
    return [config.queue_map.get(q, q) for q in queues]


def map_taskrouter(
    params: Mapping[str, Any],
    config: TwilioSourceConfig,
    known_queues: dict[str, str] | None = None,
) -> MappingResult:
    """One event callback's parameters -> events (see the module docstring).

    ``known_queues`` (TaskQueue SID -> name) is filled and read across calls, so a callback
    that names its queue only by SID lands in the same queue as the ones that named it."""
    kind = text(params.get("EventType"))
    if kind is None:
        return Unmappable("no EventType: not a TaskRouter event callback")
    when = parse_time(params.get("TimestampMs")) or parse_time(params.get("Timestamp"))
    if when is None:
        return Unmappable(f"{kind}: no valid Timestamp")
    ident = "tw-" + (text(params.get("Sid")) or digest(*sorted(params.items())))
    task = text(params.get("TaskSid"))
    if kind == "worker.activity.update":
        worker = text(params.get("WorkerName")) or text(params.get("WorkerSid"))
        activity = text(params.get("WorkerActivityName"))
        if worker is None or activity is None:
            return Unmappable(f"{kind}: no WorkerName/WorkerSid or WorkerActivityName")
        queues = _worker_queues(params, config)
        if not queues:
            return Unmappable(
                f"{kind}: worker {worker} names no queue in WorkerAttributes."
                f"{config.worker_queues_attribute} and sources.twilio.default_queue is not set"
            )
        state = config.activity_states.get(activity, "not_ready")
        reason = activity if state == "not_ready" else None
        return [
            AgentStateChanged(
                id=f"{ident}:{queue}",
                time=when,
                queue=queue,
                agent=worker,
                state=state,
                reason=reason,
            )
            for queue in queues
        ]
    if kind not in _TASK_EVENTS:
        return []
    if task is None:
        return Unmappable(f"{kind}: no TaskSid")
    queue = _queue(params, config, known_queues)
    if queue is None:
        if kind == "task.created":
            return []  # not routed yet: the entry comes with task-queue.entered
        return Unmappable(f"{kind}: no TaskQueueName or TaskQueueSid to tell the queue")
    events: list[Event] = []
    if kind in ("task.created", "task-queue.entered"):
        events.append(
            CallEntered(
                id=f"tw-{task}:entered:{queue}",
                time=when,
                queue=queue,
                call_id=task,
                customer=_customer(params),
            )
        )
    elif kind == "reservation.accepted":
        entered = parse_time(params.get("TaskQueueEnteredDate"))
        wait = max(0.0, (when - entered).total_seconds()) if entered is not None else None
        events.append(
            CallAnswered(
                id=f"tw-{task}:answered:{queue}",
                time=when,
                queue=queue,
                call_id=task,
                agent=text(params.get("WorkerName")),
                wait_seconds=wait,
            )
        )
    else:
        reason = (
            text(params.get("TaskCanceledReason")) or text(params.get("Reason")) or ""
        ).lower()
        timed_out = kind == "task-queue.timeout" or any(
            word in reason for word in config.timeout_reasons
        )
        exit_id = f"tw-{task}:exit:{queue}"
        if timed_out:
            events.append(
                CallExited(id=exit_id, time=when, queue=queue, call_id=task, reason="timeout")
            )
        else:
            events.append(CallAbandoned(id=exit_id, time=when, queue=queue, call_id=task))
    return events


def _customer(params: Mapping[str, Any]) -> str | None:
    raw = params.get("TaskAttributes")
    if not raw:
        return None
    try:
        attributes = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    if not isinstance(attributes, dict):
        return None
    for key in ("customer", "from", "caller", "name"):
        value = text(attributes.get(key))
        if value:
            return value[:256]
    return None
