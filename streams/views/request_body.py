"""Reading a POST body with a size limit, for the worker's views.

Faust's aiohttp driver reads a body with ``request.content.read()``, which takes whatever the
client sends: a client could make the worker hold gigabytes. :func:`read_body` stops at
``limit`` bytes (``worker.max_body_bytes``) and the view answers 413 instead.
"""

from __future__ import annotations

from typing import Any

__all__ = ["read_body", "too_large"]

_CHUNK = 64 * 1024


async def read_body(request: Any, limit: int) -> bytes | None:
    """The body, or None when it is (or announces itself as) longer than ``limit``."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(view: Any, limit: int) -> Any:
    """The 413 answer of a view whose body was over ``limit``."""
    return view.json(
        {"error": f"request body over {limit} bytes (worker.max_body_bytes)"}, status=413
    )
