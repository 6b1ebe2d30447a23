"""The built-in wallboard page, served by the worker at ``/`` (no Grafana needed).

One card per queue with the tiles of :data:`processors.wallboard.TILES`, coloured green / amber /
red by the alert rules' bands (:mod:`processors.thresholds`), and a strip of the alerts firing
now (``runtime.alerts.firing()``). The page is plain HTML, CSS and JavaScript shipped in this
package (no CDN, no build step, works offline).

Live updates use server-sent events: ``/api/kpis/stream`` is an aiohttp ``StreamResponse``
returned from a Faust view (Faust's web driver hands views the aiohttp request and passes a
prepared response through), sending the wallboard document whenever it changes (at most once a
second, engine time moves every second). The browser's ``EventSource`` reconnects by itself; the
server closes each stream after :data:`STREAM_SECONDS` so a forgotten tab never pins a
connection forever, and stops streaming as soon as the worker is stopping. ``/api/wallboard``
is the same document, once. Tile titles and units come from the KPI registry
(processors/kpis.py), and ``/api/kpi-registry`` serves the whole registry (name, title, unit,
direction, definition of every KPI) for other front ends.

A worker shows the queues it owns: with several workers, use the Grafana *Wallboard*.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import faust
import msgspec
from aiohttp import web as aioweb

from processors.alert_rules import AlertRule
from processors.default_alert_rules import default_rules
from processors.kpis import KPIS
from processors.wallboard import DETAIL_TILES, TileValue, queue_tiles
from streams.logs import log
from streams.views.access import COOKIE, Grant, access_of
from streams.views.request_body import read_body
from streams.views.wallboard.feed import WallboardFeed
from streams.views.worker_view import WorkerView

__all__ = [
    "STREAM_SECONDS",
    "detail_tiles",
    "firing_alerts",
    "register_wallboard",
    "wallboard_document",
]

logger = logging.getLogger("ccpulse.wallboard")

STREAM_SECONDS = 600.0
"""Each event stream ends after this long; EventSource reconnects (``retry`` 2 s)."""
PUSH_INTERVAL = 1.0
KEEPALIVE_SECONDS = 15.0

_STATIC = {
    "wallboard.css": "text/css",
    "wallboard.js": "text/javascript",
    "queue_view.js": "text/javascript",
}
ROOT_BLUEPRINTS = ("faust.web.apps.production_index:blueprint", "faust.web.apps.stats:blueprint")
"""Faust's placeholder index (``{"status": "OK"}``, or its debug statistics), which it mounts at
``/``: aiohttp refuses two GET routes on one path, so streams/app.py has the adapter drop them
(streams/faust_adapter/web.py) and the wallboard takes ``/``."""


def _rules(runtime: WorkerView) -> list[AlertRule]:
    alerts = getattr(runtime.config, "alerts", None)
    if alerts is None:
        return default_rules()
    return list(alerts.effective_rules())


def firing_alerts(runtime: WorkerView) -> list[dict[str, Any]]:
    """``runtime.alerts.firing()``, or nothing when the worker runs no alert evaluation."""
    alerts = getattr(runtime, "alerts", None)
    firing = getattr(alerts, "firing", None)
    if firing is None:
        return []
    try:
        return [dict(a) for a in firing()]
    except Exception as error:  # a broken alert store must not take the wallboard down
        log(logger, "firing alerts unavailable", logging.WARNING, error=repr(error)[:200])
        return []


def wallboard_document(
    runtime: WorkerView,
    rules: list[AlertRule] | None = None,
    snapshots: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"at", "at_iso", "worker", "ready", "queues": [{"queue", "tiles"}], "alerts"}``, of
    ``snapshots`` (default: the runtime's current ones)."""
    if snapshots is None:
        snapshots = runtime.snapshots()
    rules = _rules(runtime) if rules is None else rules
    windows = list(runtime.config.engine.windows)
    alerts = firing_alerts(runtime)
    at = max((s.at for s in snapshots.values()), default=float(int(runtime.clock())))
    queues = []
    for name in sorted(snapshots):
        firing_kpis = [
            (str(a.get("kpi")), a.get("window")) for a in alerts if a.get("queue") == name
        ]
        tiles = queue_tiles(snapshots[name], rules, windows, firing_kpis)
        queues.append({"queue": name, "tiles": tiles})
    alerts.sort(
        key=lambda a: (a.get("severity") != "critical", str(a.get("queue")), str(a.get("rule")))
    )
    return {
        "at": at,
        "at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
        "worker": runtime.config.worker.app_id,
        "ready": runtime.ready,
        "queues": queues,
        "alerts": alerts,
    }


