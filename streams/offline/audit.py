"""``ccpulse audit``'s comparison: each worker's live KPIs against a replay of the same events.

The worker and ``ccpulse replay`` share the engine (:class:`processors.engine.KpiEngine`), so for
the same events at the same instant they must give the same numbers, field for field. This
module holds that comparison once, for the operator's command (streams/commands/audit.py) and
for the tests that prove the promise (tests/cluster.py, tests/test_worker_integration.py...).

A worker answers ``/api/kpis`` at its own clock second (``at``), so each worker's queues are
compared with a replay at that worker's ``at``. Each queue must be exported by exactly one
worker: a queue on two workers, or a queue that replay has and no worker exports, is a
difference too.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from processors.settings import EngineSettings
from streams.offline.replay import replay_events, replay_settings

__all__ = [
    "DIFFERS",
    "EQUAL",
    "ONLY_REPLAY",
    "ONLY_WORKER",
    "TWO_WORKERS",
    "AuditResult",
    "FieldResult",
    "WorkerError",
    "WorkerReport",
    "audit",
    "compare_fields",
    "differences",
    "fetch_kpis",
    "file_events",
    "merge_owned",
    "read_workers",
    "replay_document",
    "same_second",
]

EQUAL = "equal"
DIFFERS = "differs"
ONLY_WORKER = "only in worker"
ONLY_REPLAY = "only in replay"
TWO_WORKERS = "exported by two workers"


# --- comparing two documents -------------------------------------------------------------------


def compare_fields(
    live: dict[str, Any], replayed: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any, Any, str]]:
    """Every leaf of the two documents as (path, live, replayed, status), in key order.

    Floats are equal to 1e-9 (relative or absolute): the engine computes the same sums in the
    same order, so anything beyond rounding noise is a real difference. A key on one side only
    is one entry (its whole subtree), not one per leaf.
    """
    for key in sorted(set(live) | set(replayed)):
        where = (*path, str(key))
        if key not in live or key not in replayed:
            status = ONLY_REPLAY if key not in live else ONLY_WORKER
            yield where, live.get(key), replayed.get(key), status
            continue
        a, b = live[key], replayed[key]
        if isinstance(a, dict) and isinstance(b, dict):
            yield from compare_fields(a, b, where)
        elif isinstance(a, float) or isinstance(b, float):
            same = a is not None and b is not None and _close(a, b)
            yield where, a, b, EQUAL if same else DIFFERS
        else:
            yield where, a, b, EQUAL if a == b else DIFFERS


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def differences(live: dict[str, Any], replayed: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field where the two documents differ, one line each (the tests' failure message)."""
    start = tuple(prefix.split(".")) if prefix else ()
    problems: list[str] = []
    for path, a, b, status in compare_fields(live, replayed, start):
        where = ".".join(path)
        if status in (ONLY_REPLAY, ONLY_WORKER):
            problems.append(f"{where}: {status}")
        elif status != EQUAL:
            problems.append(f"{where}: worker {a!r} != replay {b!r}")
    return problems


# --- replaying ---------------------------------------------------------------------------------


def replay_document(
    events: Sequence[Any], at: int, windows: Iterable[str], settings: EngineSettings
) -> dict[str, Any]:
    """{queue: {"live": {...}, "windows": {label: {...}}}} as ``ccpulse replay`` computes it at
    ``at``, one replay per window (as ``ccpulse replay --window`` does), for the same shape as a
    worker's ``/api/kpis`` queues (with ``channels`` for a queue of two channels or more)."""
    queues: dict[str, Any] = {}
    for window in windows:
        result = replay_events(events, replay_settings(settings, window), at, window)
        for queue, snap in result.snapshots.items():
            entry = queues.setdefault(
                queue, {"live": msgspec.to_builtins(snap.live), "windows": {}}
            )
            entry["windows"][window] = msgspec.to_builtins(snap.windows[window])
            for channel, windows in snap.channels.items():
                entry.setdefault("channels", {}).setdefault(channel, {})[window] = windows[window]
    return queues


def file_events(path: Path | str) -> list[Any]:
    """A ccpulse-jsonl file's events (and parse problems, which replay sets aside)."""
    from streams.sources import FORMATS

    return list(FORMATS["ccpulse-jsonl"](str(path)))


# --- reading the workers -----------------------------------------------------------------------


class WorkerError(Exception):
    """A worker that did not answer ``/api/kpis`` with a KPI document."""


