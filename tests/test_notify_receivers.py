"""Receivers as real processes on 127.0.0.1: a webhook receiver killed and restarted during
delivery, email through a real SMTP server (aiosmtpd), and a real Prometheus Alertmanager
(Debian ``prometheus-alertmanager``) delivering our alert, then its resolution, to a webhook."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from prometheus_client import CollectorRegistry

from streams.alerting import Dispatcher, Notification, NotifyConfig
from tests.servers import AlertmanagerServer, WebhookSink, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FAST = {"backoff_initial_seconds": 0.1, "backoff_max_seconds": 0.5, "timeout_seconds": 5}


def alert(starts_at: float) -> Notification:
    return Notification(
        fingerprint="abandon_rate_high/billing",
        rule="abandon_rate_high",
        queue="billing",
        severity="critical",
        status="firing",
        summary="Abandonment on billing is 14 % over 15m (threshold 10 %)",
        runbook_url="https://runbooks.example.com/abandonment",
        value=0.14,
        threshold=0.1,
        starts_at=starts_at,
        labels={"kpi": "abandon_rate", "window": "15m"},
    )


def resolved(firing: Notification) -> Notification:
    return msgspec.structs.replace(firing, status="resolved", ends_at=time.time(), value=0.04)


async def until(predicate: Callable[[], Any], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


def make(notify: dict[str, Any]) -> tuple[Dispatcher, Callable[..., float]]:
    registry = CollectorRegistry()
    dispatcher = Dispatcher(msgspec.convert(notify, NotifyConfig), registry)

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    return dispatcher, sample


def test_webhook_killed_during_delivery_gets_the_alert_once_it_is_back(tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path).start()
    try:

        async def main() -> None:
            d, sample = make(
                {
                    "receivers": {"hook": {"kind": "webhook", "url": sink.url, **FAST}},
                    "default_receivers": ["hook"],
                }
            )
            await d.start()
            firing = alert(time.time())
            d.submit(firing)
            await until(lambda: len(sink.records()) == 1)
            sink.kill()  # SIGKILL: the receiver is gone while the resolution is being sent
            d.submit(resolved(firing))
            await until(
                lambda: sample("ccpulse_alert_notification_failures_total", receiver="hook") >= 3
            )
            assert sample("ccpulse_alert_notifications_pending", receiver="hook") == 1  # kept
            await asyncio.to_thread(sink.start)  # back, on the same port
            await until(
                lambda: (
                    sample("ccpulse_alert_notifications_total", receiver="hook", status="resolved")
                    == 1
                )
            )
            await d.close()

        asyncio.run(main())
        bodies = [r["body"] for r in sink.records()]
        assert [b["status"] for b in bodies] == ["firing", "resolved"]
        assert bodies[1]["fingerprint"] == "abandon_rate_high/billing"
    finally:
        sink.stop()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.content.decode("utf-8", errors="replace")
        self.messages.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_string(content, policy=email.policy.default),
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"ccpulse"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok, handled=False)


def test_email_is_delivered_over_smtp_with_login(tmp_path: Path) -> None:
    mailbox = _Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        receiver = {
            "kind": "email",
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": "ccpulse",
            "from": "ccpulse@example.com",
            "to": ["sup1@example.com", "sup2@example.com"],
            **FAST,
        }

        async def main() -> None:
            d, sample = make(
                {
                    "receivers": {
                        "mail": {**receiver, "password": "s3cret"},
                        "badmail": {**receiver, "password": "wrong"},
                    },
                    "routes": [{"queues": ["billing"], "receivers": ["mail", "badmail"]}],
                }
            )
            await d.start()
            firing = alert(time.time())
            d.submit(firing)
            d.submit(resolved(firing))
            await until(
                lambda: (
                    sample("ccpulse_alert_notifications_total", receiver="mail", status="resolved")
                    == 1
                )
            )
            await until(
                lambda: (
                    sample(
                        "ccpulse_alert_notifications_dropped_total",
                        receiver="badmail",
                        reason="rejected",
                    )
                    == 2
                )
            )
            await d.close()

        asyncio.run(main())
        assert len(mailbox.messages) == 2  # the bad login delivered nothing
        (sender, rcpts, first), (_, _, last) = mailbox.messages
        assert sender == "ccpulse@example.com"
        assert rcpts == ["sup1@example.com", "sup2@example.com"]
        assert first["Subject"] == "[FIRING:critical] " + alert(0).summary
        assert last["Subject"].startswith("[RESOLVED] ")
        assert last["In-Reply-To"] == first["Message-ID"]
        assert "Queue:      billing" in first.get_content()
    finally:
        controller.stop()


def test_real_alertmanager_delivers_firing_then_resolved(tmp_path: Path) -> None:
    sink = WebhookSink(tmp_path / "sink").start()
    alertmanager = AlertmanagerServer(tmp_path / "am", sink.url)
    try:
        alertmanager.start()

        def am_notifications(status: str) -> list[dict[str, Any]]:
            return [r["body"] for r in sink.records() if r["body"]["status"] == status]

        async def main() -> None:
            d, sample = make(
                {
                    "receivers": {
                        "am": {
                            "kind": "alertmanager",
                            "url": alertmanager.url,
                            "resend_interval_seconds": 1,
                            "generator_url": "http://127.0.0.1:6066/api/kpis",
                            **FAST,
                        }
                    },
                    "default_receivers": ["am"],
                }
            )
            await d.start()
            firing = alert(time.time())
            d.submit(firing)
            await until(lambda: am_notifications("firing"))
            # several re-posts while it fires: Alertmanager must not page again for them
            await until(
                lambda: (
                    sample("ccpulse_alert_notifications_total", receiver="am", status="repeat") >= 2
                )
            )
            held = await asyncio.to_thread(alertmanager.alerts)
            assert [a["labels"]["alertname"] for a in held] == ["abandon_rate_high"]
            assert held[0]["status"]["state"] == "active"
            d.submit(resolved(firing))
            await until(lambda: am_notifications("resolved"))
            await d.close()

        asyncio.run(main())
        fired = am_notifications("firing")
        assert len(fired) == 1  # delivered once, despite the re-posts
        delivered = fired[0]["alerts"][0]
        assert delivered["labels"] == {
            "alertname": "abandon_rate_high",
            "queue": "billing",
            "severity": "critical",
            "kpi": "abandon_rate",
            "window": "15m",
        }
        assert delivered["annotations"]["summary"] == alert(0).summary
        assert delivered["annotations"]["runbook_url"] == "https://runbooks.example.com/abandonment"
        assert delivered["generatorURL"] == "http://127.0.0.1:6066/api/kpis"
        ended = am_notifications("resolved")[0]["alerts"][0]
        assert ended["status"] == "resolved"
        assert ended["labels"]["alertname"] == "abandon_rate_high"
    finally:
        alertmanager.stop()
        sink.stop()