def detail_tiles(runtime: WorkerView, queue: str) -> list[TileValue] | None:
    """The queue view's second row of tiles (:data:`processors.wallboard.DETAIL_TILES`) for
    one owned queue, coloured by the same rules as the cards; None when not owned here."""
    snapshot = runtime.snapshot_of(queue)
    if snapshot is None:
        return None
    firing_kpis = [
        (str(a.get("kpi")), a.get("window"))
        for a in firing_alerts(runtime)
        if a.get("queue") == queue
    ]
    windows = list(runtime.config.engine.windows)
    return queue_tiles(snapshot, _rules(runtime), windows, firing_kpis, DETAIL_TILES)


def _encode(document: dict[str, Any]) -> bytes:
    return msgspec.json.encode(document, enc_hook=str)


def _static(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def register_wallboard(app: faust.App, runtime: WorkerView) -> None:
    rules = _rules(runtime)
    index = _static("index.html")
    registry_body = msgspec.json.encode(KPIS)
    assets = {name: (_static(name), kind) for name, kind in _STATIC.items()}

    access = access_of(runtime)

    @app.page("/")
    async def wallboard_page(
        self: faust.web.View, request: faust.web.Request
    ) -> faust.web.Response:
        page = index if access.grant(request) is not None else _static("login.html")
        return self.bytes(page, content_type="text/html", headers={"Cache-Control": "no-cache"})

    @app.page("/login")
    class Login(faust.web.View):
        async def post(self, request: Any) -> Any:
            """The token, once, from the login form: kept in an HttpOnly, SameSite=Strict
            cookie the wallboard's requests and event stream then carry."""
            raw = await read_body(request, 4096)
            token = parse_qs((raw or b"").decode(errors="replace")).get("token", [""])[0]
            if not access.enabled or access.grant_for(token) is None:
                return access.refused(self, request, "wrong token at login")
            response = aioweb.Response(status=303, headers={"Location": "/"})
            response.set_cookie(
                COOKIE, token, httponly=True, samesite="Strict", path="/", max_age=12 * 3600
            )
            return response

    @app.page("/static/{name}")
    async def wallboard_asset(
        self: faust.web.View, request: faust.web.Request, name: str
    ) -> faust.web.Response:
        if name not in assets:
            return self.text("not found", status=404)
        body, kind = assets[name]
        return self.bytes(body, content_type=kind, headers={"Cache-Control": "no-cache"})

    @app.page("/api/kpi-registry")
    async def kpi_registry(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return self.bytes(registry_body, content_type="application/json")

    @app.page("/api/wallboard")
    async def wallboard_json(
        self: faust.web.View, request: faust.web.Request
    ) -> faust.web.Response:
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        snapshots = await runtime.fresh_snapshots()
        body = _encode(wallboard_document(runtime, rules, snapshots))
        return self.bytes(_visible(body, grant), content_type="application/json")

    async def document() -> bytes:
        snapshots = await runtime.fresh_snapshots()
        return _encode(wallboard_document(runtime, rules, snapshots))

    worker = runtime.config.worker
    feed = WallboardFeed(document, worker.wallboard_max_streams, runtime.registry, PUSH_INTERVAL)

    @app.page("/api/kpis/stream")
    async def wallboard_stream(self: faust.web.View, request: Any) -> Any:
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        if not feed.open():
            return self.json(
                {"error": f"{feed.max_streams} wallboard streams open (wallboard_max_streams)"},
                status=503,
                headers={"Retry-After": "10"},
            )
        try:
            response = aioweb.StreamResponse(
                headers={
                    "Content-Type": "text/event-stream",
                    "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no",
                }
            )
            await response.prepare(request)
            await _stream(app, feed, response, grant)
            return response
        finally:
            feed.close()

    del wallboard_page, Login, wallboard_asset, kpi_registry, wallboard_json, wallboard_stream


def _visible(body: bytes, grant: Grant) -> bytes:
    """The wallboard document with only the queues (and their alerts) ``grant`` may read."""
    if "admin" in grant.actions or ("read" in grant.actions and "*" in grant.queues):
        return body  # every queue
    document = msgspec.json.decode(body)
    document["queues"] = [q for q in document["queues"] if grant.may("read", q["queue"])]
    document["alerts"] = [a for a in document["alerts"] if grant.may("read", str(a.get("queue")))]
    return msgspec.json.encode(document)


async def _stream(
    app: faust.App, feed: WallboardFeed, response: aioweb.StreamResponse, grant: Grant
) -> None:
    """Send the document whenever it changes; a comment line now and then keeps proxies open."""
    started = last_write = time.monotonic()
    last = b""
    try:
        await response.write(b"retry: 2000\n\n")
        while not app.should_stop and time.monotonic() - started < STREAM_SECONDS:
            # One encode a second, shared by every stream; then what this stream may see.
            body = _visible(await feed.current(), grant)
            now = time.monotonic()
            if body != last:
                await response.write(b"data: " + body + b"\n\n")
                last, last_write = body, now
            elif now - last_write >= KEEPALIVE_SECONDS:
                await response.write(b": keepalive\n\n")
                last_write = now
            await asyncio.sleep(PUSH_INTERVAL)
    except ConnectionResetError:
        return  # the browser went away
