"""``ccpulse ingest webhooks``: one small aiohttp service for Twilio, Zendesk and Jira.

| path | sender | check |
|---|---|---|
| ``POST /twilio/taskrouter`` | TaskRouter event callbacks (form-encoded) | X-Twilio-Signature |
| ``POST /zendesk`` | Zendesk webhooks (JSON) | X-Zendesk-Webhook-Signature |
| ``POST /jira`` | Jira Service Management webhooks (JSON) | X-Hub-Signature or token |
| ``GET /metrics``, ``GET /healthz`` | Prometheus, probes | - |

A request's way: signature check (fail: **401**, counted in ``ccpulse_ingest_rejected_total``)
-> mapping (:mod:`streams.sources`; a payload that cannot be mapped is put on the dead-letter
topic with its reason and answered **202**) -> the events go into a bounded buffer as one unit
and the request is answered **2xx** (or, with ``respond_after: acked``, once Kafka acknowledged
them) -> a producer thread drains the buffer with kafka-python and waits for the
acknowledgement before forgetting a unit, retrying as long as it takes. When the buffer holds
``buffer_capacity`` unacknowledged payloads, requests get **503** with ``Retry-After`` (the
vendors retry), never a 2xx for something that is then dropped. A payload with no KPI meaning
is answered 200 and not produced.

The answer never waits for the broker in the default mode, so a slow broker does not push the
vendors past their timeouts (Twilio 15 s, Zendesk 12 s, Jira 30 s); ``ccpulse_ingest_buffer_depth``
shows the backlog. On SIGTERM the service stops accepting, then produces what is buffered for up
to ``drain_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.config import Config
from streams.ingest.metrics import IngestMetrics, report_refused
from streams.ingest.producer import AckedProducer, Record, deadletter, event_record
from streams.ingest.signatures import verify_jira, verify_twilio, verify_zendesk
from streams.logs import log
from streams.sources.jira import map_jira
from streams.sources.payloads import Unmappable
from streams.sources.twilio import map_taskrouter
from streams.sources.zendesk import map_zendesk

__all__ = ["IngestBuffer", "ProducerThread", "build_app", "serve"]

logger = logging.getLogger("ccpulse.ingest.webhooks")


@dataclass
class Unit:
    """What one request produces: all of it is acknowledged together, or retried."""

    source: str
    records: list[Record]
    events: int
    deadlettered: str | None = None
    done: Callable[[], None] | None = None


@dataclass
class IngestBuffer:
    """Bounded, thread-safe: counts units from acceptance until Kafka acknowledged them."""

    capacity: int
    _items: deque[Unit] = field(default_factory=deque)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    pending: int = 0

    def offer(self, unit: Unit) -> bool:
        with self._cond:
            if self.pending >= self.capacity:
                return False
            self._items.append(unit)
            self.pending += 1
            self._cond.notify()
            return True

    def take(self, limit: int, timeout: float) -> list[Unit]:
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            units: list[Unit] = []
            while self._items and len(units) < limit:
                units.append(self._items.popleft())
            return units

    def acknowledged(self, count: int) -> None:
        with self._cond:
            self.pending -= count
            self._cond.notify_all()

    def wait_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


class ProducerThread(threading.Thread):
    """Drains the buffer into Kafka; a unit leaves the buffer only once acknowledged."""

    def __init__(
        self,
        buffer: IngestBuffer,
        metrics: IngestMetrics,
        connect: Callable[[], AckedProducer],
    ) -> None:
        super().__init__(name="ccpulse-ingest-producer", daemon=True)
        self.buffer, self.metrics, self.connect = buffer, metrics, connect
        self.stopping = threading.Event()
        self.producer: AckedProducer | None = None
        self._owners: dict[int, Unit] = {}  # record -> its unit, while a round is being sent

    def _ensure_producer(self) -> AckedProducer | None:
        delay = 0.5
        while self.producer is None and not self.stopping.is_set():
            try:
                self.producer = self.connect()
                self.producer.on_refused = self._refused
            except Exception as exc:  # broker down at start: keep buffering, keep trying
                self._error(exc)
                self.stopping.wait(delay)
                delay = min(delay * 2, 10.0)
        return self.producer

    def _refused(self, record: Record, error: Exception, replacement: Record | None) -> None:
        unit = self._owners.get(id(record))
        if unit is not None and unit.events:  # a unit holds events, or one dead letter
            unit.events -= 1  # dead-lettered instead of produced
        report_refused(self.metrics, logger, record, error, replacement)

    def _error(self, exc: Exception) -> None:
        self.metrics.produce_errors.inc()
        log(logger, "produce failed; retrying", level=logging.WARNING, error=repr(exc))

    def run(self) -> None:
        while not self.stopping.is_set():
            units = self.buffer.take(500, timeout=0.2)
            if not units:
                continue
            producer = self._ensure_producer()
            if producer is None:
                return
            records = [record for unit in units for record in unit.records]
            self._owners = {id(record): unit for unit in units for record in unit.records}
            if not producer.send_until_acked(records, self.stopping.is_set, self._error):
                return  # stopping before the broker took them: reported by the drain
            for unit in units:
                if unit.events:
                    self.metrics.events.labels(unit.source).inc(unit.events)
                if unit.deadlettered:
                    self.metrics.deadlettered.labels(unit.source, unit.deadlettered).inc()
                if unit.done is not None:
                    unit.done()
            self.buffer.acknowledged(len(units))

    def close(self, timeout: float = 5.0) -> None:
        """Called after the drain: whatever is still unacknowledged was reported there. The
        thread is a daemon, so a producer stuck connecting to a dead broker cannot hold the
        process."""
        self.stopping.set()
        self.join(timeout=timeout)
        if self.producer is not None and not self.is_alive():
            self.producer.close(timeout=timeout)


class Receivers:
    """The request handlers; one instance per service."""

    def __init__(self, config: Config, buffer: IngestBuffer, metrics: IngestMetrics) -> None:
        self.config, self.buffer, self.metrics = config, buffer, metrics
        self.sources = config.sources
        self.accepting = True
        self.twilio_queues: dict[str, str] = {}  # TaskQueue SID -> name, learnt from callbacks

    def _answer(self, source: str, status: int, body: dict[str, Any] | None = None) -> web.Response:
        self.metrics.requests.labels(source, str(status)).inc()
        headers = {"Retry-After": "5"} if status == 503 else None
        if status == 204:
            return web.Response(status=204, content_type="application/json", headers=headers)
        return web.json_response(body or {}, status=status, headers=headers)

    def _reject(self, source: str, reason: str) -> web.Response:
        self.metrics.rejected.labels(source, reason).inc()
        log(logger, "request refused", level=logging.WARNING, source=source, reason=reason)
        return self._answer(source, 401, {"error": reason})

    async def _accept(
        self, source: str, body: bytes, result: Any, where: dict[str, Any], ok_status: int = 200
    ) -> web.Response:
        if not self.accepting:
            return self._answer(source, 503, {"error": "shutting down"})
        answer: dict[str, Any]
        if isinstance(result, Unmappable):
            record = deadletter(
                self.config.topics.deadletter, body, result.reason, "unmappable", where
            )
            unit = Unit(source, [record], 0, deadlettered="unmappable")
            status, answer = 202, {"deadlettered": result.reason}
            log(logger, "unmappable payload dead-lettered", source=source, reason=result.reason)
        elif not result:
            return self._answer(source, ok_status, {"events": 0})
        else:
            origin = {"source": source}
            records = [event_record(event, self.config, origin) for event in result]
            unit = Unit(source, records, len(records))
            status, answer = ok_status, {"events": len(records)}
        acked: asyncio.Future[None] | None = None
        if self.sources.webhooks.respond_after == "acked":
            loop = asyncio.get_running_loop()
            acked = loop.create_future()
            future = acked

            def done() -> None:
                loop.call_soon_threadsafe(_resolve, future)

            unit.done = done
        if not self.buffer.offer(unit):
            self.metrics.buffer_full.labels(source).inc()
            return self._answer(source, 503, {"error": "buffer full, retry later"})
        if acked is not None:
            try:
                await asyncio.wait_for(
                    asyncio.shield(acked), self.sources.webhooks.ack_timeout_seconds
                )
            except TimeoutError:
                # Still buffered and produced later; the vendor's retry is a duplicate by id.
                return self._answer(source, 503, {"error": "broker slow, retry later"})
        return self._answer(source, status, answer)

    async def twilio(self, request: web.Request) -> web.Response:
        token = self.sources.twilio.auth_token
        body = await request.read()
        if not token:
            return self._reject("twilio", "no_secret_configured")
        params = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        url = self.sources.twilio.public_url or str(request.url)
        if not verify_twilio(token, url, params, request.headers.get("X-Twilio-Signature")):
            return self._reject("twilio", "bad_signature")
        result = _mapped(
            lambda: map_taskrouter(dict(params), self.sources.twilio, self.twilio_queues)
        )
        return await self._accept("twilio", body, result, {"source": "twilio"}, ok_status=204)

    async def zendesk(self, request: web.Request) -> web.Response:
        settings = self.sources.zendesk
        body = await request.read()
        if not settings.signing_secret:
            return self._reject("zendesk", "no_secret_configured")
        stamp = request.headers.get("X-Zendesk-Webhook-Signature-Timestamp")
        signature = request.headers.get("X-Zendesk-Webhook-Signature")
        if not verify_zendesk(settings.signing_secret, stamp, body, signature):
            return self._reject("zendesk", "bad_signature")
        if settings.max_skew_seconds and not _fresh(stamp, settings.max_skew_seconds):
            return self._reject("zendesk", "stale_timestamp")
        result = _json_then(body, lambda payload: map_zendesk(payload, settings))
        return await self._accept("zendesk", body, result, {"source": "zendesk"})

    async def jira(self, request: web.Request) -> web.Response:
        settings = self.sources.jira
        body = await request.read()
        if not settings.secret and not settings.token:
            return self._reject("jira", "no_secret_configured")
        if not verify_jira(
            settings.secret,
            settings.token,
            body,
            request.headers.get("X-Hub-Signature"),
            request.headers.get(settings.token_header),
        ):
            return self._reject("jira", "bad_signature")
        result = _json_then(body, lambda payload: map_jira(payload, settings))
        return await self._accept("jira", body, result, {"source": "jira"})

    async def metrics_view(self, request: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"accepting": self.accepting, "buffered": self.buffer.pending},
            status=200 if self.accepting else 503,
        )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _mapped(mapping: Callable[[], Any]) -> Any:
    """The mapping's result; a payload it cannot handle (a value out of any range, a type no
    vendor sends) is Unmappable with the error as reason: dead-lettered, never a 500."""
    try:
        return mapping()
    except Exception as exc:  # the payload is the sender's: whatever it holds, keep it
        return Unmappable(f"cannot map: {type(exc).__name__}: {exc}"[:500])


def _json_then(body: bytes, mapping: Callable[[Any], Any]) -> Any:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return Unmappable(f"not JSON: {exc}")
    except RecursionError:
        return Unmappable("not JSON ccpulse reads: nested too deeply")
    if not isinstance(payload, dict):
        return Unmappable("the payload is not a JSON object")
    return _mapped(lambda: mapping(payload))


def _fresh(stamp: str | None, skew: float) -> bool:
    try:
        when = datetime.fromisoformat((stamp or "").replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return abs(time.time() - when.timestamp()) <= skew
    except (ValueError, OverflowError):
        return False


def build_app(config: Config, buffer: IngestBuffer, metrics: IngestMetrics) -> web.Application:
    receivers = Receivers(config, buffer, metrics)
    app = web.Application(client_max_size=config.sources.webhooks.max_body_bytes)
    app["receivers"] = receivers
    app.router.add_post("/twilio/taskrouter", receivers.twilio)
    app.router.add_post("/zendesk", receivers.zendesk)
    app.router.add_post("/jira", receivers.jira)
    app.router.add_get("/metrics", receivers.metrics_view)
    app.router.add_get("/healthz", receivers.health)
    return app


def serve(config: Config, bootstrap: str, client: dict[str, Any], host: str, port: int) -> int:
    """Run the service until SIGINT/SIGTERM; returns the process exit code."""
    hooks = config.sources.webhooks
    metrics = IngestMetrics()
    buffer = IngestBuffer(hooks.buffer_capacity)
    metrics.buffer_capacity.set(hooks.buffer_capacity)
    metrics.buffer_depth.set_function(lambda: buffer.pending)
    topic = config.topics.deadletter
    thread = ProducerThread(buffer, metrics, lambda: AckedProducer(bootstrap, topic, **client))
    thread.start()
    for name, settings_secret in (
        ("twilio", config.sources.twilio.auth_token),
        ("zendesk", config.sources.zendesk.signing_secret),
        ("jira", config.sources.jira.secret or config.sources.jira.token),
    ):
        if not settings_secret:
            log(logger, "no secret configured: refusing all", level=logging.WARNING, source=name)

    async def main() -> None:
        app = build_app(config, buffer, metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        log(logger, "webhooks listening", host=host, port=port, bootstrap=bootstrap)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        app["receivers"].accepting = False
        drained = await loop.run_in_executor(None, buffer.wait_empty, hooks.drain_timeout_seconds)
        if not drained:
            log(
                logger,
                "stopping with payloads not acknowledged by Kafka",
                level=logging.ERROR,
                pending=buffer.pending,
            )
        await runner.cleanup()

    try:
        asyncio.run(main())
    finally:
        thread.close()
    log(logger, "stopped", pending=buffer.pending)
    return 0 if buffer.pending == 0 else 1
