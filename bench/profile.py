"""Sampling profiles of the running worker with py-spy (a pinned dev dependency).

py-spy attaches to the worker by PID from outside, so the worker runs unmodified. Its raw
("collapsed") output is one line per distinct stack with a sample count; :func:`top_frames`
turns that into the functions where time is spent: *self* (the frame on top of the stack) and
*inclusive* (anywhere on the stack).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

__all__ = ["MAIN_THREAD", "ProfileRecorder", "top_frames"]


# Frames every sample of the worker's main thread has: left out of the inclusive ranking.
_BOILERPLATE = (
    "runpy",
    "streams/cli.py",
    "commands/worker.py",
    "mode/worker.py",
    "base_events.py:6",
)
MAIN_THREAD = "streams/cli.py"


def top_frames(collapsed: str, limit: int = 15, only: str | None = None) -> dict[str, Any]:
    """Self and inclusive shares (0..1) of the ``limit`` busiest frames in py-spy raw output
    (``only``: just the stacks that contain that text, e.g. the main thread's entry point)."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit() or (only is not None and only not in stack):
            continue
        samples = int(count)
        frames = [frame.strip() for frame in stack.split(";") if frame.strip()]
        if not frames:
            continue
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            anywhere[frame] += samples
    if total == 0:
        return {"samples": 0, "self": [], "inclusive": []}
    return {
        "samples": total,
        "self": [(frame, n / total) for frame, n in own.most_common(limit)],
        "all_self": [(frame, n / total) for frame, n in own.most_common()],
        "inclusive": [
            (frame, n / total)
            for frame, n in anywhere.most_common()
            if not any(part in frame for part in _BOILERPLATE)
        ][:limit],
    }


class ProfileRecorder:
    """``py-spy record`` of one process for a fixed time, in the background."""

    def __init__(self, pid: int, seconds: float, output: Path, idle: bool = False) -> None:
        self.pid, self.seconds, self.output, self.idle = pid, seconds, output, idle
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> str | None:
        beside = Path(sys.executable).with_name("py-spy")
        return str(beside) if beside.exists() else shutil.which("py-spy")

    def start(self) -> bool:
        binary = self.available()
        if binary is None:
            return False
        self.process = subprocess.Popen(
            [
                binary,
                "record",
                "--pid",
                str(self.pid),
                "--duration",
                str(int(self.seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(self.output),
                *(["--idle"] if self.idle else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return True

    def result(self, limit: int = 15, only: str | None = None) -> dict[str, Any] | None:
        if self.process is None:
            return None
        try:
            self.process.wait(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None
        if not self.output.exists():
            return None
        return top_frames(self.output.read_text(errors="replace"), limit, only)
