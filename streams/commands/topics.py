"""``ccpulse topics create|list``."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("topics", help="create or list ccpulse's Kafka topics")
    parser.add_argument("action", choices=("create", "list"))
    parser.add_argument("--bootstrap", help="override kafka.bootstrap from the config")
    parser.add_argument("--partitions", type=int, help="override topics.partitions")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from streams.broker.access import checked_kafka_python_client
    from streams.broker.topics import ensure_topics, list_topics, topic_specs
    from streams.config import config_from_env

    config = config_from_env(args.config)
    bootstrap, client = checked_kafka_python_client(config.kafka, args.bootstrap)
    if args.action == "create":
        created = ensure_topics(bootstrap, topic_specs(config.topics, args.partitions), **client)
        print("created: " + (", ".join(created) if created else "nothing (all exist)"))
    else:
        for name, partitions in sorted(list_topics(bootstrap, **client).items()):
            print(f"{name}\t{partitions}")
    return 0
