"""``ccpulse worker`` with a shorter consumer fetch wait: a benchmark experiment, not product code.

Faust's aiokafka driver creates its consumer with ``fetch_max_wait_ms=1500`` hard-coded (no
setting reaches it). Apache Kafka answers a fetch as soon as data is there, so the wait rarely
matters; the embedded broker often holds the fetch for most of it, which shows up as latency.
``python -m bench.run --fetch-wait-ms 100`` starts the worker through this module to measure
that effect. It replaces the consumer class Faust's driver uses with one that overrides just
that argument, then runs the normal command line.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["main"]


def main(argv: list[str]) -> int:
    import faust.transport.drivers.aiokafka as driver

    wait_ms = int(os.environ.get("CCPULSE_BENCH_FETCH_WAIT_MS", "1500"))
    original = driver.aiokafka.AIOKafkaConsumer

    class ShortFetchConsumer(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = wait_ms
            super().__init__(*args, **kwargs)

    driver.aiokafka.AIOKafkaConsumer = ShortFetchConsumer
    from streams.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
