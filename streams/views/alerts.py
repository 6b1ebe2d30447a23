"""The worker's alert HTTP API: list, acknowledge, silence.

``GET /api/alerts`` lists the pending and firing alerts of the queues this worker owns, and the
cluster's silences. ``POST /api/alerts/ack``, ``POST /api/silences`` and ``DELETE
/api/silences/{id}`` (expire a silence now) change state, so they need
``Authorization: Bearer <worker.api_token>`` and answer 401 without it (or when no token is
configured: state changes are then disabled). All are written to the compacted silences topic
before the answer (streams/alerting/silences.py), so any worker takes them and every worker
applies them; 503 when that write fails. An acknowledgement of an alert another worker owns is
answered 202 (the owner applies it). Who did it (``by``) is recorded on the alerts topic with
the change. ``ccpulse alerts list|ack|silence|expire`` calls this API.
"""

from __future__ import annotations

import hmac
import time
from typing import Annotated

import faust
import msgspec
from msgspec import Meta, Struct

from streams.views.access import access_of
from streams.views.request_body import read_body, too_large
from streams.views.worker_view import WorkerView

__all__ = ["AckRequest", "SilenceRequest", "authorized", "register_alert_views"]


class AckRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    fingerprint: str
    by: str
    comment: str = ""


class SilenceRequest(Struct, forbid_unknown_fields=True, kw_only=True):
    queue: str = "*"
    """Shell pattern on queue names."""
    rule: str = "*"
    """Shell pattern on rule names."""
    duration_seconds: Annotated[float, Meta(gt=0, le=30 * 86400)]
    by: str
    comment: str = ""


def authorized(header: str | None, token: str | None) -> bool:
    """True if ``header`` is ``Bearer <token>`` (constant-time compare); never without a token."""
    if not token or not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].encode(), token.encode())


def _bad_request(view: faust.web.View, exc: Exception) -> faust.web.Response:
    return view.json({"error": f"bad request: {exc}"}, status=400)


