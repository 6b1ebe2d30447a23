"""``ccpulse broker``: the embedded Kafka-protocol broker in the foreground."""

from __future__ import annotations

import argparse
import signal
import threading


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streams.broker.embedded import EmbeddedBroker

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with EmbeddedBroker(args.host, args.port) as broker:
        print(f"embedded broker serving on {broker.bootstrap} (pid {broker.pid}); Ctrl-C stops it")
        while not stop.wait(0.5):
            if broker.process is not None and broker.process.poll() is not None:
                print(f"broker exited with {broker.process.returncode}")
                return 1
    return 0
