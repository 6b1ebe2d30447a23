"""A tiny real webhook receiver for integration tests: ``python -m tests.webhook_sink``.

Each POST is appended (path, selected headers, JSON body) as one line to ``--out`` and flushed
to disk BEFORE the 200 answer, so what the file holds is exactly what was acknowledged, across
kills and restarts of this process (tests/servers.py ``WebhookSink``). ``--fail-first N``
answers 503 to the first N requests (not recorded). ``--hold FILE``: while FILE exists, a POST
is written to ``<out>.held`` and gets no answer until FILE is removed, then a 503 (it was never
accepted): a test holds the receiver's answer to kill the sender mid-delivery.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--hold", default=None)
    args = parser.parse_args()
    lock = threading.Lock()
    state = {"failures_left": args.fail_first}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if args.hold and os.path.exists(args.hold):
                with lock, open(args.out + ".held", "a", encoding="utf-8") as held:
                    held.write(json.dumps({"body": json.loads(body or b"null")}) + "\n")
                    held.flush()
                    os.fsync(held.fileno())
                while os.path.exists(args.hold):
                    time.sleep(0.05)
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with lock:
                if state["failures_left"] > 0:
                    state["failures_left"] -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                record = {
                    "path": self.path,
                    "content_type": self.headers.get("Content-Type", ""),
                    "idempotency_key": self.headers.get("Idempotency-Key", ""),
                    "received_at": time.time(),
                    "body": json.loads(body or b"null"),
                }
                with open(args.out, "a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # readiness probe
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
