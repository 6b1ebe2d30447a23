"""Reading the configuration YAML so that every mistake names its line and field: ``${NAME}``
expansion, the line of a field's YAML node, msgspec's error paths split and dotted, and the
entries whose keys are user-chosen names (queues, calendars, receivers, rules) checked one by
one so that an error names the entry (streams/config.py raises the ConfigError)."""

from __future__ import annotations

import os
import re
from typing import Any

import msgspec
import yaml

from processors.alert_rules import AlertRule
from processors.event_fields import Channel
from processors.settings import Calendar, QueueSettings
from streams.alerting.config import Receiver

__all__ = [
    "PATH",
    "EntryError",
    "check_mapping_entries",
    "check_rule_entries",
    "error_path",
    "expand_env",
    "join_path",
    "line_of",
    "split_path",
]


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(value: Any, parts: list[str | int] | None = None) -> Any:
    """``${NAME}`` replaced by the environment variable; an unset one is an error at its field
    (an empty secret would silently disable a check or fail far from the cause)."""
    parts = parts or []
    if isinstance(value, str):

        def variable(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1))
            if found is None:
                reason = f"environment variable {match.group(1)} is not set"
                raise EntryError(parts, reason)
            return found

        return _ENV.sub(variable, value)
    if isinstance(value, dict):
        return {k: expand_env(v, [*parts, str(k)]) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, [*parts, i]) for i, v in enumerate(value)]
    return value


PATH = re.compile(r" - at `(?:key` in `)?\$(?P<path>[^`]*)`$")
CHANNEL_RULE = "a channel is lower-case letters, digits and _ (at most 32, starting with a letter)"


def split_path(path: str) -> list[str | int]:
    """``.engine.queues[0].x`` -> ['engine', 'queues', 0, 'x']."""
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return parts


def line_of(node: yaml.Node | None, parts: list[str | int]) -> int | None:
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


def error_path(exc: msgspec.ValidationError) -> tuple[list[str | int], str]:
    """The path msgspec's error names (with the unknown field, if that is the error) and its
    reason without the path."""
    message = str(exc)
    match = PATH.search(message)
    parts = split_path(match.group("path")) if match else []
    reason = message[: match.start()] if match else message
    unknown = re.match(r"Object contains unknown field `([^`]+)`", reason)
    if unknown:
        parts.append(unknown.group(1))
    return parts, reason


def join_path(parts: list[str | int]) -> str:
    return ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in parts).replace(".[", "[")


class EntryError(Exception):
    def __init__(self, parts: list[str | int], reason: str) -> None:
        self.parts, self.reason = parts, reason


# Mappings whose keys are user-chosen names. msgspec reports an error inside one as
# ``queues[...]``, losing the name, so their entries are checked one by one first.
_NAMED_ENTRIES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("engine", "queues"), QueueSettings),
    (("engine", "calendars"), Calendar),
    (("notify", "receivers"), Receiver),
)


def check_mapping_entries(data: Any) -> None:
    _check_channel_thresholds(data)
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
                inner, reason = error_path(exc)
                raise EntryError([*path, str(name), *inner], reason) from None


def _check_channel_thresholds(data: Any) -> None:
    """Each ``sl_threshold_by_channel`` entry alone (of the defaults and of each queue), so an
    error names the channel and its line: msgspec names neither a bad key nor a dict entry."""
    engine = data.get("engine") if isinstance(data, dict) else None
    if not isinstance(engine, dict):
        return
    settings: list[tuple[list[str | int], Any]] = [(["engine", "defaults"], engine.get("defaults"))]
    queues = engine.get("queues")
    if isinstance(queues, dict):
        settings += [(["engine", "queues", str(name)], value) for name, value in queues.items()]
    for path, entry in settings:
        table = entry.get("sl_threshold_by_channel") if isinstance(entry, dict) else None
        if not isinstance(table, dict):
            continue
        for channel, seconds in table.items():
            where = [*path, "sl_threshold_by_channel", str(channel)]
            try:
                msgspec.convert(channel, Channel)
            except msgspec.ValidationError:
                raise EntryError(where, f"{CHANNEL_RULE}, not {str(channel)[:40]!r}") from None
            try:
                msgspec.convert({"sl_threshold_by_channel": {channel: seconds}}, QueueSettings)
            except msgspec.ValidationError as exc:
                raise EntryError(where, error_path(exc)[1]) from None


def check_rule_entries(data: Any) -> None:
    """Type-check each rule alone, so a type error names the rule, not only its index."""
    alerts = data.get("alerts") if isinstance(data, dict) else None
    rules = alerts.get("rules") if isinstance(alerts, dict) else None
    if not isinstance(rules, list):
        return
    for index, entry in enumerate(rules):
        try:
            msgspec.convert(entry, AlertRule)
        except msgspec.ValidationError as exc:
            inner, reason = error_path(exc)
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"rule {name!r}: " if isinstance(name, str) else ""
            raise EntryError(["alerts", "rules", index, *inner], label + reason) from None
