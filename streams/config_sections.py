"""The sections of the configuration file besides ``engine`` (processors/settings.py),
``notify`` (streams/alerting/config.py) and ``sources`` (streams/sources/settings.py): ``kafka``,
``topics``, ``worker``, ``alerts``, ``privacy``, ``metrics`` and ``access``, each a typed struct
with working defaults (docs/configuration.md). :class:`streams.config.Config` holds them."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct, field

from processors.alert_rules import AlertRule, merge_rules
from processors.default_alert_rules import default_rules
from streams.worker.codec import MAX_EVENT_BYTES
from streams.worker.deadletter import DEADLETTER_ORIGINAL_BYTES

__all__ = [
    "EMBEDDED_FETCH_WAIT_MS",
    "KAFKA_FETCH_WAIT_MS",
    "AccessConfig",
    "AccessToken",
    "AlertsConfig",
    "KafkaConfig",
    "MetricsConfig",
    "PrivacyConfig",
    "TopicsConfig",
    "WorkerConfig",
]


class KafkaConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How to reach the brokers. Secrets can be given as ``${ENV_VAR}``."""

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    username: str | None = None
    password: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None


class TopicsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Topic names and sizes. Telephony and ticketing must have the same partition count: both
    are keyed by queue, and one worker owns all of a queue's state."""

    telephony: str = "ccpulse.telephony"
    ticketing: str = "ccpulse.ticketing"
    alerts: str = "ccpulse.alerts"
    deadletter: str = "ccpulse.deadletter"
    silences: str = "ccpulse.silences"
    """Compacted: the cluster's silences and acknowledgements (streams/alerting/silences.py)."""
    intervals: str = "ccpulse.intervals"
    """Closed 15-minute intervals per queue (compacted; docs/reports.md)."""
    partitions: int = 8
    replication_factor: int = 1


KAFKA_FETCH_WAIT_MS = 1500
"""Faust's hard-coded consumer fetch wait: the default on Apache Kafka."""
EMBEDDED_FETCH_WAIT_MS = 100
"""The fetch wait `make bench` measures the embedded broker with (opt-in for a worker)."""


class WorkerConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    app_id: str = "ccpulse"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    batch_max_events: int = 5000
    batch_within_seconds: Annotated[float, Meta(ge=0, le=3600)] = 0.0
    """Once events are fetched, how long to wait for more before applying fewer than
    ``batch_max_events``. Default 0: each fetch is applied as it arrives (under load a fetch
    is already large, and each batch writes one changelog record per source partition); a
    wait makes fewer, larger changelog writes at the cost of that much latency."""
    snapshot_interval_seconds: float = 30.0
    """How often each queue's full state is written to the changelog (between, only deltas)."""
    data_dir: str = "var/worker"
    api_token: str | None = None
    """Bearer token required by state-changing HTTP calls (ack, silence)."""
    max_body_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] = 64 * 1024
    """Largest request body a POST view reads; beyond it the answer is 413."""
    wallboard_max_streams: Annotated[int, Meta(ge=1)] = 50
    """Concurrent ``/api/kpis/stream`` connections served; one more gets 503 + Retry-After."""
    embedded_broker: bool = False
    """Set by ``ccpulse demo``: the broker is the embedded Tansu (see
    streams/broker/embedded.py)."""
    fetch_max_wait_ms: Annotated[int, Meta(ge=0, le=60_000)] | None = None
    """How long the source consumer lets the broker hold a fetch that has no data yet.
    Default (None): 1500 ms, Faust's own value. Apache Kafka answers as soon as data is there,
    so the wait costs nothing; the embedded broker (Tansu) tends to hold a fetch for the whole
    wait, which shows as seconds of freshness latency, and ``make bench`` measures it with 100 ms
    (docs/performance.md). Opt-in, not the embedded default: the fault tests saw a restarted
    worker on the embedded broker stop consuming once in several suite runs with 100 ms, cause
    not found. Applied by streams/faust_adapter/consumer.py."""
    gap_fill_warn_seconds: Annotated[float, Meta(gt=0, le=3600)] = 10.0
    """How long reading a gap in a partition's delivered offsets straight from Kafka may take
    before the worker warns; it keeps trying, and never applies a batch with a hole in it
    (streams/worker/gap_fill.py; docs/deploy.md#exact-counts-across-crashes)."""
    stalled_partition_seconds: Annotated[float, Meta(gt=0, le=3600)] = 5.0
    """How long a partition's next expected offset may stay below the last offset Faust's
    consumer handed over, with nothing applied, before the worker reads those records straight
    from Kafka; and how long Faust's committed offset may stay below what the agent applied
    before the worker acks the offsets in between (streams/worker/stalls.py)."""
    max_event_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = MAX_EVENT_BYTES
    """A source record longer than this is refused unread (dead letter, ``too_large``)."""
    deadletter_original_bytes: Annotated[int, Meta(ge=0, le=512 * 1024)] = DEADLETTER_ORIGINAL_BYTES
    """How much of a refused record its dead-letter record keeps (with its size and SHA-256).
    At most 512 kB: kept as base64 that is 683 kB, under Kafka's default 1 MB record limit."""
    session_timeout_seconds: Annotated[float, Meta(ge=6, le=1800)] | None = None
    """How long the broker waits for a worker's heartbeat before it gives the worker's
    partitions to the others (a crashed worker's queues are frozen that long). Default (None):
    30 s on Apache Kafka, 6 s on the embedded broker; heartbeats every sixth of it (3 s, 1 s).
    Apache Kafka refuses less than its ``group.min.session.timeout.ms`` (6 s by default). The
    crash tests set 6 s, so a SIGKILLed worker's partitions move in seconds, not in thirty."""
    stopped_partition_seconds: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    """How long Faust may hand over none of a partition's records, with the partition behind
    its highwater, before the worker reads them straight from Kafka itself. Longer than
    ``stalled_partition_seconds``: with a backlog, a busy worker's fetcher leaves partitions
    waiting for many seconds (streams/worker/stalls.py)."""

    recovery_stall_seconds: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    """How long a table recovery may read nothing (its remaining record count unchanged)
    before the worker starts it again, as a rebalance would (streams/faust_adapter/
    recovery_watch.py). Faust itself waits forever."""

    def consumer_session_timeout(self) -> float:
        """The consumer group session timeout in seconds (see ``session_timeout_seconds``)."""
        if self.session_timeout_seconds is not None:
            return self.session_timeout_seconds
        return 6.0 if self.embedded_broker else 30.0

    def consumer_fetch_wait_ms(self) -> int:
        """The fetch wait the worker's consumer uses (see ``fetch_max_wait_ms``)."""
        if self.fetch_max_wait_ms is not None:
            return self.fetch_max_wait_ms
        return KAFKA_FETCH_WAIT_MS


class AlertsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Alert rules evaluated in the worker (docs/alerts.md; processors/alert_rules.py)."""

    enabled: bool = True
    use_default_rules: bool = True
    """Start from processors.default_alert_rules.default_rules(); an own rule of the same name
    replaces the default one."""
    disable: list[str] = field(default_factory=list)
    """Names of default rules to drop."""
    rules: list[AlertRule] = field(default_factory=list)
    evaluate_interval_seconds: Annotated[float, Meta(gt=0)] = 1.0
    hold_while_behind_events: Annotated[int, Meta(ge=0)] = 20_000
    """No rule is evaluated while the worker's partitions hold more than this many events it
    has not applied yet (a backlog replayed after a restart or an outage: its "now" is the wall
    clock over a half-replayed state, with calls still waiting whose answers are not replayed
    yet). 0: always evaluate."""

    def effective_rules(self) -> list[AlertRule]:
        """The rules the worker evaluates: defaults (minus ``disable``) merged with ``rules``."""
        if not self.enabled:
            return []
        defaults = default_rules() if self.use_default_rules else []
        return merge_rules(defaults, self.rules, self.disable)


class PrivacyConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What the drill-down (``/api/queues/{queue}``, the wallboard's queue view) shows of a
    caller's number. The worker keeps the number in its state either way (to tell whether a
    caller who hung up got through later): this only governs what is shown."""

    caller_numbers: Literal["full", "masked", "hidden"] = "masked"
    visible_digits: Annotated[int, Meta(ge=0, le=16)] = 4
    """``masked`` keeps this many last characters (``*******4567``)."""


class MetricsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Optional Prometheus series."""

    per_agent: bool = False
    """Export per-agent series (``ccpulse_agent_*``, one per agent and queue). Off by default:
    a large centre has thousands of agents, each a set of series (cardinality)."""
    per_channel: bool = False
    """Export the contact KPIs per channel (``ccpulse_channel_window_*``) for queues of two
    channels or more: up to 25 series per channel and window (docs/kpis.md#channels). Off by
    default: with 1,000 queues of three channels it more than doubles the page, and ``make
    bench`` measured the scrape, the loop stalls and freshness getting worse. Off, /metrics has
    the channel totals only (``ccpulse_window_*``); ``/api/kpis``, ``ccpulse replay`` and the
    interval records keep the breakdown either way."""
    prepared_page_max_age_seconds: Annotated[float, Meta(ge=0, le=60)] = 3.0
    """A full scrape is answered with KPI families prepared ahead of it when their computing
    started at most this long before (streams/views/prepared_page.py): with 1,000 queues the
    scrape answers at once instead of after most of a second, its figures up to this old.
    0: every scrape computes its own, on arrival."""
    prepare_ahead_from_seconds: Annotated[float, Meta(ge=0, le=60)] = 0.25
    """Only a page that took at least this long to compute is prepared ahead; a quicker one is
    computed for each scrape, exact to the scrape (``make bench``: about 0.6 ms of CPU a queue)."""


Action = Literal["read", "ack", "silence", "admin"]


class AccessToken(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One bearer token (give it as ``${ENV_VAR}``), the queues it may see and what it may do
    there. ``admin`` may do everything on every queue."""

    name: str
    """Who holds it (in logs; never the token)."""
    token: Annotated[str, Meta(min_length=16)]
    queues: list[str] = field(default_factory=lambda: ["*"])
    """Shell-style patterns of queue names."""
    actions: list[Action] = field(default_factory=lambda: ["read"])


class AccessConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Who may see which queues and act on their alerts (streams/views/access.py). No tokens:
    today's behaviour (read open; ack and silence need ``worker.api_token``)."""

    tokens: list[AccessToken] = field(default_factory=list)
    metrics_token: str | None = None
    """Bearer token ``/metrics`` requires (None: open, for Prometheus on loopback)."""
