"""``sources:`` in the configuration file: where the adapters read, how they verify senders, and
how each vendor's names (a Twilio TaskQueue, a Zendesk group, a Jira project or request type)
become ccpulse queues.

These structs live here, next to the mappings that use them, and are a field of
:class:`streams.config.Config`; secrets may be written as ``${ENV_VAR}``. Every field has a
default, so ``ccpulse ingest webhooks`` starts with an empty file; an endpoint whose secret is not
configured refuses every request (401) rather than trusting unsigned input.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct, field

__all__ = [
    "AsteriskSourceConfig",
    "JiraSourceConfig",
    "SourcesConfig",
    "TwilioSourceConfig",
    "WebhooksConfig",
    "ZendeskSourceConfig",
]

AgentStateName = Literal["logged_out", "available", "on_call", "wrap_up", "not_ready"]
Positive = Annotated[float, Meta(gt=0)]


class AsteriskSourceConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``ccpulse ingest asterisk``: the queue_log follower."""

    queue_log: str = "/var/log/asterisk/queue_log"
    state_file: str = "var/ingest/asterisk-queue_log.state.json"
    """Read position (inode, offset, a checksum of the bytes before it), written atomically
    after each batch Kafka acknowledged."""
    poll_interval_seconds: Positive = 0.25
    batch_max_lines: Annotated[int, Meta(ge=1)] = 2000
    max_line_bytes: Annotated[int, Meta(ge=256, le=64 * 1024 * 1024)] = 65_536
    """A longer line is dead-lettered (``line_too_long``: its first 64 kB, size, SHA-256) and
    reading goes on; real queue_log lines are a few hundred bytes."""
    queue_map: dict[str, str] = field(default_factory=dict)
    """Asterisk queue name -> ccpulse queue (unlisted names are used as they are)."""


def _default_activities() -> dict[str, AgentStateName]:
    return {
        "Available": "available",
        "Idle": "available",
        "Offline": "logged_out",
        "Unavailable": "not_ready",
        "Break": "not_ready",
        "Busy": "on_call",
        "WrapUp": "wrap_up",
        "Wrap-Up": "wrap_up",
    }


class TwilioSourceConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Twilio TaskRouter Workspace event callbacks."""

    auth_token: str | None = None
    """The account's Auth Token: the key of X-Twilio-Signature (HMAC-SHA1)."""
    public_url: str | None = None
    """The EventCallbackUrl exactly as configured in Twilio (scheme, host, path, query), when a
    proxy in front of ccpulse changes what the service sees; else the request's own URL."""
    queue_map: dict[str, str] = field(default_factory=dict)
    """TaskQueue friendly name or TaskQueue SID -> ccpulse queue."""
    default_queue: str | None = None
    """Queue for worker events whose worker names no queue (see ``worker_queues_attribute``)."""
    worker_queues_attribute: str = "queues"
    """The WorkerAttributes key listing the queues a worker serves (a name or a list)."""
    activity_states: dict[str, AgentStateName] = field(default_factory=_default_activities)
    """Worker Activity friendly name -> agent state; an unlisted activity is ``not_ready``."""
    timeout_reasons: list[str] = field(default_factory=lambda: ["timeout", "ttl"])
    """A canceled task whose reason contains one of these words (case-insensitive) left the
    queue by timeout (``call.exited``); any other cancel is an abandon."""
    callback_reasons: list[str] = field(default_factory=lambda: ["callback"])
    """A canceled task whose reason contains one of these words (case-insensitive) left the
    queue because the caller asked to be called back (``call.callback_requested``)."""
    callback_attribute: str = "callback_for"
    """The TaskAttributes key of a callback task naming the TaskSid of the call it calls back:
    such a task is the callback (tries and completion), not a new entry."""
    channel_map: dict[str, str] = field(default_factory=lambda: {"default": "voice"})
    """TaskChannel unique name -> ccpulse channel (docs/kpis.md#channels); an unlisted one is
    its unique name, lower-cased. Twilio's catch-all ``default`` channel counts as voice."""


class ZendeskSourceConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Zendesk webhooks (ticket event subscriptions, and a satisfaction trigger)."""

    signing_secret: str | None = None
    """The webhook's signing secret (X-Zendesk-Webhook-Signature, HMAC-SHA256)."""
    max_skew_seconds: Annotated[float, Meta(ge=0)] = 300.0
    """Refuse a signature timestamp further than this from the clock (0 = do not check): a
    captured request replayed later is refused (401 ``stale_timestamp``)."""
    group_queues: dict[str, str] = field(default_factory=dict)
    """Zendesk group id or name -> ccpulse queue."""
    default_queue: str | None = None
    """Queue of a ticket with no group or an unlisted one (else ``zendesk-group-<id>``)."""


def _done() -> list[str]:
    return ["Resolved", "Done", "Canceled", "Cancelled", "Declined", "Completed"]


def _pending() -> list[str]:
    return ["Waiting for customer", "Pending"]


class JiraSourceConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Jira Service Management webhooks (issue created / updated, comment created)."""

    secret: str | None = None
    """The webhook's secret: X-Hub-Signature ``sha256=<hex HMAC of the body>``."""
    token: str | None = None
    """Alternatively a shared token, sent by the sender in ``token_header``."""
    token_header: str = "X-Ccpulse-Token"
    request_type_queues: dict[str, str] = field(default_factory=dict)
    """Request type name -> ccpulse queue (checked first)."""
    project_queues: dict[str, str] = field(default_factory=dict)
    """Project key -> ccpulse queue (else the project key itself)."""
    request_type_field: str = "customfield_10010"
    """The JSM "Customer Request Type" field of the issue."""
    solved_statuses: list[str] = field(default_factory=_done)
    """Status names that solve the request (a status in the *done* category also does)."""
    closed_statuses: list[str] = field(default_factory=lambda: ["Closed"])
    pending_statuses: list[str] = field(default_factory=_pending)


class WebhooksConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``ccpulse ingest webhooks``: the HTTP service."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8088
    buffer_capacity: Annotated[int, Meta(ge=1)] = 10000
    """Payloads accepted but not yet acknowledged by Kafka; beyond it requests get 503."""
    respond_after: Literal["buffered", "acked"] = "buffered"
    """``buffered``: answer as soon as the payload is in the buffer (fast, survives a slow
    broker; a crash loses what is buffered). ``acked``: answer after Kafka acknowledged it, or
    503 after ``ack_timeout_seconds`` so the vendor retries."""
    ack_timeout_seconds: Positive = 8.0
    drain_timeout_seconds: Positive = 20.0
    """On shutdown, how long to keep producing what is buffered."""
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 1024 * 1024


class SourcesConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    asterisk: AsteriskSourceConfig = field(default_factory=AsteriskSourceConfig)
    twilio: TwilioSourceConfig = field(default_factory=TwilioSourceConfig)
    zendesk: ZendeskSourceConfig = field(default_factory=ZendeskSourceConfig)
    jira: JiraSourceConfig = field(default_factory=JiraSourceConfig)
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
