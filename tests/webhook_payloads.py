"""Webhook payloads shaped like the vendors' documented examples, and their signatures.

* Twilio TaskRouter event callbacks: the form parameters of Twilio's "TaskRouter Events
  reference" (EventType, Sid, AccountSid, WorkspaceSid, ResourceType, ResourceSid, Timestamp,
  the Task / TaskQueue / Worker field groups).
* Zendesk ticket events: the schema of Zendesk's "Webhook event types" page (type, account_id,
  id, time, zendesk_event_version, subject, detail, event), with the "Ticket events" detail
  fields (ids as strings, statuses and priorities upper-case as Zendesk sends them).
* Jira webhooks: ``timestamp``, ``webhookEvent``, ``issue_event_type_name``, ``user``,
  ``issue`` (id, self, key, fields), ``changelog`` (id, items with field / fieldtype / fieldId /
  from / fromString / to / toString), as in Atlassian's webhook documentation.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from streams.ingest.signatures import jira_signature, twilio_signature, zendesk_signature

TWILIO_TOKEN = "12345-test-auth-token"
ZENDESK_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
JIRA_SECRET = "It's a Secret to Everybody"

ACCOUNT = "AC" + "1" * 32
WORKSPACE = "WS" + "2" * 32


def taskrouter(event_type: str, at: int, sid: str, **fields: str) -> dict[str, str]:
    """One TaskRouter event callback's form parameters."""
    resource = "Worker" if event_type.startswith("worker.") else "Task"
    params = {
        "EventType": event_type,
        "Sid": sid,
        "AccountSid": ACCOUNT,
        "WorkspaceSid": WORKSPACE,
        "WorkspaceName": "Support",
        "EventDescription": f"{event_type} event",
        "ResourceType": resource,
        "ResourceSid": fields.get("TaskSid", fields.get("WorkerSid", "")),
        "Timestamp": str(at),
        "TimestampMs": str(at * 1000),
    }
    params.update(fields)
    return params


def task_fields(task: str, queue: str, entered: int | None = None) -> dict[str, str]:
    fields = {
        "TaskSid": task,
        "TaskAttributes": json.dumps({"from": "+15555550100", "type": "inbound"}),
        "TaskAge": "12",
        "TaskPriority": "0",
        "TaskAssignmentStatus": "pending",
        "TaskChannelUniqueName": "voice",
        "TaskQueueSid": "WQ" + "3" * 32,
        "TaskQueueName": queue,
        "TaskQueueTargetExpression": "1==1",
        "WorkflowSid": "WW" + "4" * 32,
        "WorkflowName": "Default",
    }
    if entered is not None:
        fields["TaskQueueEnteredDate"] = str(entered)
    return fields


def twilio_form(params: dict[str, str]) -> bytes:
    return urllib.parse.urlencode(params).encode()


def twilio_headers(url: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    return {
        "X-Twilio-Signature": twilio_signature(token, url, params.items()),
        "Content-Type": "application/x-www-form-urlencoded",
    }


def zendesk_event(
    kind: str, event_id: str, at: str, ticket: str, group: str, event: dict[str, Any], **detail: Any
) -> dict[str, Any]:
    body_detail = {
        "actor_id": "8447388090494",
        "assignee_id": "8447388090494",
        "brand_id": "8447346621310",
        "created_at": at,
        "custom_status": "8447346637822",
        "description": "Printer on fire",
        "external_id": None,
        "form_id": "8646151517822",
        "group_id": group,
        "id": ticket,
        "is_public": True,
        "organization_id": "8447346622462",
        "priority": "LOW",
        "requester_id": "8447388090494",
        "status": "OPEN",
        "subject": "Help",
        "submitter_id": "8447388090494",
        "tags": ["printer"],
        "type": "TASK",
        "updated_at": at,
        "via": {"channel": "web_service"},
    }
    body_detail.update(detail)
    return {
        "account_id": 22129848,
        "detail": body_detail,
        "event": event,
        "id": event_id,
        "subject": f"zen:ticket:{ticket}",
        "time": at,
        "type": f"zen:event-type:{kind}",
        "zendesk_event_version": "2022-11-06",
    }


def zendesk_headers(body: bytes, stamp: str | None = None) -> dict[str, str]:
    """Signed now by default: the receiver refuses timestamps over 300 s from its clock."""
    if stamp is None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "X-Zendesk-Webhook-Signature": zendesk_signature(ZENDESK_SECRET, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def jira_issue(
    event: str,
    timestamp_ms: int,
    issue_id: str,
    key: str,
    project: str = "SUP",
    status: str = "Waiting for support",
    category: str = "new",
    request_type: str = "Get IT help",
    changelog: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "timestamp": timestamp_ms,
        "webhookEvent": event,
        "issue_event_type_name": "issue_created" if event.endswith("created") else "issue_generic",
        "user": {"accountId": "5b10a2844c20165700ede21g", "displayName": "Mia Krystof"},
        "issue": {
            "id": issue_id,
            "self": f"https://example.atlassian.net/rest/api/2/issue/{issue_id}",
            "key": key,
            "fields": {
                "project": {"id": "10000", "key": project, "name": "Support"},
                "issuetype": {"name": "[System] Service request"},
                "priority": {"name": "High", "id": "2"},
                "status": {"name": status, "statusCategory": {"key": category}},
                "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Customer"},
                "created": "2026-11-22T10:00:00.000+0000",
                "customfield_10010": {
                    "requestType": {"id": "1", "name": request_type},
                    "currentStatus": {"status": status},
                },
            },
        },
    }
    if changelog is not None:
        payload["changelog"] = {"id": f"1{issue_id}{timestamp_ms % 100000}", "items": changelog}
    return payload


def jira_headers(body: bytes, secret: str = JIRA_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature": jira_signature(secret, body), "Content-Type": "application/json"}


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()
