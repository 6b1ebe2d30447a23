"""Follow a growing log file like ``tail -F``: appends, rotation by rename, truncation.

:meth:`FileFollower.read_batch` returns the next complete lines and the position after them; the
caller saves that position only once what it made of the lines is safe (acknowledged by Kafka),
and a restarted follower given that position resumes right after it. Nothing here knows about
Kafka or queue_log.

* **Appends.** Only complete lines (ending in ``\\n``) are returned; a line being written stays
  unread until its newline arrives.
* **Rotation by rename** (``queue_log`` -> ``queue_log.1``, a new ``queue_log`` created): the
  file being read keeps its inode, so the follower finishes it (a last line without newline
  counts, since nothing more will be written there), then opens the new file from its start.
  If the follower was stopped across a rotation, it finds the old file by its inode in the same
  directory and finishes it first.
* **Truncation** (the file is shorter than the offset, or the bytes just before the offset
  changed): reading restarts at the beginning of the file.
* **A line over ``max_line_bytes``** (a runaway writer, a binary file under the followed name)
  is not held in memory: it is read through to its newline in chunks, and returned as a
  :class:`LongLine` (its first bytes, its size and SHA-256) for the caller to dead-letter, and
  reading goes on after it. Without a limit such a line would be waited for forever.

``copytruncate`` rotation cannot be followed without loss by anybody (lines written between the
copy and the truncation exist only in the copy); configure rename rotation for queue_log.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from streams.ingest.position import CHECK_BYTES, FilePosition
from streams.logs import log

__all__ = ["Batch", "FileFollower", "LongLine"]

logger = logging.getLogger("ccpulse.ingest.follower")

READ_CHUNK = 1 << 20
LONG_LINE_KEEP = 65_536
"""How much of an over-long line :class:`LongLine` keeps."""


@dataclass
class LongLine:
    """A line over the limit: its number, first bytes, size (without the newline), SHA-256."""

    number: int
    prefix: bytes
    size: int
    sha256: str


@dataclass
class _LongScan:
    """An over-long line being read through, from the follower's offset to ``scanned``."""

    scanned: int
    prefix: bytearray = field(default_factory=bytearray)
    size: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    def add(self, piece: bytes) -> None:
        if len(self.prefix) < LONG_LINE_KEEP:
            self.prefix += piece[: LONG_LINE_KEEP - len(self.prefix)]
        self.size += len(piece)
        self.digest.update(piece)


@dataclass
class Batch:
    lines: list[tuple[int, str]]
    """(line number in its file, text without the newline)."""
    position: FilePosition
    """Where reading continues after these lines."""
    path: str
    """The file the lines came from (the followed path, or the rotated file being finished)."""
    overlong: list[LongLine] = field(default_factory=list)
    """Lines over the limit, not in ``lines``."""


