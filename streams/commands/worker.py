"""``ccpulse worker``: run the Faust KPI worker."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import time
from typing import Any

import msgspec

from streams.config import Config, config_from_env
from streams.logs import log

logger = logging.getLogger("ccpulse.worker")

LAYOUT_WAIT_SECONDS = 60.0
"""How long the worker waits for the broker to answer its first metadata request at start."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("worker", help="run the KPI worker (Faust)")
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (overrides config)")
    parser.add_argument(
        "--web-port", type=int, help="HTTP port for /metrics and /api (default 6066)"
    )
    parser.add_argument("--web-host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--data-dir", help="Faust data directory")
    parser.add_argument("--app-id", help="consumer group / app id (default ccpulse)")
    parser.add_argument(
        "--embedded-broker",
        action="store_true",
        help="the broker is the embedded Tansu (one record per producer batch, 6 s sessions)",
    )
    parser.add_argument(
        "--max-future-seconds",
        type=float,
        help="engine.max_future_seconds (ccpulse demo: its simulator runs ahead of the clock)",
    )
    parser.add_argument("--loglevel", default="info")
    parser.set_defaults(func=run)


def apply_overrides(config: msgspec.Struct, args: argparse.Namespace) -> msgspec.Struct:
    """Command-line flags win over the config file."""
    worker_changes = {
        name: value
        for name, value in (
            ("web_port", args.web_port),
            ("web_host", args.web_host),
            ("data_dir", args.data_dir),
            ("app_id", args.app_id),
            ("embedded_broker", True if args.embedded_broker else None),
        )
        if value is not None
    }
    changes: dict[str, object] = {}
    if worker_changes:
        changes["worker"] = msgspec.structs.replace(config.worker, **worker_changes)  # type: ignore[attr-defined]
    if getattr(args, "max_future_seconds", None) is not None:
        changes["engine"] = msgspec.structs.replace(  # type: ignore[attr-defined]
            config.engine, max_future_seconds=max(0.0, args.max_future_seconds)
        )
    if args.bootstrap:
        changes["kafka"] = msgspec.structs.replace(config.kafka, bootstrap=args.bootstrap)  # type: ignore[attr-defined]
    return msgspec.structs.replace(config, **changes) if changes else config


def run(args: argparse.Namespace) -> int:
    from kafka.errors import KafkaError

    from streams.app import build_app
    from streams.broker.access import check_access
    from streams.broker.topics import TopicLayoutError
    from streams.faust_adapter.startup import PromptWorker
    from streams.logs import configure_logging

    config = apply_overrides(config_from_env(args.config), args)
    configure_logging(args.loglevel)
    # Before Faust starts: aiokafka would log the broker's refusal and fail with a bare
    # "Unable to bootstrap" (streams/broker/access.py); this names the cause and exits 2.
    check_access(config.kafka)  # type: ignore[attr-defined]
    try:
        config = with_state_partitions(config)  # type: ignore[arg-type]
    except (TopicLayoutError, KafkaError) as error:
        print(f"ccpulse worker: {error}", file=sys.stderr)
        return 2
    # The KPI state is hundreds of thousands of small containers (pane vectors, timelines) and
    # every batch allocates many short-lived objects: with the default threshold (700) the
    # cyclic collector runs every few events and keeps re-walking that state. Measured with
    # `make bench`: ~25 % more events/s through the engine at 50,000 (docs/performance.md).
    gc.set_threshold(50_000, 20, 100)
    app, _runtime = build_app(config)  # type: ignore[arg-type]
    worker = PromptWorker(app, loglevel=args.loglevel, quiet=True, override_logging=False)
    worker.execute_from_commandline()
    return 0


def with_state_partitions(config: Config) -> Config:
    """``config`` with ``topics.partitions`` set to what the topics in Kafka have (see
    :func:`streams.broker.topics.state_partitions`: the state table must be co-partitioned with the
    source topics), once the topics the worker makes itself exist (:func:`_create_missing`);
    waits up to ``LAYOUT_WAIT_SECONDS`` for a broker that is still starting."""
    from kafka.errors import KafkaError

    from streams.broker.access import check_access
    from streams.broker.settings import kafka_python_kwargs
    from streams.broker.topics import list_topics, state_partitions

    client = kafka_python_kwargs(config.kafka)
    bootstrap = ",".join(client.pop("bootstrap_servers"))
    deadline = time.monotonic() + LAYOUT_WAIT_SECONDS
    while True:
        try:
            existing = list_topics(bootstrap, **client)
            break
        except KafkaError as error:
            # A broker that came up since and refuses the login or TLS settings ends the wait
            # here, naming the cause (KafkaAccessError), instead of after LAYOUT_WAIT_SECONDS.
            check_access(config.kafka)
            if time.monotonic() >= deadline:
                raise
            log(logger, "broker not answering yet", logging.WARNING, error=str(error)[:200])
            time.sleep(2.0)
    partitions = state_partitions(config.topics, config.worker.app_id, existing)
    _create_missing(config, bootstrap, client, partitions, existing)
    if partitions == config.topics.partitions:
        return config
    log(
        logger,
        "topics.partitions differs from the source topics: using theirs",
        logging.WARNING,
        configured=config.topics.partitions,
        source_topics=partitions,
    )
    topics = msgspec.structs.replace(config.topics, partitions=partitions)
    return msgspec.structs.replace(config, topics=topics)


def _create_missing(
    config: Config,
    bootstrap: str,
    client: dict[str, Any],
    partitions: int,
    existing: dict[str, int],
) -> None:
    """Create, in one request, the two topics the worker makes itself when they are missing:

    - the intervals topic, compacted, as Kafka's auto-creation would not make it
      (streams/worker/intervals.py);
    - the state table's changelog, before Faust starts, and wait until it is listed. Faust
      creates it at start too, but a worker whose consumer read the cluster's metadata just
      before another worker created it kept assigning partitions without it: "Ignoring missing
      topic", no changelog partition handed to anyone, and a worker that took over queues then
      recovered none of their state (seen once in ``make test``, tests/test_faults.py,
      kill-early). Created here, the topic is in every worker's first metadata.
    """
    from streams.broker.topics import (
        TopicLayoutError,
        changelog_spec,
        ensure_topics,
        intervals_spec,
        list_topics,
    )

    changelog = changelog_spec(config.topics, config.worker.app_id, partitions)
    missing = [
        spec for spec in (intervals_spec(config.topics), changelog) if spec.name not in existing
    ]
    if not missing:
        return
    created = ensure_topics(bootstrap, missing, **client)
    if changelog not in missing:
        return
    deadline = time.monotonic() + LAYOUT_WAIT_SECONDS
    while list_topics(bootstrap, **client).get(changelog.name) != partitions:
        if time.monotonic() >= deadline:
            raise TopicLayoutError(f"{changelog.name} was not listed with {partitions} partitions")
        time.sleep(0.2)
    log(
        logger,
        "state changelog topic ready",
        topic=changelog.name,
        partitions=partitions,
        created=changelog.name in created,
    )
