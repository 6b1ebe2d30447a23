"""The dispatcher against real HTTP servers on 127.0.0.1 (aiohttp, started in the test):
retries with backoff, per-attempt timeout, permanent rejections, repeats, Alertmanager re-posts,
restored alerts, and a dead receiver that does not hold up the others."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from streams.alerting import Dispatcher, Notification, NotifyConfig
from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ALERT = Notification(
    fingerprint="asa_high/billing",
    rule="asa_high",
    queue="billing",
    severity="warning",
    status="firing",
    summary="ASA on billing is 95 s over 15m (threshold 60 s)",
    value=95.0,
    threshold=60.0,
    starts_at=1_700_000_000.0,
)
RESOLVED = msgspec.structs.replace(ALERT, status="resolved", ends_at=1_700_000_900.0)
FAST = {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2, "timeout_seconds": 5}


class HookServer:
    """A real HTTP receiver: answers ``fail_status`` to the first ``fail_first`` requests and
    waits ``stall`` seconds before answering the first ``stall_first`` ones."""

    def __init__(
        self, fail_first: int = 0, fail_status: int = 503, stall_first: int = 0, stall: float = 0
    ) -> None:
        self.fail_first, self.fail_status = fail_first, fail_status
        self.stall_first, self.stall = stall_first, stall
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> HookServer:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def _handle(self, request: web.Request) -> web.Response:
        index = len(self.requests)
        status = self.fail_status if index < self.fail_first else 200
        self.requests.append(
            {
                "path": request.path,
                "content_type": request.content_type,
                "headers": dict(request.headers),
                "body": await request.json(),
                "status": status,
            }
        )
        if index < self.stall_first:
            await asyncio.sleep(self.stall)
        return web.Response(status=status, text="no" if status >= 400 else "ok")

    def accepted(self) -> list[Any]:
        return [r["body"] for r in self.requests if r["status"] == 200]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


def make(notify: dict[str, Any]) -> tuple[Dispatcher, Callable[..., float | None]]:
    registry = CollectorRegistry()
    dispatcher = Dispatcher(msgspec.convert(notify, NotifyConfig), registry)

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    return dispatcher, sample


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


def test_retries_with_backoff_until_the_server_accepts() -> None:
    async def main() -> None:
        server = await HookServer(fail_first=3).start()
        d, sample = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: len(server.accepted()) == 1)
        await d.close()
        await server.stop()
        assert [r["status"] for r in server.requests] == [503, 503, 503, 200]
        # every attempt is the same notification (same idempotency key)
        assert len({r["body"]["id"] for r in server.requests}) == 1
        assert server.requests[0]["content_type"] == "application/json"
        assert server.accepted()[0]["fingerprint"] == "asa_high/billing"
        assert sample("ccpulse_alert_notification_failures_total", receiver="hook") == 3
        assert sample("ccpulse_alert_notifications_total", receiver="hook", status="firing") == 1
        assert sample("ccpulse_alert_notifications_pending", receiver="hook") == 0
        assert sample("ccpulse_alert_notifications_oldest_pending_seconds", receiver="hook") == 0

    run(main())


def test_a_stalled_attempt_times_out_and_is_retried() -> None:
    async def main() -> None:
        server = await HookServer(stall_first=1, stall=1.5).start()
        d, sample = make(
            {
                "receivers": {
                    "hook": {"kind": "webhook", "url": server.url, **FAST, "timeout_seconds": 0.3}
                },
                "default_receivers": ["hook"],
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(
            lambda: (
                sample("ccpulse_alert_notifications_total", receiver="hook", status="firing") == 1
            )
        )
        await d.close()
        await server.stop()
        assert len(server.requests) == 2
        assert sample("ccpulse_alert_notification_failures_total", receiver="hook") == 1

    run(main())


def test_a_permanent_rejection_is_dropped_not_retried_forever() -> None:
    async def main() -> None:
        server = await HookServer(fail_first=1, fail_status=400).start()
        d, sample = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
            }
        )
        await d.start()
        d.submit(ALERT)
        d.submit(RESOLVED)
        await until(lambda: len(server.accepted()) == 1)
        await d.close()
        await server.stop()
        assert [r["status"] for r in server.requests] == [400, 200]
        assert server.accepted()[0]["status"] == "resolved"
        assert (
            sample("ccpulse_alert_notifications_dropped_total", receiver="hook", reason="rejected")
            == 1
        )

    run(main())


def test_max_retries_gives_up_and_counts() -> None:
    async def main() -> None:
        server = await HookServer(fail_first=100).start()
        d, sample = make(
            {
                "receivers": {
                    "hook": {"kind": "webhook", "url": server.url, **FAST, "max_retries": 2}
                },
                "default_receivers": ["hook"],
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(
            lambda: (
                sample(
                    "ccpulse_alert_notifications_dropped_total",
                    receiver="hook",
                    reason="retries_exhausted",
                )
                == 1
            )
        )
        await d.close()
        await server.stop()
        assert len(server.requests) == 3  # the first attempt and two retries

    run(main())


def test_repeats_while_firing_then_one_resolved_last() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, sample = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
                "repeat_interval_seconds": 0.2,
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: [b["kind"] for b in server.accepted()].count("repeat") >= 2)
        d.submit(RESOLVED)
        await until(lambda: server.accepted()[-1]["kind"] == "resolved")
        await d.close()
        await server.stop()
        kinds = [b["kind"] for b in server.accepted()]
        assert kinds[0] == "firing" and kinds[-1] == "resolved"
        assert set(kinds[1:-1]) == {"repeat"}
        ids = [b["id"] for b in server.accepted()]
        assert len(set(ids)) == len(ids)  # each repeat is a notification of its own
        assert sample("ccpulse_alert_notifications_total", receiver="hook", status="resolved") == 1

    run(main())


def test_slack_receiver_posts_text_and_blocks() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, _ = make(
            {
                "receivers": {"team": {"kind": "slack", "url": server.url, **FAST}},
                "routes": [{"queues": ["bill*"], "receivers": ["team"]}],
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: len(server.accepted()) == 1)
        await d.close()
        await server.stop()
        body = server.accepted()[0]
        assert body["text"] == "[FIRING:warning] " + ALERT.summary
        assert body["blocks"][0]["type"] == "header"

    run(main())


def test_alertmanager_receiver_reposts_firing_alerts_and_ends_them() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, _ = make(
            {
                "receivers": {
                    "am": {
                        "kind": "alertmanager",
                        "url": server.base_url + "/",
                        "resend_interval_seconds": 0.2,
                        **FAST,
                    }
                },
                "default_receivers": ["am"],
                "repeat_interval_seconds": 3600,
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: len(server.accepted()) >= 3)
        d.submit(RESOLVED)
        await until(lambda: server.accepted()[-1][0]["endsAt"] == "2023-11-14T22:28:20.000Z")
        await d.close()
        await server.stop()
        assert {r["path"] for r in server.requests} == {"/api/v2/alerts"}
        posts = [body[0] for body in server.accepted()]
        assert all(p["labels"]["alertname"] == "asa_high" for p in posts)
        assert all(p["startsAt"] == "2023-11-14T22:13:20.000Z" for p in posts)
        # while firing, endsAt keeps moving ahead of now; the last one is the real end
        firing_ends = [p["endsAt"] for p in posts[:-1]]
        assert firing_ends == sorted(firing_ends) and len(set(firing_ends)) == len(firing_ends)

    run(main())


def test_track_refreshes_alertmanager_but_does_not_page_again() -> None:
    async def main() -> None:
        am, hook = await HookServer().start(), await HookServer().start()
        d, _ = make(
            {
                "receivers": {
                    "am": {"kind": "alertmanager", "url": am.base_url, **FAST},
                    "hook": {"kind": "webhook", "url": hook.url, **FAST},
                },
                "default_receivers": ["am", "hook"],
                "repeat_interval_seconds": 3600,
            }
        )
        await d.start()
        d.track(ALERT)  # restored after a restart: already announced before it
        await until(lambda: len(am.accepted()) == 1)
        d.submit(ALERT)  # the state machine re-reports it: still no page
        d.submit(RESOLVED)
        await until(lambda: len(hook.accepted()) == 1)
        await d.close()
        await am.stop()
        await hook.stop()
        assert [b["kind"] for b in hook.accepted()] == ["resolved"]
        assert am.accepted()[-1][0]["endsAt"] == "2023-11-14T22:28:20.000Z"

    run(main())


def test_a_dead_receiver_does_not_hold_up_the_others() -> None:
    async def main() -> None:
        alive = await HookServer().start()
        dead_url = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        d, sample = make(
            {
                "receivers": {
                    "dead": {"kind": "webhook", "url": dead_url, **FAST},
                    "alive": {"kind": "webhook", "url": alive.url, **FAST},
                },
                "default_receivers": ["dead", "alive"],
            }
        )
        await d.start()
        d.submit(ALERT)
        d.submit(RESOLVED)
        await until(lambda: len(alive.accepted()) == 2)
        await until(
            lambda: (sample("ccpulse_alert_notification_failures_total", receiver="dead") or 0) >= 2
        )
        assert sample("ccpulse_alert_notifications_pending", receiver="dead") == 2  # kept
        assert sample("ccpulse_alert_notifications_pending", receiver="alive") == 0
        assert sample("ccpulse_alert_notifications_oldest_pending_seconds", receiver="dead") > 0
        assert sample("ccpulse_alert_notifications_oldest_pending_seconds", receiver="alive") == 0
        await d.close(timeout=0.2)
        await alive.stop()
        assert (
            sample("ccpulse_alert_notifications_dropped_total", receiver="dead", reason="shutdown")
            == 2
        )

    run(main())


OTHER = msgspec.structs.replace(
    ALERT, fingerprint="aht_high/sales", rule="aht_high", queue="sales", summary="AHT on sales"
)
THIRD = msgspec.structs.replace(
    ALERT, fingerprint="abandon_high/support", rule="abandon_high", queue="support", summary="x"
)


def hook_kinds(server: HookServer, fingerprint: str, after: int = 0) -> list[str]:
    """Kinds the webhook accepted for ``fingerprint``, from accepted body index ``after`` on."""
    return [b["kind"] for b in server.accepted()[after:] if b["fingerprint"] == fingerprint]


def hook_index(server: HookServer, fingerprint: str, kind: str) -> int:
    bodies = server.accepted()
    return next(
        i for i, b in enumerate(bodies) if b["fingerprint"] == fingerprint and b["kind"] == kind
    )


def am_posts(server: HookServer, rule: str, after: int = 0) -> list[dict[str, Any]]:
    return [b[0] for b in server.accepted()[after:] if b[0]["labels"]["alertname"] == rule]


def am_index(server: HookServer, rule: str) -> int:
    return next(i for i, b in enumerate(server.accepted()) if b[0]["labels"]["alertname"] == rule)


def test_acknowledge_stops_repeats_to_humans_but_not_the_resolution() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, sample = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
                "repeat_interval_seconds": 0.2,
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: hook_kinds(server, ALERT.fingerprint).count("repeat") >= 1)
        d.acknowledge(ALERT.fingerprint)
        # Queued after the ack: whatever the receiver gets after OTHER's first notification was
        # decided after the ack (one receiver delivers in order).
        d.submit(OTHER)
        await until(lambda: hook_kinds(server, OTHER.fingerprint).count("repeat") >= 3)
        d.submit(RESOLVED)
        await until(lambda: "resolved" in hook_kinds(server, ALERT.fingerprint))
        await d.close()
        await server.stop()
        marker = hook_index(server, OTHER.fingerprint, "firing")
        assert hook_kinds(server, ALERT.fingerprint, after=marker) == ["resolved"]
        assert hook_kinds(server, ALERT.fingerprint)[0] == "firing"
        assert sample("ccpulse_alert_notifications_total", receiver="hook", status="resolved") == 1

    run(main())


def test_forget_stops_repeats_sends_nothing_but_delivers_what_was_queued() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, _ = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
                "repeat_interval_seconds": 0.2,
            }
        )
        d.acknowledge("unknown/queue")  # nothing known about it: no effect, no error
        d.forget("unknown/queue")
        await d.start()
        d.submit(ALERT)
        d.forget(ALERT.fingerprint)  # its first notification is still queued, not yet sent
        d.submit(OTHER)
        await until(lambda: hook_kinds(server, OTHER.fingerprint).count("repeat") >= 3)
        await d.close()
        await server.stop()
        assert hook_kinds(server, ALERT.fingerprint) == ["firing"]  # no repeat, no resolved
        assert hook_kinds(server, OTHER.fingerprint)[0] == "firing"

    run(main())


def test_forget_mid_repeats_stops_them() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, _ = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
                "repeat_interval_seconds": 0.2,
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: hook_kinds(server, ALERT.fingerprint).count("repeat") >= 2)
        d.forget(ALERT.fingerprint)
        d.submit(OTHER)  # marker: queued after the forget
        await until(lambda: hook_kinds(server, OTHER.fingerprint).count("repeat") >= 3)
        await d.close()
        await server.stop()
        marker = hook_index(server, OTHER.fingerprint, "firing")
        assert hook_kinds(server, ALERT.fingerprint, after=marker) == []

    run(main())


def test_alertmanager_reposts_go_on_after_acknowledge_and_stop_after_forget() -> None:
    async def main() -> None:
        am, hook = await HookServer().start(), await HookServer().start()
        d, _ = make(
            {
                "receivers": {
                    "am": {
                        "kind": "alertmanager",
                        "url": am.base_url,
                        "resend_interval_seconds": 0.2,
                        **FAST,
                    },
                    "hook": {"kind": "webhook", "url": hook.url, **FAST},
                },
                "default_receivers": ["am", "hook"],
                "repeat_interval_seconds": 0.2,
            }
        )
        await d.start()
        d.submit(ALERT)
        await until(lambda: len(am_posts(am, ALERT.rule)) >= 2)
        d.acknowledge(ALERT.fingerprint)
        d.submit(OTHER)  # marker on both receivers: queued after the ack
        await until(lambda: len(am_posts(am, OTHER.rule)) >= 1)
        acked_at = am_index(am, OTHER.rule)
        await until(lambda: len(am_posts(am, ALERT.rule, after=acked_at)) >= 2)
        await until(lambda: hook_kinds(hook, OTHER.fingerprint).count("repeat") >= 2)
        d.forget(ALERT.fingerprint)
        d.submit(THIRD)  # marker: queued after the forget
        await until(lambda: len(am_posts(am, THIRD.rule)) >= 1)
        forgot_at = am_index(am, THIRD.rule)
        await until(lambda: len(am_posts(am, OTHER.rule, after=forgot_at)) >= 3)
        await d.close()
        await am.stop()
        await hook.stop()
        # Acknowledged: still refreshed at Alertmanager, no longer repeated to the webhook.
        assert len(am_posts(am, ALERT.rule, after=acked_at)) >= 2
        marker = hook_index(hook, OTHER.fingerprint, "firing")
        assert hook_kinds(hook, ALERT.fingerprint, after=marker) == []
        # Forgotten: no re-post and no end sent to Alertmanager.
        assert am_posts(am, ALERT.rule, after=forgot_at) == []

    run(main())


def test_an_escalation_after_acknowledge_is_sent_once_and_not_repeated() -> None:
    async def main() -> None:
        server = await HookServer().start()
        d, _ = make(
            {
                "receivers": {"hook": {"kind": "webhook", "url": server.url, **FAST}},
                "default_receivers": ["hook"],
                "repeat_interval_seconds": 0.2,
            }
        )
        await d.start()
        d.submit(ALERT)
        d.acknowledge(ALERT.fingerprint)
        d.submit(msgspec.structs.replace(ALERT, severity="critical"))
        d.submit(OTHER)  # marker: repeats are flowing
        await until(lambda: hook_kinds(server, OTHER.fingerprint).count("repeat") >= 3)
        await d.close()
        await server.stop()
        alert = [b for b in server.accepted() if b["fingerprint"] == ALERT.fingerprint]
        assert [(b["kind"], b["severity"]) for b in alert] == [
            ("firing", "warning"),
            ("firing", "critical"),
        ]

    run(main())
