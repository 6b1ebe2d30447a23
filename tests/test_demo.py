"""``ccpulse demo`` as a newcomer runs it: broker, worker and simulator from one command.

The README promises live ``ccpulse_`` series for at least three queues within 90 s, values that
move as the simulation runs, and a clean stop on Ctrl-C with no process left behind.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.embedded_broker]

_EVENTS = re.compile(r"^ccpulse_events_total\{[^}]*\} ([0-9.e+]+)$", re.M)
_QUEUE = re.compile(r'^ccpulse_queue_calls_waiting\{queue="([^"]+)"\}', re.M)


def _scrape(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_demo_serves_live_kpis_for_several_queues_and_stops_cleanly(
    tmp_path: Path, output_dir: Path
) -> None:
    web_port = free_port()
    log = (output_dir / "demo.log").open("wb")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "demo",
            "--port",
            str(free_port()),
            "--web-port",
            str(web_port),
            "--duration",
            "300",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{web_port}/metrics"
    try:
        started = time.monotonic()
        queues: set[str] = set()
        body = ""
        while time.monotonic() - started < 90 and len(queues) < 3:
            assert demo.poll() is None, (output_dir / "demo.log").read_text()[-3000:]
            body = _scrape(url)
            queues = set(_QUEUE.findall(body))
            time.sleep(1)
        assert len(queues) >= 3, f"queues after 90 s: {sorted(queues)}"
        first = sum(float(v) for v in _EVENTS.findall(body))
        moved = False
        while time.monotonic() - started < 150 and not moved:
            time.sleep(2)
            moved = sum(float(v) for v in _EVENTS.findall(_scrape(url))) > first
        assert moved, "ccpulse_events_total did not grow while the simulator ran"
        children = _children_of(demo.pid)
        assert len(children) >= 2  # worker and simulator (the broker is a child too)
    finally:
        demo.send_signal(signal.SIGINT)
        status = demo.wait(timeout=60)
        log.close()
    assert status == 0
    text = (output_dir / "demo.log").read_text()
    assert "ccpulse demo is running" in text
    for pid in children:
        assert (
            not Path(f"/proc/{pid}").exists()
            or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        )
