"""The one ccpulse configuration file: YAML, validated, with defaults that work out of the box.

``load_config(path)`` returns a :class:`Config`; any mistake raises :class:`ConfigError` naming the
file, the line and the field (``ccpulse.yaml:12: engine.defaults.sl_variant: Invalid enum value
'fast'``), so a bad file fails at start, never half-way through a shift. ``${NAME}`` in a string
value is replaced by the environment variable NAME, so secrets stay out of the file.

Sections: ``kafka`` (connection), ``topics``, ``worker`` and ``engine`` (windows, lateness,
per-queue KPI settings: processors.settings). A module that needs a section of its own adds its
typed struct as a field of :class:`Config`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml
from msgspec import Meta, Struct, field

from processors.alert_rules import AlertRule, RuleError, default_rules, merge_rules, validate_rules
from processors.calendars import parse_range
from processors.settings import HOURS_RANGE, Calendar, EngineSettings, QueueSettings, parse_window
from streams.alerting.config import NotifyConfig, Receiver
from streams.sources.settings import SourcesConfig
from streams.worker.codec import MAX_EVENT_BYTES
from streams.worker.deadletter import DEADLETTER_ORIGINAL_BYTES

__all__ = [
    "AccessConfig",
    "AccessToken",
    "AlertsConfig",
    "Config",
    "ConfigError",
    "KafkaConfig",
    "MetricsConfig",
    "PrivacyConfig",
    "TopicsConfig",
    "WorkerConfig",
    "config_from_env",
    "load_config",
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
    stopped_partition_seconds: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    """How long Faust may hand over none of a partition's records, with the partition behind
    its highwater, before the worker reads them straight from Kafka itself. Longer than
    ``stalled_partition_seconds``: with a backlog, a busy worker's fetcher leaves partitions
    waiting for many seconds (streams/worker/stalls.py)."""

    def consumer_fetch_wait_ms(self) -> int:
        """The fetch wait the worker's consumer uses (see ``fetch_max_wait_ms``)."""
        if self.fetch_max_wait_ms is not None:
            return self.fetch_max_wait_ms
        return KAFKA_FETCH_WAIT_MS


class AlertsConfig(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Alert rules evaluated in the worker (docs/alerts.md; processors/alert_rules.py)."""

    enabled: bool = True
    use_default_rules: bool = True
    """Start from processors.alert_rules.default_rules(); an own rule of the same name replaces
    the default one."""
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


class Config(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    worker: WorkerConfig = field(default_factory=WorkerConfig)
    engine: EngineSettings = field(default_factory=EngineSettings)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    access: AccessConfig = field(default_factory=AccessConfig)


class ConfigError(ValueError):
    """A configuration mistake, with the file, line and field that caused it."""

    def __init__(self, source: str, line: int | None, path: str, reason: str) -> None:
        self.source, self.line, self.path, self.reason = source, line, path, reason
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {path or '(top level)'}: {reason}")


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand_env(value: Any, parts: list[str | int] | None = None) -> Any:
    """``${NAME}`` replaced by the environment variable; an unset one is an error at its field
    (an empty secret would silently disable a check or fail far from the cause)."""
    parts = parts or []
    if isinstance(value, str):

        def variable(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1))
            if found is None:
                reason = f"environment variable {match.group(1)} is not set"
                raise _EntryError(parts, reason)
            return found

        return _ENV.sub(variable, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, [*parts, str(k)]) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, [*parts, i]) for i, v in enumerate(value)]
    return value


_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _split_path(path: str) -> list[str | int]:
    """``.engine.queues[0].x`` -> ['engine', 'queues', 0, 'x']."""
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return parts


def _line_of(node: yaml.Node | None, parts: list[str | int]) -> int | None:
    """The 1-based line of the YAML node at ``parts`` (or of its deepest existing parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    node, line = value, key.start_mark.line + 1
                    break
            else:
                return line
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _dotted(parts: list[str | int]) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in parts).replace(".[", "[")


class _EntryError(Exception):
    def __init__(self, parts: list[str | int], reason: str) -> None:
        self.parts, self.reason = parts, reason


# Mappings whose keys are user-chosen names. msgspec reports an error inside one as
# ``queues[...]``, losing the name, so their entries are checked one by one first.
_NAMED_ENTRIES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("engine", "queues"), QueueSettings),
    (("engine", "calendars"), Calendar),
    (("notify", "receivers"), Receiver),
)


def _check_mapping_entries(data: Any) -> None:
    for path, entry_type in _NAMED_ENTRIES:
        node = data
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        for name, value in node.items():
            try:
                msgspec.convert(value, entry_type)
            except msgspec.ValidationError as exc:
                match = _PATH.search(str(exc))
                inner = _split_path(match.group("path")) if match else []
                reason = str(exc)[: match.start()] if match else str(exc)
                unknown = re.match(r"Object contains unknown field `([^`]+)`", reason)
                if unknown:
                    inner.append(unknown.group(1))
                raise _EntryError([*path, str(name), *inner], reason) from None