def fetch_kpis(url: str, timeout: float = 10.0) -> dict[str, Any]:
    """``GET {url}/api/kpis``; :class:`WorkerError` says why when there is no document."""
    address = url.rstrip("/") + "/api/kpis"
    try:
        with urllib.request.urlopen(address, timeout=timeout) as response:
            document = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise WorkerError(f"{address} answered HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WorkerError(f"cannot read {address}: {reason}") from exc
    if not isinstance(document, dict) or "at" not in document or "queues" not in document:
        raise WorkerError(f"{address} is not a ccpulse worker's KPI document")
    return document


Round = list[tuple[Any, dict[str, Any]]]
"""One reading of every worker: [(worker name, its /api/kpis document)]."""


def same_second(read_round: Callable[[], Round], attempts: int) -> tuple[Round, bool]:
    """Read every worker until all answer within one engine second, at most ``attempts`` times.

    Returns the round and whether it is one second; after ``attempts`` the last round (whose
    workers are then each compared at their own ``at``).
    """
    documents: Round = []
    for _ in range(max(attempts, 1)):
        documents = read_round()
        if len({int(doc["at"]) for _, doc in documents}) == 1:
            return documents, True
    return documents, False


def merge_owned(documents: Round) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """({queue: kpis} taking each queue from the first worker exporting it, {queue: [names of
    the workers exporting it]}); more than one name is a queue exported twice."""
    merged: dict[str, Any] = {}
    owners: dict[str, list[Any]] = {}
    for name, doc in documents:
        for queue, kpis in doc["queues"].items():
            merged.setdefault(queue, kpis)
            owners.setdefault(queue, []).append(name)
    return merged, owners


@dataclass(frozen=True)
class WorkerReport:
    """One worker's answer: where it was read, its app id, its second and its queues."""

    url: str
    at: int
    app_id: str | None
    ready: bool
    queues: dict[str, Any]

    @classmethod
    def from_document(cls, url: str, document: dict[str, Any]) -> WorkerReport:
        return cls(
            url=url,
            at=int(document["at"]),
            app_id=document.get("worker"),
            ready=bool(document.get("ready", True)),
            queues=dict(document["queues"]),
        )


def read_workers(
    urls: Sequence[str], attempts: int = 5, timeout: float = 10.0
) -> tuple[list[WorkerReport], bool]:
    """Every worker's report, from one round at one second if ``attempts`` rounds allow."""
    documents, one_second = same_second(
        lambda: [(url, fetch_kpis(url, timeout)) for url in urls], attempts
    )
    return [WorkerReport.from_document(url, doc) for url, doc in documents], one_second


# --- the audit ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldResult:
    """One compared KPI of one queue (``kpi`` empty for a whole-queue finding)."""

    queue: str
    kpi: str
    worker: str | None
    live: Any
    replayed: Any
    status: str

    @property
    def difference(self) -> float | None:
        """live - replayed when both are numbers, else None."""
        numbers = (int, float)
        a, b = self.live, self.replayed
        if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool):
            return a - b
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "kpi": self.kpi,
            "worker": self.worker,
            "live": self.live,
            "replayed": self.replayed,
            "difference": self.difference,
            "status": self.status,
        }


@dataclass
class AuditResult:
    fields: list[FieldResult] = field(default_factory=list)
    queues: set[str] = field(default_factory=set)

    @property
    def differences(self) -> list[FieldResult]:
        return [f for f in self.fields if f.status != EQUAL]

    @property
    def compared(self) -> int:
        """Fields compared value against value (whole-queue findings not counted)."""
        return sum(1 for f in self.fields if f.status in (EQUAL, DIFFERS))


def audit(
    reports: Sequence[WorkerReport], events: Sequence[Any], settings: EngineSettings
) -> AuditResult:
    """Compare every worker's queues with the replay of ``events`` at that worker's ``at``.

    The windows compared are the configured ones (``settings.windows``): the audit must run
    with the workers' configuration file. A queue exported by two workers is reported once as
    such, and each copy is still compared (it shows which one is right).
    """
    replays: dict[int, dict[str, Any]] = {}

    def replayed_at(at: int) -> dict[str, Any]:
        if at not in replays:
            replays[at] = replay_document(events, at, settings.windows, settings)
        return replays[at]

    result = AuditResult()
    owners: dict[str, list[str]] = {}
    for report in reports:
        replayed = replayed_at(report.at)
        for queue, live in sorted(report.queues.items()):
            owners.setdefault(queue, []).append(report.url)
            result.queues.add(queue)
            if queue not in replayed:
                result.fields.append(FieldResult(queue, "", report.url, live, None, ONLY_WORKER))
                continue
            for path, a, b, status in compare_fields(live, replayed[queue]):
                kpi = ".".join(path)
                result.fields.append(FieldResult(queue, kpi, report.url, a, b, status))
    for queue, urls in sorted(owners.items()):
        if len(urls) > 1:
            result.fields.append(FieldResult(queue, "", ", ".join(urls), None, None, TWO_WORKERS))
    for at in sorted(replays):
        for queue, replayed in sorted(replays[at].items()):
            if queue not in owners:
                owners[queue] = []
                result.queues.add(queue)
                result.fields.append(FieldResult(queue, "", None, None, replayed, ONLY_REPLAY))
    return result


def iso(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