def register_alert_views(app: faust.App, runtime: WorkerView) -> None:
    token = runtime.config.worker.api_token
    limit = runtime.config.worker.max_body_bytes

    access = access_of(runtime)

    def refuse(
        view: faust.web.View, request: faust.web.Request, action: str, queue: str | None
    ) -> faust.web.Response | None:
        """None if the request may ``action`` on ``queue`` (None: on some queue; checked
        before the body is read, the queue once it is)."""
        if access.enabled:
            grant = access.grant(request)
            if grant is None:
                return access.refused(view, request, "missing or wrong bearer token")
            if queue is None and (action in grant.actions or "admin" in grant.actions):
                return None
            if queue is None or not grant.may(action, queue):
                return access.refused(view, request, f"{grant.name} may not {action} here", 403)
            return None
        if authorized(request.headers.get("Authorization"), token):
            return None
        reason = (
            "missing or wrong bearer token"
            if token
            else "worker.api_token is not configured: state-changing calls are disabled"
        )
        return view.json(
            {"error": reason}, status=401, headers={"WWW-Authenticate": 'Bearer realm="ccpulse"'}
        )

    @app.page("/api/alerts")
    async def list_alerts(self: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        grant = access.grant(request)
        if grant is None:
            return access.refused(self, request, "missing or wrong bearer token")
        alerts = runtime.alerts
        document = {
            "at": runtime.clock(),
            "worker": runtime.config.worker.app_id,
            "ready": bool(runtime.ready and alerts.ready),
            "last_evaluation": alerts.last_evaluation,
            "held_behind_events": alerts.held_behind,
            "alerts": [a for a in alerts.active() if grant.may("read", str(a["queue"]))],
            "cluster": [a for a in alerts.cluster() if grant.may("read", str(a["queue"]))],
            "silences": msgspec.to_builtins(
                [s for s in alerts.silences() if grant.may("read", s.queue)]
            ),
        }
        return self.bytes(msgspec.json.encode(document), content_type="application/json")

    @app.page("/api/alerts/ack")
    class Ack(faust.web.View):
        async def post(self, request: faust.web.Request) -> faust.web.Response:
            refused = refuse(self, request, "ack", None)  # before the body is read
            if refused is not None:
                return refused
            raw = await read_body(request, limit)
            if raw is None:
                return too_large(self, limit)
            try:
                body = msgspec.json.decode(raw, type=AckRequest)
            except msgspec.DecodeError as exc:
                return _bad_request(self, exc)
            alerts = runtime.alerts
            if access.enabled:  # the alert's queue, here or as the cluster lists it
                known = alerts.active() + alerts.cluster()
                queues = [a["queue"] for a in known if a["fingerprint"] == body.fingerprint]
                if not queues:  # nothing to check the grant against: write nothing
                    return self.json(
                        {"error": f"no firing alert {body.fingerprint!r} known"}, status=404
                    )
                refused = refuse(self, request, "ack", queues[0])
                if refused is not None:
                    return refused
            alert = alerts.acknowledge(body.fingerprint, body.by, body.comment)
            ack = alerts.ack_record(body.fingerprint, body.by, body.comment)
            if alerts.silence_log is not None:
                try:
                    await alerts.silence_log.put_ack(ack)
                except Exception as exc:
                    return self.json({"error": f"not recorded on the cluster: {exc}"}, status=503)
            elif alert is None:
                return self.json(
                    {"error": f"no firing alert {body.fingerprint!r} on this worker"}, status=404
                )
            if alert is None:  # another worker owns it and applies it from the silences topic
                return self.json({"acknowledged": msgspec.to_builtins(ack)}, status=202)
            return self.json({"acknowledged": alert})

    @app.page("/api/silences")
    class Silences(faust.web.View):
        async def get(self, request: faust.web.Request) -> faust.web.Response:
            grant = access.grant(request)
            if grant is None:
                return access.refused(self, request, "missing or wrong bearer token")
            silences = msgspec.to_builtins(
                [s for s in runtime.alerts.silences() if grant.may("read", s.queue)]
            )
            return self.json({"silences": silences, "at": time.time()})

        async def post(self, request: faust.web.Request) -> faust.web.Response:
            refused = refuse(self, request, "silence", None)  # before the body is read
            if refused is not None:
                return refused
            raw = await read_body(request, limit)
            if raw is None:
                return too_large(self, limit)
            try:
                body = msgspec.json.decode(raw, type=SilenceRequest)
            except msgspec.DecodeError as exc:
                return _bad_request(self, exc)
            refused = refuse(self, request, "silence", body.queue) if access.enabled else None
            if refused is not None:
                return refused
            silence, covered = runtime.alerts.silence(
                body.rule, body.queue, body.duration_seconds, body.by, body.comment
            )
            if runtime.alerts.silence_log is not None:
                try:
                    await runtime.alerts.silence_log.put_silence(silence)
                except Exception as exc:
                    return self.json({"error": f"not recorded on the cluster: {exc}"}, status=503)
            return self.json(
                {"silence": msgspec.to_builtins(silence), "covers": covered}, status=201
            )

    @app.page("/api/silences/{silence_id}")
    class SilenceById(faust.web.View):
        async def delete(self, request: faust.web.Request, silence_id: str) -> faust.web.Response:
            """Expire a silence now (Alertmanager's "expire"): the planned outage ended early.
            Tombstoned on the silences topic, so every worker forgets it; an alert it covered
            that still fires is notified then, as at the silence's own end."""
            refused = refuse(self, request, "silence", None)
            if refused is not None:
                return refused
            alerts = runtime.alerts
            found = [s for s in alerts.silences() if s.id == silence_id]
            if not found:
                return self.json({"error": f"no silence {silence_id!r} in force"}, status=404)
            refused = refuse(self, request, "silence", found[0].queue) if access.enabled else None
            if refused is not None:
                return refused
            if alerts.silence_log is not None:
                try:
                    await alerts.silence_log.expire(silence_id)
                except Exception as exc:
                    return self.json({"error": f"not recorded on the cluster: {exc}"}, status=503)
            else:
                alerts.silence_changed(silence_id, None)
            return self.json({"expired": msgspec.to_builtins(found[0])})

    del list_alerts, Ack, Silences, SilenceById
