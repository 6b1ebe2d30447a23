"""How a request reaches a receiver: HTTP (aiohttp) and SMTP (stdlib smtplib in a thread).

A sender makes ONE attempt within its timeout and either returns (delivered) or raises
:class:`DeliveryError`, saying whether trying again can help. Retrying, backoff and queueing
are the dispatcher's job (streams/alerting/dispatch.py).

HTTP: any 2xx is success; 5xx, 408, 425, 429 and network errors are worth retrying (a 429's
``Retry-After`` is honoured); another 4xx means the receiver rejects this request and will keep
doing so. SMTP: smtplib is blocking, so each attempt runs in the loop's default executor; a 5xx
SMTP reply is permanent, everything else is retried. aiosmtplib was not added: one mail per
alert does not need it, and the stdlib has no extra dependency to keep up to date.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import aiohttp

from streams.alerting.config import EmailReceiver

__all__ = ["DeliveryError", "EmailSender", "HttpSender"]

_RETRYABLE_STATUS = frozenset({408, 425, 429})


class DeliveryError(Exception):
    """One failed attempt. ``retryable`` is False when repeating it cannot succeed."""

    def __init__(self, reason: str, *, retryable: bool = True, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for webhooks; the backoff applies


class HttpSender:
    """POSTs JSON to one URL through one aiohttp session (connection reuse across alerts)."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float) -> None:
        self.url = url
        self.headers = headers
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, body: Any, key: str = "") -> None:
        """POST ``body``; ``key`` goes in an ``Idempotency-Key`` header (the transition's id,
        the same on every attempt), so a receiver can drop a repeat without reading the body."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {**self.headers, "Idempotency-Key": key} if key else self.headers
        try:
            async with self._session.post(self.url, json=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    await response.read()
                    return
                text = (await response.text(errors="replace"))[:300]
                retryable = response.status >= 500 or response.status in _RETRYABLE_STATUS
                raise DeliveryError(
                    f"HTTP {response.status}: {text.strip()}",
                    retryable=retryable,
                    retry_after=_retry_after(response.headers.get("Retry-After")),
                )
        except DeliveryError:
            raise
        except TimeoutError:
            raise DeliveryError(f"timed out after {self.timeout.total} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class EmailSender:
    """Sends one message per attempt over a fresh SMTP connection (alerts are rare)."""

    def __init__(self, receiver: EmailReceiver) -> None:
        self.receiver = receiver

    def _send_blocking(self, message: EmailMessage) -> None:
        r = self.receiver
        smtp: smtplib.SMTP
        context = ssl.create_default_context(cafile=r.ca_file)
        if r.security == "ssl":
            smtp = smtplib.SMTP_SSL(r.host, r.port, timeout=r.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(r.host, r.port, timeout=r.timeout_seconds)
        with smtp:
            if r.security == "starttls":
                smtp.starttls(context=context)
            if r.username:
                smtp.login(r.username, r.password or "")
            smtp.send_message(message, from_addr=r.from_, to_addrs=r.to)

    async def send(self, body: EmailMessage, key: str = "") -> None:
        """Send ``body`` (its ``X-Ccpulse-Id`` header already carries ``key``)."""
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.run_in_executor(None, self._send_blocking, body),
                # smtplib's timeout bounds each socket operation; this bounds the whole attempt.
                timeout=self.receiver.timeout_seconds,
            )
        except TimeoutError:
            raise DeliveryError(f"timed out after {self.receiver.timeout_seconds} s") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise DeliveryError(
                f"recipients refused: {exc.recipients}",
                retryable=not codes or min(codes) < 500,
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500
            ) from None
        except ssl.SSLCertVerificationError as exc:
            # The server's certificate is not trusted: trying again cannot change that, and
            # sending the mail (and a password) anyway is what TLS is there to prevent.
            raise DeliveryError(f"certificate refused: {exc}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        return None
