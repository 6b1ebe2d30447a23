"""HTTP views served by the worker on Faust's web server (default 127.0.0.1:6066).

``/metrics`` (Prometheus text), ``/api/kpis`` (JSON snapshots of the owned queues), ``/health``
(liveness: the process answers) and ``/ready`` (503 until table recovery has finished, so a
load balancer or Kubernetes never routes to a worker still rebuilding its state).
``/`` serves the built-in wallboard page and ``/api/kpis/stream`` its live updates
(:mod:`streams.views.wallboard`). ``/api/staffing?queue=Q&agents=N`` answers the staffing what-if
(:mod:`streams.views.staffing`).
"""

from __future__ import annotations

import time
from typing import Any

import faust
import msgspec
from aiohttp import web as aioweb
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.views.access import access_of
from streams.views.agent_metrics import AgentCollector
from streams.views.exposition import SLICE_SECONDS
from streams.views.prepared_page import PreparedPage
from streams.views.worker_view import WorkerView

__all__ = ["kpis_document", "register_views"]

CHUNK_BYTES = 1 << 20
"""A full page of 1,000 queues is 13 MB: handed to the socket whole, it was copied twice on the
loop at one go (the head joined to it, the headers joined to that) and held it for 17-28 ms.
Written a megabyte at a time, with the loop given back while the socket drains, no step of
it is long."""


async def send_in_chunks(
    request: Any, parts: list[bytes], content_type: str
) -> aioweb.StreamResponse:
    """Answer ``request`` with ``parts`` one after the other, ``CHUNK_BYTES`` at a time (with a
    Content-Length: Prometheus reads it as one body, not chunked)."""
    response = aioweb.StreamResponse(headers={"Content-Type": content_type})
    response.content_length = sum(len(part) for part in parts)
    await response.prepare(request)
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), CHUNK_BYTES):
            await response.write(view[start : start + CHUNK_BYTES])
    await response.write_eof()
    return response


def kpis_document(runtime: WorkerView, snapshots: dict[str, Any] | None = None) -> dict[str, Any]:
    """The /api/kpis body: ``{"at": ..., "at_iso": ..., "queues": {queue: snapshot}}``, of
    ``snapshots`` (default: the runtime's current ones). A queue that has seen two contact
    channels or more also has ``channels``: per channel, per window, its contact KPIs
    (docs/kpis.md#channels)."""
    if snapshots is None:
        snapshots = runtime.snapshots()
    at = max((s.at for s in snapshots.values()), default=float(int(runtime.clock())))
    return {
        "at": at,
        "at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "worker": runtime.config.worker.app_id,
        "ready": runtime.ready,
        "queues": {queue: _queue_kpis(snap) for queue, snap in snapshots.items()},
    }


def _queue_kpis(snap: Any) -> dict[str, Any]:
    document = {"live": snap.live, "windows": snap.windows}
    if snap.channels:
        document["channels"] = snap.channels
    return document


def register_views(app: faust.App, runtime: WorkerView) -> None:
    content_type, _, charset = CONTENT_TYPE_LATEST.partition("; charset=")
    access = access_of(runtime)
    # The agent families are per-queue data like the KPIs (a row per abandoned call today, so
    # 300 KB a page with 1,000 queues): written apart from the registry, so that a prepared
    # page holds them too and a scrape renders only the worker's own series.
    agents = AgentCollector(runtime)

    async def agent_families(names: list[str]) -> bytes:
        return await agents.text(SLICE_SECONDS, names)

    async def kpi_families() -> list[bytes]:
        page = runtime.kpi_page
        assert page is not None
        agent_text = await agent_families([])
        snapshots = await runtime.fresh_snapshots(channels=page.per_channel)
        return [agent_text, *await page.render_parts(snapshots, runtime.engine.queues)]

    settings = runtime.config.metrics
    prepared = PreparedPage(
        kpi_families,
        settings.prepared_page_max_age_seconds,
        runtime.registry,
        min_duration=settings.prepare_ahead_from_seconds,
    )
    runtime.prepared_page = prepared

    @app.page("/metrics")
    async def metrics(self: faust.web.View, request: Any) -> Any:
        if not access.metrics_allowed(request):
            return access.refused(self, request, "missing or wrong metrics token")
        # ``?name[]=family`` restricts the page to those families, as prometheus_client's own
        # handlers do: a probe or a federation of a few series skips rendering the rest.
        names = request.query.getall("name[]", [])
        registry = runtime.registry.restricted_registry(names) if names else runtime.registry
        page = runtime.kpi_page
        assert page is not None  # built with the runtime (streams/app.py)
        families = page.families(names)
        if families is None and prepared.max_age > 0:
            # A full scrape: the agent and KPI families prepared ahead of it when fresh enough
            # (streams/views/prepared_page.py); the worker's own series rendered now.
            kpis = await prepared.body()  # first: it counts this scrape in the head's series
            parts = [generate_latest(registry), *kpis]
        elif families == []:  # no KPI family asked for: no snapshot needed
            parts = [generate_latest(registry), await agent_families(names)]
        else:
            # Snapshots computed, then the page rendered, with the event loop given back now
            # and then (streams/worker/runtime.py, streams/views/exposition.py): a scrape of
            # 1,000 queues never holds up the batches, the producer or the timers for long.
            parts = [generate_latest(registry), await agent_families(names)]
            snapshots = await runtime.fresh_snapshots(channels=page.per_channel)
            parts.extend(await page.render_parts(snapshots, runtime.engine.queues, families))
        return await send_in_chunks(request, parts, CONTENT_TYPE_LATEST)

    @app.page("/api/kpis")
    async def kpis(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        snapshots = await runtime.fresh_snapshots(channels=True)
        snapshots = {q: snapshots[q] for q in grant.readable(snapshots)}
        return self.bytes(
            msgspec.json.encode(kpis_document(runtime, snapshots)), content_type="application/json"
        )

    @app.page("/health")
    async def health(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return self.json(
            {"status": "ok", "uptime_seconds": round(time.time() - runtime.started_at, 1)}
        )

    @app.page("/ready")
    async def ready(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        status = 200 if runtime.ready else 503
        return self.json({"ready": runtime.ready}, status=status)

    del metrics, kpis, health, ready, content_type, charset
    # GET /api/staffing?queue=Q&agents=N: the staffing what-if (streams/views/staffing.py).
    from streams.views.staffing import register_staffing_view

    register_staffing_view(app, runtime)
    # GET /api/queues/{queue} and /api/agents?queue=Q: the drill-down (streams/views/queues.py).
    from streams.views.queues import register_queue_views

    register_queue_views(app, runtime)
    from streams.views.wallboard import register_wallboard

    register_wallboard(app, runtime)
    from streams.views.intervals import register_interval_views

    register_interval_views(app, runtime)