class FileFollower:
    def __init__(
        self,
        path: str,
        start: FilePosition | None = None,
        on_reset: Callable[[str], None] | None = None,
        max_line_bytes: int = 65_536,
    ) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._chunk = max(READ_CHUNK, max_line_bytes + 1)  # a chunk always shows a long line
        self._long: _LongScan | None = None
        self._start = start
        self._on_reset = on_reset or (lambda kind: None)
        self._handle: BinaryIO | None = None
        self._handle_path = path
        self._ident: tuple[int, int] = (0, 0)
        self._offset = 0
        self._line = 0
        self._tail = b""  # the last CHECK_BYTES bytes before _offset
        self._draining = False  # reading a rotated file to its end before the new one

    # --- opening ---------------------------------------------------------------------------

    def _open(self, path: str, offset: int, line: int, tail: bytes) -> bool:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open while following
        except FileNotFoundError:
            return False
        stat = os.fstat(handle.fileno())
        self._handle, self._handle_path = handle, path
        self._ident = (stat.st_dev, stat.st_ino)
        self._offset, self._line, self._tail = offset, line, tail
        return True

    def _open_first(self) -> bool:
        start, self._start = self._start, None
        if start is None:
            return self._open(self.path, 0, 0, b"")
        try:
            stat = os.stat(self.path)
            current: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            current = None
        if current == (start.device, start.inode):
            if not self._open(self.path, 0, 0, b""):
                return False
            self._resume(start)
            return True
        rotated = self._find_inode(start.device, start.inode)
        if rotated is not None and self._open(rotated, 0, 0, b""):
            log(logger, "finishing the rotated file first", file=rotated, offset=start.offset)
            self._draining = True
            self._resume(start)
            return True
        if current is not None:
            log(
                logger,
                "the saved file is gone; starting the current file from its beginning",
                level=logging.WARNING,
                file=self.path,
                saved_inode=start.inode,
            )
            self._on_reset("lost")
        self._start = None
        return self._open(self.path, 0, 0, b"")

    def _resume(self, start: FilePosition) -> None:
        assert self._handle is not None
        size = os.fstat(self._handle.fileno()).st_size
        check = bytes.fromhex(start.check)
        if size >= start.offset and self._bytes_before(start.offset, len(check)) == check:
            self._offset, self._line, self._tail = start.offset, start.line, check
        else:
            log(logger, "file truncated while stopped; reading from its start", file=self.path)
            self._on_reset("truncated")

    def _find_inode(self, device: int, inode: int) -> str | None:
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            entries = list(os.scandir(directory))
        except OSError:
            return None
        for entry in entries:
            try:
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) == (device, inode) and entry.is_file():
                return entry.path
        return None

    def _bytes_before(self, offset: int, count: int) -> bytes:
        assert self._handle is not None
        begin = max(0, offset - count)
        return os.pread(self._handle.fileno(), offset - begin, begin)

    # --- reading ---------------------------------------------------------------------------

    def position(self) -> FilePosition:
        return FilePosition(
            device=self._ident[0],
            inode=self._ident[1],
            offset=self._offset,
            line=self._line,
            check=self._tail.hex(),
        )

    def read_batch(self, max_lines: int) -> Batch | None:
        """The next complete lines (at most ``max_lines``), or None if there is nothing new."""
        if self._handle is None and not self._open_first():
            return None
        for _ in range(4):  # at most: truncation or rotation, a long line, the new content
            assert self._handle is not None
            if self._tail and self._bytes_before(self._offset, len(self._tail)) != self._tail:
                self._reset_to_start("truncated")
            if not self._draining and self._rotated():
                self._mark_rotated()
            if self._long is not None:
                batch = self._read_long(final=False)
                if batch is not None or not self._rotated():
                    return batch
                self._mark_rotated()
                batch = self._read_long(final=True)  # the old file ends the line
                if batch is not None:
                    return batch
                self._switch_to_new_file()
                if self._handle is None:
                    return None
                continue
            data = os.pread(self._handle.fileno(), self._chunk, self._offset)
            batch = self._split(data, max_lines, final=False)
            if batch is not None:
                return batch
            if self._long is not None:
                continue  # an over-long line starts here: read it through
            size = os.fstat(self._handle.fileno()).st_size
            if size < self._offset:
                self._reset_to_start("truncated")
                continue
            if not self._rotated():
                return None
            self._mark_rotated()
            # The old file is complete: a last line without a newline is a whole line.
            batch = self._split(data, max_lines, final=True)
            if batch is not None:
                return batch
            self._switch_to_new_file()
            if self._handle is None:
                return None
        return None

    def _split(self, data: bytes, max_lines: int, final: bool) -> Batch | None:
        lines: list[tuple[int, str]] = []
        consumed = 0
        while len(lines) < max_lines:
            end = data.find(b"\n", consumed)
            if (end if end >= 0 else len(data)) - consumed > self.max_line_bytes:
                if not lines:  # read it through first; the lines before it go out now
                    self._long = _LongScan(scanned=self._offset)
                break
            if end < 0:
                if final and consumed < len(data):
                    raw = data[consumed:]
                    self._line += 1
                    lines.append((self._line, raw.decode("utf-8", errors="replace")))
                    consumed = len(data)
                break
            raw = data[consumed:end]
            self._line += 1
            lines.append((self._line, raw.rstrip(b"\r").decode("utf-8", errors="replace")))
            consumed = end + 1
        if not lines:
            return None
        self._tail = (self._tail + data[:consumed])[-CHECK_BYTES:]
        self._offset += consumed
        return Batch(lines=lines, position=self.position(), path=self._handle_path)

    def _read_long(self, final: bool) -> Batch | None:
        """Go on reading the over-long line at the offset; the batch holding it once its newline
        (or, ``final``, the end of the file) is reached, else None."""
        assert self._handle is not None and self._long is not None
        scan = self._long
        while data := os.pread(self._handle.fileno(), READ_CHUNK, scan.scanned):
            end = data.find(b"\n")
            scan.add(data if end < 0 else data[:end])
            scan.scanned += len(data) if end < 0 else end + 1
            if end >= 0:
                return self._finish_long()
        return self._finish_long() if final and scan.size else None

    def _finish_long(self) -> Batch:
        assert self._long is not None
        scan, self._long = self._long, None
        self._line += 1
        line = LongLine(self._line, bytes(scan.prefix), scan.size, scan.digest.hexdigest())
        self._offset = scan.scanned
        self._tail = self._bytes_before(self._offset, CHECK_BYTES)
        return Batch(lines=[], position=self.position(), path=self._handle_path, overlong=[line])

    def _rotated(self) -> bool:
        if self._draining:
            return True
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return False  # moved away and not recreated yet: keep reading the old one
        return (stat.st_dev, stat.st_ino) != self._ident

    def _mark_rotated(self) -> None:
        """The followed name now is another file: finish this one (under its new name)."""
        if not self._draining:
            self._draining = True
            self._handle_path = self._find_inode(*self._ident) or self._handle_path

    def _switch_to_new_file(self) -> None:
        assert self._handle is not None
        log(logger, "file rotated; following the new file", file=self.path, old=self._handle_path)
        self._handle.close()
        self._handle = None
        self._draining = False
        self._long = None
        self._on_reset("rotated")
        self._open(self.path, 0, 0, b"")

    def _reset_to_start(self, kind: str) -> None:
        log(logger, f"file {kind}; reading from its start", file=self._handle_path)
        self._offset, self._line, self._tail = 0, 0, b""
        self._long = None
        self._on_reset(kind)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
