"""Compare a worker's /api/kpis document with `ccpulse replay` of the same events."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from processors.settings import EngineSettings
from streams.replay import replay_events, replay_settings
from streams.sources import FORMATS


def replay_document(
    path: Path, at: int, windows: Iterable[str], settings: EngineSettings
) -> dict[str, Any]:
    """{queue: {"live": {...}, "windows": {label: {...}}}} as replay computes it at ``at``."""
    queues: dict[str, Any] = {}
    for window in windows:
        result = replay_events(
            FORMATS["ccpulse-jsonl"](str(path)), replay_settings(settings, window), at, window
        )
        for queue, snap in result.snapshots.items():
            entry = queues.setdefault(
                queue, {"live": msgspec.to_builtins(snap.live), "windows": {}}
            )
            entry["windows"][window] = msgspec.to_builtins(snap.windows[window])
    return queues


def differences(live: dict[str, Any], replayed: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field where the two documents differ (floats compared to 1e-9 relative)."""
    problems: list[str] = []
    for key in sorted(set(live) | set(replayed)):
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in live or key not in replayed:
            problems.append(f"{where}: only in {'replay' if key not in live else 'worker'}")
            continue
        a, b = live[key], replayed[key]
        if isinstance(a, dict) and isinstance(b, dict):
            problems.extend(differences(a, b, where))
        elif isinstance(a, float) or isinstance(b, float):
            if a is None or b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                problems.append(f"{where}: worker {a!r} != replay {b!r}")
        elif a != b:
            problems.append(f"{where}: worker {a!r} != replay {b!r}")
    return problems
