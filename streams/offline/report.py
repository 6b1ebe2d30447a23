"""``ccpulse report``'s inputs and outputs: interval records from ``ccpulse.intervals`` or
recomputed from events, and rows as CSV, JSON or a table.

Both inputs give the same records for the same events: :func:`replay_intervals` runs the
worker's engine and interval tracker (processors/intervals.py) over the events in order, and
keeps the last record per key, as compaction keeps the last record the workers published.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from processors.engine import KpiEngine
from processors.events import Event, TicketMovedIn
from processors.intervals import IntervalCounters, IntervalTracker, iso, parse_record
from processors.reports import ReportRow
from processors.settings import EngineSettings, SlVariant
from streams.offline.topic_reader import records_to_end

__all__ = [
    "read_intervals",
    "records_of",
    "render",
    "replay_intervals",
]

REPLAY_CHUNK = 5_000
"""Events applied between two looks at the closed intervals (the worker: one batch)."""


def replay_intervals(
    events: Iterable[Event | Any], settings: EngineSettings, chunk: int = REPLAY_CHUNK
) -> dict[bytes, bytes]:
    """Key -> last record of every interval the events close, as the workers publish them."""
    engine = KpiEngine(settings)
    tracker = IntervalTracker(engine)
    out: dict[bytes, bytes] = {}
    pending: list[Event] = []

    def apply() -> None:
        result = engine.apply_all(pending)
        pending.clear()
        for interval in tracker.due(result.touched):
            out[interval.key] = interval.value
            tracker.confirmed(interval, engine.queues[interval.queue])

    kinds = Event.__args__  # type: ignore[attr-defined]
    for event in events:
        if not isinstance(event, kinds) or type(event) is TicketMovedIn:
            continue  # a parse problem; or derived (replay forwards moves itself)
        pending.append(event)
        if len(pending) >= chunk:
            apply()
    apply()
    return out


def read_intervals(
    topic: str,
    client: dict[str, Any],
    progress: Callable[[str], None] | None = None,
    progress_every: float = 2.0,
) -> dict[bytes, bytes]:
    """Key -> last value of every record of ``topic`` up to its end when the read starts (a
    tombstone removes its key); raises :class:`~streams.offline.topic_reader.TopicReadError`."""
    out: dict[bytes, bytes] = {}
    for _tp, record in records_to_end([topic], client, progress, progress_every):
        if record.value is None:
            out.pop(record.key, None)
        else:
            out[record.key] = record.value
    return out


def records_of(values: Iterable[bytes]) -> list[tuple[str, SlVariant, IntervalCounters]]:
    """The parsed records (processors/intervals.py :func:`parse_record`)."""
    return [parse_record(json.loads(value)) for value in values]


COLUMNS: tuple[str, ...] = (
    "entered",
    "answered",
    "abandoned",
    "short_abandoned",
    "other_exits",
    "abandon_rate",
    "asa_seconds",
    "service_level",
    "handled",
    "aht_seconds",
    "occupancy",
    "tickets_created",
    "tickets_solved",
    "first_reply_seconds",
    "csat",
    "nps",
    "fcr",
)
"""The KPIs of a CSV or table row (JSON has every window KPI)."""


def row_document(row: ReportRow) -> dict[str, Any]:
    return {
        "queue": row.queue,
        "interval_start": iso(row.start),
        "interval_end": iso(row.end),
        **msgspec.structs.asdict(row.kpis),
    }


def render(rows: list[ReportRow], fmt: str) -> str:
    """``rows`` as ``csv``, ``json`` (one array) or ``table``."""
    documents = [row_document(row) for row in rows]
    if fmt == "json":
        return json.dumps(documents, indent=1) + "\n"
    header = ["queue", "interval_start", "interval_end", *COLUMNS]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for document in documents:
            writer.writerow(["" if document[k] is None else document[k] for k in header])
        return buffer.getvalue()
    cells = [header] + [[_cell(document[k]) for k in header] for document in documents]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "".join(
        "  ".join(
            c.rjust(w) if i > 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        + "\n"
        for line in cells
    )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
