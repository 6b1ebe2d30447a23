"""The dashboards' PromQL with several workers, on a real Prometheus.

Each queue is exported by the worker owning its partition, but during a rebalance two workers
can export the same queue for a scrape or two. Two fixed-content /metrics targets reproduce that
moment exactly (``sales`` on both), and the committed wallboard's queries must still count every
queue once: per-queue tiles one series per queue, totals the sum over distinct queues. The
targets serve fixed text so the expected numbers follow from the data below, not from timing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import GENERATED_DIR
from tests.servers import PrometheusServer, free_port, require_binary

pytestmark = pytest.mark.integration

# worker -> queue -> (calls_waiting, backlog, agents available, agents staffed)
WORKERS: dict[str, dict[str, tuple[int, int, int | None, int]]] = {
    "a": {"billing": (3, 10, 2, 6), "sales": (1, 5, None, 4)},
    "b": {"sales": (1, 5, None, 4), "support": (2, 7, 1, 3)},  # sales: mid-rebalance duplicate
}


def exposition(queues: dict[str, tuple[int, int, int | None, int]]) -> bytes:
    lines = []
    for metric, index in (("calls_waiting", 0), ("backlog", 1), ("agents_staffed", 3)):
        lines.append(f"# TYPE ccpulse_queue_{metric} gauge")
        for queue, values in queues.items():
            lines.append(f'ccpulse_queue_{metric}{{queue="{queue}"}} {values[index]}')
    lines.append("# TYPE ccpulse_queue_agents gauge")
    for queue, values in queues.items():
        if values[2] is not None:  # like the engine: a state nobody is in is not listed
            lines.append(f'ccpulse_queue_agents{{queue="{queue}",state="available"}} {values[2]}')
        lines.append(f'ccpulse_queue_agents{{queue="{queue}",state="on_call"}} 1')
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[PrometheusServer]:
    require_binary("prometheus", "prometheus")
    servers = [serve(exposition(queues)) for queues in WORKERS.values()]
    prom = PrometheusServer(tmp_path, [f"127.0.0.1:{port}" for _, port in servers]).start()
    try:
        deadline = time.monotonic() + 30
        while len(prom.query("ccpulse_queue_backlog")) < 4 and time.monotonic() < deadline:
            time.sleep(0.3)
        yield prom
    finally:
        prom.stop()
        for server, _ in servers:
            server.shutdown()


def wallboard_query(title: str) -> str:
    document = json.loads((GENERATED_DIR / "wallboard.json").read_text())
    (panel,) = [p for p in document["panels"] if p.get("title") == title]
    (target,) = panel["targets"]
    return str(target["expr"])


def distinct() -> dict[str, tuple[int, int, int | None, int]]:
    merged: dict[str, tuple[int, int, int | None, int]] = {}
    for queues in WORKERS.values():
        merged.update(queues)
    return merged


def value(prom: PrometheusServer, expr: str) -> dict[str, float]:
    return {r["metric"].get("queue", ""): float(r["value"][1]) for r in prom.query(expr)}


def test_a_queue_on_two_workers_is_counted_once(prometheus: PrometheusServer) -> None:
    queues = distinct()
    every = "(" + "|".join(sorted(queues)) + ")"
    totals = {
        "Calls waiting, all queues": sum(v[0] for v in queues.values()),
        "Ticket backlog, all queues": sum(v[1] for v in queues.values()),
        "Agents available, all queues": sum(v[2] or 0 for v in queues.values()),
    }
    for title, expected in totals.items():
        got = value(prometheus, wallboard_query(title).replace("$queue", every))
        assert got == {"": expected}, title
    # The naive sum over targets would count sales twice: the data really has the duplicate.
    naive = value(prometheus, "sum(ccpulse_queue_backlog)")[""]
    assert naive == totals["Ticket backlog, all queues"] + queues["sales"][1]

    for title, index in (("Calls waiting", 0), ("Ticket backlog", 1), ("Agents available", 2)):
        expr = wallboard_query(title)
        for queue, values in queues.items():
            got = value(prometheus, expr.replace("$queue", queue))
            # One series per queue; a queue with nobody available shows a real 0.
            assert got == {queue: values[index] or 0}, (title, queue)
