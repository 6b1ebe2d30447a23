"""Jira Service Management webhooks -> canonical events.

Jira POSTs JSON with ``webhookEvent`` (``jira:issue_created``, ``jira:issue_updated``,
``comment_created``), ``timestamp`` (epoch ms), ``issue`` (``id``, ``key``, ``fields``: project,
priority, status with its ``statusCategory``, reporter, created, the request type field) and,
for updates, ``changelog.items`` (``field``, ``fieldId``, ``fromString``, ``toString``). The
ccpulse queue is the request type's name (``request_type_queues``), else the project key
(``project_queues`` renames).

| webhookEvent / changelog item | ccpulse event |
|---|---|
| jira:issue_created | ticket.created (priority mapped, customer = reporter) |
| status -> a solved status (``solved_statuses`` or category *done*) | ticket.solved |
| status -> a ``closed_statuses`` status | ticket.closed |
| status from solved/closed -> another | ticket.reopened (+ ticket.status when not plain open) |
| status -> a ``pending_statuses`` status, else | ticket.status pending / open |
| request type (or project) change that changes the queue | ticket.moved |
| assignee | ticket.assigned |
| comment_created | ticket.replied (customer if the author is the reporter) |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processors.events import (
    Event,
    TicketAssigned,
    TicketClosed,
    TicketCreated,
    TicketMoved,
    TicketReopened,
    TicketReplied,
    TicketSolved,
    TicketStatusChanged,
)
from streams.sources.payloads import MappingResult, Unmappable, parse_time, text
from streams.sources.settings import JiraSourceConfig

__all__ = ["map_jira"]

_PRIORITIES = {
    "highest": "urgent",
    "blocker": "urgent",
    "critical": "urgent",
    "high": "high",
    "major": "high",
    "medium": "normal",
    "normal": "normal",
    "low": "low",
    "minor": "low",
    "lowest": "low",
    "trivial": "low",
}
_REQUEST_TYPE_FIELDS = {"customer request type", "request type"}


def _get(mapping: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping


def _request_type(fields: Mapping[str, Any], config: JiraSourceConfig) -> str | None:
    value = fields.get(config.request_type_field)
    if isinstance(value, Mapping):
        return text(_get(value, "requestType", "name")) or text(value.get("name"))
    return text(value)


def _queue(project: str | None, request_type: str | None, config: JiraSourceConfig) -> str | None:
    if request_type is not None and request_type in config.request_type_queues:
        return config.request_type_queues[request_type]
    if project is None:
        return None
    return config.project_queues.get(project, project)


def _status_class(name: str | None, category: str | None, config: JiraSourceConfig) -> str:
    if name is not None and name in config.closed_statuses:
        return "closed"
    if (name is not None and name in config.solved_statuses) or category == "done":
        return "solved"
    if name is not None and name in config.pending_statuses:
        return "pending"
    return "open"


def map_jira(payload: Mapping[str, Any], config: JiraSourceConfig) -> MappingResult:
    kind = text(payload.get("webhookEvent"))
    if kind is None:
        return Unmappable("no webhookEvent: not a Jira webhook")
    if kind not in ("jira:issue_created", "jira:issue_updated", "comment_created"):
        return []
    issue = payload.get("issue")
    if not isinstance(issue, Mapping) or text(issue.get("id")) is None:
        return Unmappable(f"{kind}: no issue.id")
    fields = issue.get("fields") if isinstance(issue.get("fields"), Mapping) else {}
    assert isinstance(fields, Mapping)
    ticket = text(issue.get("key")) or str(issue["id"])
    when = parse_time(payload.get("timestamp")) or parse_time(fields.get("updated"))
    if when is None:
        return Unmappable(f"{kind}: no valid timestamp")
    project = text(_get(fields, "project", "key"))
    queue = _queue(project, _request_type(fields, config), config)
    if queue is None:
        return Unmappable(f"{kind}: no project key or mapped request type to tell the queue")
    changelog = payload.get("changelog")
    ident = f"jira-{issue['id']}-{_get(changelog, 'id') or payload.get('timestamp')}"
    base: dict[str, Any] = {"time": when, "queue": queue, "ticket_id": ticket}
    if kind == "jira:issue_created":
        priority = _PRIORITIES.get((text(_get(fields, "priority", "name")) or "").lower(), "normal")
        customer = text(_get(fields, "reporter", "accountId")) or text(
            _get(fields, "reporter", "emailAddress")
        )
        created = parse_time(fields.get("created")) or when
        return [
            TicketCreated(
                id=ident + ":created",
                **{**base, "time": created},
                priority=priority,  # type: ignore[arg-type]
                customer=customer,
                channel="jira",
            )
        ]
    if kind == "comment_created":
        comment = payload.get("comment")
        if not isinstance(comment, Mapping):
            return Unmappable(f"{kind}: no comment")
        author = text(_get(comment, "author", "accountId"))
        reporter = text(_get(fields, "reporter", "accountId"))
        public = comment.get("jsdPublic")
        return [
            TicketReplied(
                id=f"jira-{issue['id']}-comment-{comment.get('id') or payload.get('timestamp')}",
                **base,
                author="customer" if author is not None and author == reporter else "agent",
                public=True if public is None else bool(public),
            )
        ]
    items = _get(changelog, "items")
    if not isinstance(items, list):
        return []
    return _changes(items, fields, project, queue, ident, base, config)


def _changes(
    items: list[Any],
    fields: Mapping[str, Any],
    project: str | None,
    queue: str,
    ident: str,
    base: dict[str, Any],
    config: JiraSourceConfig,
) -> list[Event]:
    events: list[Event] = []
    moved_from: str | None = None
    for item in items:
        if not isinstance(item, Mapping):
            continue
        name = (text(item.get("field")) or "").lower()
        field_id = text(item.get("fieldId"))
        if name == "status":
            events.extend(_status_change(item, fields, ident, base, config))
        elif name in _REQUEST_TYPE_FIELDS or field_id == config.request_type_field:
            old = _queue(project, text(item.get("fromString")), config)
            if old is not None and old != queue:
                moved_from = old
        elif name == "project":
            old_project = text(item.get("fromString"))
            old = config.project_queues.get(old_project, old_project) if old_project else None
            if old is not None and old != queue:
                moved_from = old
        elif name == "assignee":
            agent = text(item.get("to")) or text(item.get("toString"))
            if agent:
                events.append(TicketAssigned(id=ident + ":assignee", **base, agent=agent))
    if moved_from is not None:
        # Keyed by the old queue; what happened in the same update is applied there first and
        # travels with the ticket (ticket.moved_in carries its status).
        events = [_rekey(e, moved_from) for e in events]
        events.append(
            TicketMoved(id=ident + ":moved", **{**base, "queue": moved_from}, to_queue=queue)
        )
    return events


def _rekey(event: Event, queue: str) -> Event:
    import msgspec

    return msgspec.structs.replace(event, queue=queue)


def _status_change(
    item: Mapping[str, Any],
    fields: Mapping[str, Any],
    ident: str,
    base: dict[str, Any],
    config: JiraSourceConfig,
) -> list[Event]:
    to_name = text(item.get("toString"))
    current_name = text(_get(fields, "status", "name"))
    category = (
        text(_get(fields, "status", "statusCategory", "key")) if to_name == current_name else None
    )
    new = _status_class(to_name, category, config)
    old = _status_class(text(item.get("fromString")), None, config)
    sid = ident + ":status"
    if new == "solved":
        return [TicketSolved(id=sid, **base)]
    if new == "closed":
        return [TicketClosed(id=sid, **base)]
    events: list[Event] = []
    if old in ("solved", "closed"):
        events.append(TicketReopened(id=ident + ":reopened", **base))
        if new == "open":
            return events
    events.append(TicketStatusChanged(id=sid, **base, status=new))  # type: ignore[arg-type]
    return events
