"""Who may see which queues, and act on their alerts: the ``access:`` section of the config.

Each token (from the environment) maps to queue patterns and actions (``read``, ``ack``,
``silence``, ``admin``). A request shows its token as ``Authorization: Bearer <token>``, or, for
the wallboard, in the ``ccpulse_token`` cookie that ``POST /login`` sets once (``HttpOnly``: no
script reads it; ``SameSite=Strict``: no other site's page sends it). Tokens are compared in
constant time (``hmac.compare_digest``, every token each time); a refused request is answered 401
and logged with its path and address, never with the token.

Without tokens (no ``access:`` section), :meth:`Access.grant` gives everyone read access to
every queue, as before; ack and silence then keep needing ``worker.api_token``.
"""

from __future__ import annotations

import fnmatch
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from streams.config import AccessConfig
from streams.logs import log
from streams.views.worker_view import WorkerView

__all__ = ["COOKIE", "Access", "Grant", "access_of"]

logger = logging.getLogger("ccpulse.access")

COOKIE = "ccpulse_token"


@dataclass(frozen=True)
class Grant:
    """What one token may do."""

    name: str
    queues: tuple[str, ...]
    actions: frozenset[str]

    def may(self, action: str, queue: str) -> bool:
        """Whether this token may ``action`` on ``queue`` (for a silence: a queue pattern, which
        must be one of the token's patterns or a name they match)."""
        if "admin" in self.actions:
            return True
        if action not in self.actions:
            return False
        if queue in self.queues:
            return True
        if action == "silence" and any(c in queue for c in "*?["):
            # A pattern is not a name: "client*-*" matches the grant "client?-*" as a string
            # yet covers queues the grant does not. Only the token's own patterns pass.
            return False
        return any(fnmatch.fnmatchcase(queue, p) for p in self.queues)

    def readable(self, queues: Iterable[str]) -> list[str]:
        return [queue for queue in queues if self.may("read", queue)]


OPEN = Grant("anyone", ("*",), frozenset({"read"}))
"""No ``access:`` section: read everything (ack and silence: ``worker.api_token``)."""


class Access:
    def __init__(self, config: AccessConfig) -> None:
        self.enabled = bool(config.tokens)
        self._tokens = [
            (t.token.encode(), Grant(t.name, tuple(t.queues), frozenset(t.actions)))
            for t in config.tokens
        ]
        self._metrics_token = config.metrics_token

    def token_of(self, request: Any) -> str | None:
        header = request.headers.get("Authorization") or ""
        if header.startswith("Bearer "):
            return str(header[len("Bearer ") :])
        cookie = request.cookies.get(COOKIE)
        return str(cookie) if cookie else None

    def grant_for(self, token: str | None) -> Grant | None:
        """The grant of ``token`` (every token compared, in constant time); None: no match."""
        if not self.enabled:
            return OPEN
        found = None
        given = (token or "").encode()
        for expected, grant in self._tokens:
            if hmac.compare_digest(given, expected) and found is None:
                found = grant
        return found

    def grant(self, request: Any) -> Grant | None:
        """The request's grant, or None (then answer :meth:`refused`)."""
        return self.grant_for(self.token_of(request))

    def metrics_allowed(self, request: Any) -> bool:
        if not self._metrics_token:
            return True
        header = request.headers.get("Authorization") or ""
        given = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        return hmac.compare_digest(given.encode(), self._metrics_token.encode())

    def refused(self, view: Any, request: Any, reason: str, status: int = 401) -> Any:
        """401 (or 403: a valid token, not allowed there), logged without the token."""
        log(
            logger,
            "request refused",
            logging.WARNING,
            path=str(getattr(request, "path", "")),
            remote=str(getattr(request, "remote", "")),
            status=status,
            reason=reason,
        )
        headers = {"WWW-Authenticate": 'Bearer realm="ccpulse"'} if status == 401 else {}
        return view.json({"error": reason}, status=status, headers=headers)


def access_of(runtime: WorkerView) -> Access:
    """The worker's :class:`Access` (built once from ``runtime.config.access``)."""
    access = getattr(runtime, "access", None)
    if access is None:
        config = getattr(runtime.config, "access", None) or AccessConfig()
        access = Access(config)
        runtime.access = access
    return access