def _validate_semantics(config: Config) -> tuple[str, str] | None:
    """Checks that types cannot express; returns (path, reason) of the first problem."""
    for index, label in enumerate(config.engine.windows):
        try:
            parse_window(label)
        except ValueError as exc:
            return f"engine.windows[{index}]", str(exc)
    try:
        if parse_window(config.engine.staffing_window) is None:
            return "engine.staffing_window", "must be a rolling window (e.g. 15m), not 'today'"
    except ValueError as exc:
        return "engine.staffing_window", str(exc)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    queues = {"defaults": config.engine.defaults} | {
        f"queues.{name}": q for name, q in config.engine.queues.items()
    }
    for where, settings in queues.items():
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"engine.{where}.timezone", f"unknown time zone {settings.timezone!r}"
        if settings.calendar is not None and settings.calendar not in config.engine.calendars:
            known = ", ".join(sorted(config.engine.calendars)) or "none defined"
            return f"engine.{where}.calendar", (
                f"no calendar {settings.calendar!r} in engine.calendars ({known})"
            )
    for name, calendar in config.engine.calendars.items():
        problem = _calendar_problem(calendar)
        if problem is not None:
            return f"engine.calendars.{name}.{problem[0]}", problem[1]
    return _validate_alerts(config)


def _calendar_problem(calendar: Calendar) -> tuple[str, str] | None:
    """(field, reason) of what the types cannot check in a calendar: its zone, each range's
    order, each holiday's date."""
    from datetime import date
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "timezone", f"unknown time zone {calendar.timezone!r}"
    for day, ranges in calendar.hours.items():
        for index, text in enumerate(ranges):
            if not re.match(HOURS_RANGE, text):
                return f"hours.{day}[{index}]", f"not a range of hours: {text!r} (HH:MM-HH:MM)"
            start, end = parse_range(text)
            if start >= end:
                return f"hours.{day}[{index}]", f"{text!r} ends before it starts"
    for index, text in enumerate(calendar.holidays):
        try:
            date.fromisoformat(text)
        except ValueError:
            return f"holidays[{index}]", f"not a date: {text!r} (YYYY-MM-DD)"
    return None


def _validate_alerts(config: Config) -> tuple[str, str] | None:
    """Rules name the rule in the reason; a default rule that does not fit the engine (its
    window is not kept) is reported against ``alerts.use_default_rules``."""
    alerts = config.alerts
    defaults = {rule.name for rule in default_rules()} if alerts.use_default_rules else set()
    for index, name in enumerate(alerts.disable):
        if name not in defaults:
            known = ", ".join(sorted(defaults)) or "none: use_default_rules is false"
            return f"alerts.disable[{index}]", f"no default rule {name!r} (defaults: {known})"
    rules = alerts.effective_rules()
    try:
        validate_rules(rules, config.engine.windows)
    except RuleError as exc:
        own = [i for i, rule in enumerate(alerts.rules) if rule.name == exc.rule]
        if own:
            return f"alerts.rules[{own[-1]}].{exc.field}", f"rule {exc.rule!r}: {exc.reason}"
        return "alerts.use_default_rules", (
            f"default rule {exc.rule!r}: {exc.reason} (override or disable it)"
        )
    return None


def _check_rule_entries(data: Any) -> None:
    """Type-check each rule alone, so a type error names the rule, not only its index."""
    alerts = data.get("alerts") if isinstance(data, dict) else None
    rules = alerts.get("rules") if isinstance(alerts, dict) else None
    if not isinstance(rules, list):
        return
    for index, entry in enumerate(rules):
        try:
            msgspec.convert(entry, AlertRule)
        except msgspec.ValidationError as exc:
            match = _PATH.search(str(exc))
            inner = _split_path(match.group("path")) if match else []
            reason = str(exc)[: match.start()] if match else str(exc)
            unknown = re.match(r"Object contains unknown field `([^`]+)`", reason)
            if unknown:
                inner.append(unknown.group(1))
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"rule {name!r}: " if isinstance(name, str) else ""
            raise _EntryError(["alerts", "rules", index, *inner], label + reason) from None


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the configuration; ``None`` gives the built-in defaults."""
    if path is None:
        return Config()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, None, "", f"cannot read: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(
            source, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}"
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(source, 1, "", "the file must hold a mapping of sections")
    try:
        data = _expand_env(data)
        _check_mapping_entries(data)
        _check_rule_entries(data)
        config = msgspec.convert(data, Config)
    except _EntryError as exc:
        raise ConfigError(
            source, _line_of(root, exc.parts), _dotted(exc.parts), exc.reason
        ) from None
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _PATH.search(message)
        dotted = match.group("path") if match else ""
        reason = message[: match.start()] if match else message
        parts = _split_path(dotted)
        unknown = re.match(r"Object contains unknown field `([^`]+)`", reason)
        if unknown:
            parts.append(unknown.group(1))
        raise ConfigError(source, _line_of(root, parts), _dotted(parts), reason) from None
    problem = _validate_semantics(config) or config.notify.problem()
    if problem:
        dotted_path, reason = problem
        raise ConfigError(
            source, _line_of(root, _split_path("." + dotted_path)), dotted_path, reason
        )
    return config


def config_from_env(path: str | None = None) -> Config:
    """``path``, else ``$CCPULSE_CONFIG``, else the defaults."""
    return load_config(path or os.environ.get("CCPULSE_CONFIG") or None)
