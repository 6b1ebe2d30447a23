"""Replay: the same KPI engine over a file of events, no broker involved.

The worker and replay share everything after decoding: :class:`processors.engine.KpiEngine`
applies the events and produces the snapshot, so for the same events they give the same numbers.
Replay applies, in file order, every event whose time is at or before ``at`` (what was known at
``at``), feeding tickets moved between queues back in as the worker's forwarding does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from processors.engine import KpiEngine
from processors.events import Event
from processors.settings import EngineSettings, QueueSettings, parse_window
from processors.snapshot import QueueSnapshot

__all__ = ["ReplayResult", "parse_at", "replay_events", "replay_settings"]


@dataclass
class ReplayResult:
    at: int
    window: str
    snapshots: dict[str, QueueSnapshot]
    problems: list[Any] = field(default_factory=list)
    events_read: int = 0
    events_after_at: int = 0

    def document(self) -> dict[str, Any]:
        """``{"at": ISO, "window": label, "queues": {queue: {live + window fields}}}``; a queue
        of two contact channels or more also has ``channels``: {channel: its contact KPIs}."""
        queues: dict[str, Any] = {}
        for name, snap in sorted(self.snapshots.items()):
            row: dict[str, Any] = msgspec.structs.asdict(snap.live)
            row.update(msgspec.structs.asdict(snap.windows[self.window]))
            if snap.channels:
                row["channels"] = {c: w[self.window] for c, w in snap.channels.items()}
            queues[name] = row
        return {
            "at": _iso(self.at),
            "window": self.window,
            "queues": queues,
        }


def _iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")


def parse_at(text: str) -> int:
    """An ISO 8601 instant (with offset, or ``Z``) -> whole POSIX seconds."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"--at needs a UTC offset or Z: {text!r}")
    return math.floor(value.timestamp())


def replay_settings(
    base: EngineSettings,
    window: str,
    *,
    sl_threshold: float | None = None,
    sl_variant: str | None = None,
    short_abandon: float | None = None,
    timezone: str | None = None,
) -> EngineSettings:
    """The configured settings with ``window`` as the only window and the flags applied to
    every queue (the flags say "compute it this way", so they win over per-queue values)."""
    parse_window(window)
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("sl_threshold_seconds", sl_threshold),
            ("sl_variant", sl_variant),
            ("short_abandon_seconds", short_abandon),
            ("timezone", timezone),
        )
        if value is not None
    }

    def apply(settings: QueueSettings) -> QueueSettings:
        return msgspec.structs.replace(settings, **changes) if changes else settings

    return msgspec.structs.replace(
        base,
        windows=[window],
        defaults=apply(base.defaults),
        queues={name: apply(q) for name, q in base.queues.items()},
    )


def replay_events(
    items: Iterable[Event | Any], settings: EngineSettings, at: int, window: str
) -> ReplayResult:
    """Apply ``items`` (events, or parse problems which are collected) and snapshot at ``at``."""
    engine = KpiEngine(settings)
    result = ReplayResult(at=at, window=window, snapshots={})

    def known_at(source: Iterable[Event | Any]) -> Iterator[Event]:
        for item in source:
            if not isinstance(item, Event.__args__):  # type: ignore[attr-defined]
                result.problems.append(item)
                continue
            result.events_read += 1
            if item.time.timestamp() >= at + 1:
                result.events_after_at += 1
                continue
            yield item

    engine.apply_all(known_at(items))
    result.snapshots = engine.snapshot(at)
    return result
