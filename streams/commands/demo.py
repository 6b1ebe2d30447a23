"""``ccpulse demo``: the whole pipeline on this machine, no Kafka install and no Docker.

Starts the embedded broker, creates the topics, starts a worker and the simulator as child
processes, prints where to look, and on Ctrl-C (or SIGTERM, or after ``--duration``) stops them
in reverse order, each by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streams.logs import configure_logging, log

logger = logging.getLogger("ccpulse.demo")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("demo", help="run broker + worker + simulator on this machine")
    parser.add_argument("--port", type=int, default=9092, help="embedded broker port")
    parser.add_argument("--web-port", type=int, default=6066, help="worker HTTP port")
    parser.add_argument("--speed", type=float, default=5.0, help="simulated seconds per second")
    parser.add_argument("--scenario", default="normal", choices=("normal", "surge", "outage"))
    parser.add_argument("--duration", type=float, help="stop after this many wall seconds")
    parser.add_argument(
        "--backfill",
        type=float,
        default=1800.0,
        help="seconds of history the simulator sends at once, so windows are not empty at start",
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.set_defaults(func=run)


DEMO_FUTURE_DAYS = 30


def demo_future_seconds(speed: float) -> float:
    """The worker's ``engine.max_future_seconds`` for a demo at ``speed``: a simulation faster
    than real time runs its event time ahead of the wall clock ((speed - 1) seconds per second,
    4 at the default 5x), past the default 300 s bound 75 s after its timeline passes the clock,
    after which the worker would refuse every event as ``future_time`` (docs/kpis.md#time). The
    demo's worker allows 30 days ahead: a week of demo at 5x."""
    return 300.0 if speed <= 1 else DEMO_FUTURE_DAYS * 86_400.0


def _wait_ready(url: str, timeout: float, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with status {worker.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if json.load(response).get("ready"):
                return
        time.sleep(0.5)
    raise RuntimeError(f"the worker was not ready after {timeout:.0f} s ({url})")


def _stop(process: subprocess.Popen[bytes], name: str) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log(logger, "stopped", process=name, pid=process.pid, status=process.returncode)


def run(args: argparse.Namespace) -> int:
    from streams.broker.embedded import EmbeddedBroker
    from streams.broker.topics import ensure_topics, topic_specs
    from streams.config import config_from_env

    configure_logging("INFO")
    config = config_from_env(args.config)
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    broker = EmbeddedBroker(host="127.0.0.1", port=args.port)
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    Path("var").mkdir(exist_ok=True)
    try:
        broker.start()
        log(logger, "embedded broker started", bootstrap=broker.bootstrap, pid=broker.pid)
        ensure_topics(broker.bootstrap, topic_specs(config.topics, partitions=args.partitions))
        cli = [sys.executable, "-m", "streams.cli"]
        if args.config:
            cli += ["--config", args.config]
        worker = subprocess.Popen(
            [
                *cli,
                "worker",
                "--embedded-broker",
                "--bootstrap",
                broker.bootstrap,
                "--web-port",
                str(args.web_port),
                "--data-dir",
                "var/demo-worker",
                "--max-future-seconds",
                str(demo_future_seconds(args.speed)),
            ],
            start_new_session=True,  # stopped by us, in order (see _stop), not by Ctrl-C
        )
        children.append(("worker", worker))
        base = f"http://127.0.0.1:{args.web_port}"
        _wait_ready(f"{base}/ready", 90, worker)
        simulator = subprocess.Popen(
            [
                *cli,
                "simulate",
                "--bootstrap",
                broker.bootstrap,
                "--speed",
                str(args.speed),
                "--scenario",
                args.scenario,
                "--backfill",
                str(args.backfill),
            ],
            start_new_session=True,
        )
        children.append(("simulator", simulator))
        print(
            "\n".join(
                [
                    "",
                    "ccpulse demo is running:",
                    f"  wallboard    {base}/",
                    f"  metrics      {base}/metrics",
                    f"  KPIs (JSON)  {base}/api/kpis",
                    f"  broker       {broker.bootstrap}  (embedded, in memory)",
                    "Press Ctrl-C to stop.",
                    "",
                ]
            ),
            flush=True,
        )
        started = time.monotonic()
        while not stopping:
            if args.duration is not None and time.monotonic() - started >= args.duration:
                break
            for name, process in children:
                if process.poll() is not None:
                    log(
                        logger,
                        "child exited",
                        logging.ERROR,
                        process=name,
                        status=process.returncode,
                    )
                    stopping = True
            time.sleep(0.5)
    finally:
        for name, process in reversed(children):
            _stop(process, name)
        broker.stop()
        log(logger, "embedded broker stopped")
    return 0
