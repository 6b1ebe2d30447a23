"""Each vendor's webhook signature, computed exactly as the vendor documents it.

* **Twilio** (``X-Twilio-Signature``): HMAC-SHA1, keyed with the account's Auth Token, of the
  full URL Twilio requested followed by every POST parameter name and value concatenated, the
  parameters sorted by name; base64. Twilio's own libraries also accept the URL with the
  default port added or removed, and so do we.
* **Zendesk** (``X-Zendesk-Webhook-Signature``): base64 of HMAC-SHA256, keyed with the
  webhook's signing secret, of ``X-Zendesk-Webhook-Signature-Timestamp`` + the raw body.
* **Jira** (``X-Hub-Signature``, WebSub style): ``sha256=`` + hex HMAC-SHA256 of the raw body
  keyed with the webhook's secret; or, for senders that cannot sign, a shared token header.

Comparisons are constant-time, and made on bytes: a header is whatever the sender put there
(aiohttp hands non-UTF-8 bytes over as surrogates), and a value that is not ASCII is simply a
signature that does not match, never an error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable

__all__ = [
    "jira_signature",
    "twilio_signature",
    "verify_jira",
    "verify_twilio",
    "verify_zendesk",
    "zendesk_signature",
]


def _raw(text: str) -> bytes:
    """The bytes a header or secret stands for (non-UTF-8 header bytes come as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(_raw(expected), _raw(given))


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(_raw(auth_token), _raw(payload), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with its scheme's default port added or removed."""
    parts = urllib.parse.urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    if parts.port is None:
        netloc = f"{prefix}{host}:{default}"
    elif parts.port == default:
        netloc = prefix + host
    else:
        return variants
    variants.append(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))
    return variants


def verify_twilio(
    auth_token: str, url: str, params: Iterable[tuple[str, str]], signature: str | None
) -> bool:
    if not signature:
        return False
    items = list(params)
    return any(
        _same(twilio_signature(auth_token, candidate, items), signature)
        for candidate in _url_variants(url)
    )


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(_raw(secret), _raw(timestamp) + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_zendesk(secret: str, timestamp: str | None, body: bytes, signature: str | None) -> bool:
    if not signature or timestamp is None:
        return False
    return _same(zendesk_signature(secret, timestamp, body), signature)


def jira_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(_raw(secret), body, hashlib.sha256).hexdigest()


def verify_jira(
    secret: str | None,
    token: str | None,
    body: bytes,
    hub_signature: str | None,
    token_value: str | None,
) -> bool:
    """True when either configured check passes: the body's HMAC or the shared token."""
    if secret and hub_signature:
        method, _, _ = hub_signature.partition("=")
        if method.lower() == "sha256" and _same(
            jira_signature(secret, body), "sha256=" + hub_signature.partition("=")[2].lower()
        ):
            return True
    if token and token_value:
        return _same(token, token_value)
    return False
