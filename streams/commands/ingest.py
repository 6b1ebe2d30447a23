"""``ccpulse ingest asterisk|webhooks``: bring a real source's records into ccpulse's topics.

* ``ingest asterisk --queue-log PATH [--state-file F]`` follows an Asterisk / FreePBX queue_log
  (appends, rotation, truncation) and resumes after a restart where it stopped.
* ``ingest webhooks [--host H --port P]`` receives Twilio TaskRouter, Zendesk and Jira Service
  Management webhooks, checks each vendor's signature, and produces what they mean.

See docs/sources.md for the vendors' side of the configuration.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from streams.logs import configure_logging, log

logger = logging.getLogger("ccpulse.ingest")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("ingest", help="ingest a real source (Asterisk, webhooks)")
    sources = parser.add_subparsers(dest="source", metavar="SOURCE")

    asterisk = sources.add_parser("asterisk", help="follow an Asterisk / FreePBX queue_log")
    asterisk.add_argument("--queue-log", help="path (default: sources.asterisk.queue_log)")
    asterisk.add_argument("--state-file", help="default: sources.asterisk.state_file")
    asterisk.add_argument("--bootstrap", help="Kafka bootstrap (default: from the config)")
    asterisk.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on 127.0.0.1:PORT"
    )
    asterisk.set_defaults(func=run_asterisk)

    webhooks = sources.add_parser("webhooks", help="Twilio / Zendesk / Jira webhook receivers")
    webhooks.add_argument("--host", help="default: sources.webhooks.host (127.0.0.1)")
    webhooks.add_argument("--port", type=int, help="default: sources.webhooks.port (8088)")
    webhooks.add_argument("--bootstrap", help="Kafka bootstrap (default: from the config)")
    webhooks.set_defaults(func=run_webhooks)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _client(config: Any, bootstrap: str | None) -> tuple[str, dict[str, Any]]:
    from streams.broker.access import checked_kafka_python_client

    return checked_kafka_python_client(config.kafka, bootstrap)


def run_asterisk(args: argparse.Namespace) -> int:
    from streams.config import ConfigError, config_from_env
    from streams.ingest.metrics import IngestMetrics
    from streams.ingest.producer import AckedProducer
    from streams.ingest.queue_log_shipper import QueueLogIngest

    configure_logging("INFO")
    try:
        config = config_from_env(args.config)
    except ConfigError as exc:
        print(f"ccpulse ingest asterisk: {exc}", file=sys.stderr)
        return 2
    settings = config.sources.asterisk
    bootstrap, client = _client(config, args.bootstrap)
    metrics = IngestMetrics()
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, "127.0.0.1", registry=metrics.registry)
    producer = AckedProducer(bootstrap, config.topics.deadletter, **client)
    ingest = QueueLogIngest(
        config,
        producer,
        args.queue_log or settings.queue_log,
        args.state_file or settings.state_file,
        metrics,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: ingest.stop())
    log(logger, "following queue_log", file=ingest.queue_log, state_file=ingest.state_file)
    try:
        ingest.run()
    finally:
        producer.close()
    log(logger, "stopped", file=ingest.queue_log)
    return 0


def run_webhooks(args: argparse.Namespace) -> int:
    from streams.config import ConfigError, config_from_env
    from streams.ingest.webhooks import serve

    configure_logging("INFO")
    try:
        config = config_from_env(args.config)
    except ConfigError as exc:
        print(f"ccpulse ingest webhooks: {exc}", file=sys.stderr)
        return 2
    bootstrap, client = _client(config, args.bootstrap)
    hooks = config.sources.webhooks
    return serve(
        config,
        bootstrap,
        client,
        host=args.host or hooks.host,
        port=args.port if args.port is not None else hooks.port,
    )
