"""``GET /api/intervals?queue=Q&from=&to=[&format=csv]``: a queue's 15-minute intervals.

The rows of ``ccpulse report --interval 15m`` for one owned queue, computed from the worker's
own state (the quarters it still keeps: today's and more), the current interval included as it
stands. ``from`` and ``to`` are dates or ISO instants (default: the queue's local midnight to
now); ``format=csv`` answers the CSV download of the wallboard's "today by interval" table.
"""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import faust

from processors.calendars import local_midnight
from processors.intervals import INTERVAL_SECONDS, IntervalCounters, KpiChoices
from processors.reports import ReportRow, parse_instant
from streams.offline.report import render
from streams.views.access import access_of
from streams.views.worker_view import WorkerView

__all__ = ["interval_rows", "register_interval_views"]


def interval_rows(runtime: WorkerView, queue: str, first: int, end: int) -> list[ReportRow]:
    """The 15-minute rows of ``queue`` from ``first`` to ``end`` (up to its "now")."""
    engine = runtime.engine
    settings = engine.settings.for_queue(queue)
    now = math.floor(runtime.clock(queue))
    kept = engine.retained_from(queue) or now
    first = max(first - first % INTERVAL_SECONDS, kept + (-kept) % INTERVAL_SECONDS)
    stop = min(end, now + 1)
    if first >= stop:
        return []
    bounds = [*range(first, stop, INTERVAL_SECONDS), stop]
    rows = []
    for start, end_, (counters, busy, available) in zip(
        bounds[:-1], bounds[1:], engine.span_counters(queue, bounds), strict=True
    ):
        span = IntervalCounters(start, end_ - start, tuple(counters), busy, available)
        rows.append(ReportRow(queue, start, end_, span, span.kpis(KpiChoices.of(settings))))
    return rows


def register_interval_views(app: faust.App, runtime: WorkerView) -> None:
    access = access_of(runtime)

    @app.page("/api/intervals")
    async def intervals(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        query = request.query
        queue = query.get("queue") or ""
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        if not grant.may("read", queue):
            return access.refused(self, request, "may not read this queue", 403)
        if queue not in runtime.engine.queues:
            return self.json({"error": f"queue {queue!r} is not owned by this worker"}, status=404)
        zone = ZoneInfo(runtime.engine.settings.for_queue(queue).timezone)
        now = math.floor(runtime.clock(queue))
        try:
            first = parse_instant(query["from"], zone) if query.get("from") else None
            end = parse_instant(query["to"], zone, end_of_day=True) if query.get("to") else None
        except ValueError as exc:
            return self.json({"error": f"bad from/to: {exc}"}, status=400)
        rows = interval_rows(
            runtime,
            queue,
            local_midnight(now, zone.key) if first is None else first,
            now + 1 if end is None else end,
        )
        if query.get("format") == "csv":
            return self.bytes(
                render(rows, "csv").encode(),
                content_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{queue}-intervals.csv"'},
            )
        return self.bytes(render(rows, "json").encode(), content_type="application/json")

    del intervals
