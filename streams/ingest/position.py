"""The follower's read position, kept in a small JSON file written atomically.

A position names the file by device and inode (a rotated file keeps its inode under its new
name, so it can still be found and finished) and holds the byte offset after the last line
Kafka acknowledged, the line number there, and a checksum of the bytes just before the offset:
if those bytes are no longer what they were, the file was truncated and rewritten, and reading
restarts at its beginning. ``extra`` carries the mapper's memory (agent states), so a restart
maps the next line exactly as an uninterrupted run would.

The write is atomic (temporary file, fsync, rename, fsync of the directory): after a crash the
file holds either the old or the new position, never half of one.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["CHECK_BYTES", "FilePosition", "load_position", "save_position"]

CHECK_BYTES = 64


@dataclass
class FilePosition:
    device: int
    inode: int
    offset: int
    line: int
    check: str
    """Hex of the (up to CHECK_BYTES) bytes just before ``offset``."""
    extra: dict[str, Any] = field(default_factory=dict)


def save_position(path: str | os.PathLike[str], position: FilePosition) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    data = msgspec.json.encode(asdict(position))
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)
    with contextlib.suppress(OSError):  # not every file system lets a directory be fsync'ed
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_position(path: str | os.PathLike[str]) -> FilePosition | None:
    """The saved position, or None when there is none (a first start)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    data = msgspec.json.decode(raw)
    return FilePosition(
        device=int(data["device"]),
        inode=int(data["inode"]),
        offset=int(data["offset"]),
        line=int(data["line"]),
        check=str(data["check"]),
        extra=dict(data.get("extra") or {}),
    )
