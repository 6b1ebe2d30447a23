"""Email over STARTTLS against a real SMTP server (aiosmtpd) on 127.0.0.1 whose certificate the
test makes (openssl): trusted through the receiver's ``ca_file`` the mail is delivered, with
the login only after TLS; an untrusted certificate is refused at once (never retried, no mail,
no password sent)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.servers import free_port
from tests.test_notify_receivers import FAST, _authenticator, _Mailbox, alert, make, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signs: (ca.pem, server.pem, server.key)."""
    ca_key, ca, key, csr, cert = (
        directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    commands = [
        f"req -x509 -newkey rsa:2048 -nodes -days 2 -keyout {ca_key} -out {ca}",
        f"req -newkey rsa:2048 -nodes -keyout {key} -out {csr}",
        f"x509 -req -in {csr} -CA {ca} -CAkey {ca_key} -CAcreateserial -days 2 -out {cert} "
        f"-extfile {extensions}",
    ]
    subjects = [["-subj", "/CN=ccpulse test CA"], ["-subj", "/CN=127.0.0.1"], []]
    for command, subject in zip(commands, subjects, strict=True):
        subprocess.run(["openssl", *command.split(), *subject], check=True, capture_output=True)
    return ca, cert, key


class _TlsMailbox(_Mailbox):
    """Also records whether each mail came over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.over_tls: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.over_tls.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)


def run_server(tmp_path: Path) -> tuple[Controller, _TlsMailbox, int, Path]:
    ca, cert, key = make_certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = _TlsMailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,  # no mail, no login before STARTTLS
        authenticator=_authenticator,
    )
    controller.start()
    return controller, mailbox, port, ca


def receiver(port: int, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "starttls",
        "username": "ccpulse",
        "password": "s3cret",
        "from": "ccpulse@example.com",
        "to": ["sup@example.com"],
        **FAST,
        **extra,
    }


def test_email_is_delivered_over_starttls_to_a_server_the_ca_file_trusts(tmp_path: Path) -> None:
    controller, mailbox, port, ca = run_server(tmp_path)
    try:

        async def main() -> None:
            d, sample = make(
                {
                    "receivers": {"mail": receiver(port, ca_file=str(ca))},
                    "default_receivers": ["mail"],
                }
            )
            await d.start()
            d.submit(alert(1_700_000_000.0))
            await until(
                lambda: (
                    sample("ccpulse_alert_notifications_total", receiver="mail", status="firing")
                    == 1
                )
            )
            await d.close()

        asyncio.run(main())
        assert mailbox.over_tls == [True]
        ((_, rcpts, message),) = mailbox.messages
        assert rcpts == ["sup@example.com"]
        assert message["Subject"] == "[FIRING:critical] " + alert(0).summary
    finally:
        controller.stop()


def test_an_untrusted_certificate_is_refused_and_not_retried(tmp_path: Path) -> None:
    controller, mailbox, port, _ = run_server(tmp_path)
    try:

        async def main() -> None:
            # The system's trust store does not know the test's CA.
            d, sample = make({"receivers": {"mail": receiver(port)}, "default_receivers": ["mail"]})
            await d.start()
            d.submit(alert(1_700_000_000.0))
            await until(
                lambda: (
                    sample(
                        "ccpulse_alert_notifications_dropped_total",
                        receiver="mail",
                        reason="rejected",
                    )
                    == 1
                )
            )
            assert sample("ccpulse_alert_notification_failures_total", receiver="mail") == 1
            await d.close()

        asyncio.run(main())
        assert mailbox.messages == []
    finally:
        controller.stop()
