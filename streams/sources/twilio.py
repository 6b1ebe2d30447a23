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
| task.canceled | call.abandoned; call.exited timeout when the reason names a timeout/TTL;
  call.callback_requested when it names a callback (``callback_reasons``) |
| task-queue.timeout | call.exited timeout |
| task.transfer-completed | call.transferred (an agent's transfer of an answered task; to_queue
  when TransferType is QUEUE) |
| a callback task (TaskAttributes ``callback_for`` = the TaskSid called back): reservation.accepted,
  task.completed, task.canceled | call.callback_attempted, call.callback_completed success,
  call.callback_completed not success (its task.created / task-queue.entered are no entry) |
| worker.activity.update | agent.state per queue the worker serves (``activity_states``) |
| anything else (task.completed, workflow.*, ...) | nothing (no KPI meaning) |

Every contact event carries the task's channel (``TaskChannelUniqueName``: ``voice``, ``chat``,
``sms``...; ``channel_map`` renames, and ``default`` counts as voice); a task without one is voice.

Ids are built from the task and the queue (``tw-<TaskSid>:entered:<queue>``...), so a callback
Twilio retries, or a task.created and task-queue.entered describing one entry, count once.
TaskRouter callbacks carry no talk time, so AHT is not fed from this source.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from processors.events import (
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallCallbackAttempted,
    CallCallbackCompleted,
    CallCallbackRequested,
    CallEntered,
    CallExited,
    CallTransferred,
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
        "task.transfer-completed",
    }
)
_CALLBACK_EVENTS = frozenset({"reservation.accepted", "task.completed", "task.canceled"})


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
    called_back = _attribute(params, config.callback_attribute)
    if kind not in _TASK_EVENTS and not (called_back and kind in _CALLBACK_EVENTS):
        return []
    if task is None:
        return Unmappable(f"{kind}: no TaskSid")
    queue = _queue(params, config, known_queues)
    if queue is None:
        if kind == "task.created":
            return []  # not routed yet: the entry comes with task-queue.entered
        return Unmappable(f"{kind}: no TaskQueueName or TaskQueueSid to tell the queue")
    if called_back is not None:
        return _callback(kind, params, ident, when, queue, called_back)
    events: list[Event] = []
    channel = _channel(params, config)
    if kind == "task.transfer-completed":
        return [_transfer(params, config, known_queues, when, queue, task, ident, channel)]
    if kind in ("task.created", "task-queue.entered"):
        events.append(
            CallEntered(
                id=f"tw-{task}:entered:{queue}",
                time=when,
                queue=queue,
                call_id=task,
                customer=_customer(params),
                channel=channel,
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
                channel=channel,
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
        if kind == "task.canceled" and any(word in reason for word in config.callback_reasons):
            events.append(
                CallCallbackRequested(
                    id=exit_id, time=when, queue=queue, call_id=task, channel=channel
                )
            )
        elif timed_out:
            events.append(
                CallExited(
                    id=exit_id,
                    time=when,
                    queue=queue,
                    call_id=task,
                    reason="timeout",
                    channel=channel,
                )
            )
        else:
            events.append(
                CallAbandoned(id=exit_id, time=when, queue=queue, call_id=task, channel=channel)
            )
    return events


def _transfer(
    params: Mapping[str, Any],
    config: TwilioSourceConfig,
    known: dict[str, str] | None,
    when: datetime,
    queue: str,
    task: str,
    ident: str,
    channel: str,
) -> Event:
    """An agent's transfer of the task it holds (TaskRouter transfers start from an accepted
    reservation, so the call was answered: ``while_queued`` false). The next queue's entry is
    its own task-queue.entered."""
    to_queue = None
    target = text(params.get("TransferTo"))
    if target is not None and (text(params.get("TransferType")) or "").upper() == "QUEUE":
        named = (known or {}).get(target, target)
        to_queue = config.queue_map.get(target) or config.queue_map.get(named) or named
    transfer = text(params.get("TransferSid"))
    return CallTransferred(
        id=f"tw-{task}:transferred:{queue}:{transfer}" if transfer else ident,
        time=when,
        queue=queue,
        call_id=task,
        to_queue=to_queue,
        channel=channel,
    )


def _callback(
    kind: str, params: Mapping[str, Any], ident: str, when: datetime, queue: str, call: str
) -> list[Event]:
    """A callback task's events, on the call it calls back (``callback_attribute``): each
    accepted reservation is a try that reached an agent, the task's end completes the callback
    (completed: the caller was reached; canceled: the tries were given up). Its creation and
    queue entry are no entry of a call."""
    if kind not in _CALLBACK_EVENTS:
        return []
    if kind == "reservation.accepted":
        agent = text(params.get("WorkerName"))
        return [CallCallbackAttempted(id=ident, time=when, queue=queue, call_id=call, agent=agent)]
    return [
        CallCallbackCompleted(
            id=f"tw-{call}:callback-done:{queue}",
            time=when,
            queue=queue,
            call_id=call,
            success=kind == "task.completed",
        )
    ]


def _channel(params: Mapping[str, Any], config: TwilioSourceConfig) -> str:
    """The task's channel: its TaskChannel unique name (renamed by ``channel_map``), lower-cased
    and reduced to what a channel may hold (processors/event_fields.py: letters, digits, ``_``),
    so an odd name still counts, in a channel of its own; voice when the callback names none."""
    name = text(params.get("TaskChannelUniqueName"))
    if name is None:
        return "voice"
    name = config.channel_map.get(name, name)
    channel = re.sub(r"[^a-z0-9_]", "_", name.lower())[:32]
    if not channel[:1].isalpha():
        channel = ("c_" + channel)[:32]
    return channel


def _task_attributes(params: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = params.get("TaskAttributes")
    if not raw:
        return None
    try:
        attributes = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return attributes if isinstance(attributes, dict) else None


def _attribute(params: Mapping[str, Any], key: str) -> str | None:
    attributes = _task_attributes(params)
    return text(attributes.get(key)) if attributes is not None else None


def _customer(params: Mapping[str, Any]) -> str | None:
    attributes = _task_attributes(params)
    if attributes is None:
        return None
    for key in ("customer", "from", "caller", "name"):
        value = text(attributes.get(key))
        if value:
            return value[:256]
    return None
