"""Real Faust objects for the adapter's unit tests (streams/faust_adapter/).

The adapter reads and writes private names of Faust's consumer; a fake that copies those names
would stay green after a rename upstream. These are the library's own objects, built by the
worker's own app (streams.app.build_app) and never started: their bookkeeping (committed, read
and acked offsets, gap intervals) is Faust's, set up by Faust's ``__init__``.
"""

from __future__ import annotations

import functools
from typing import Any

import faust
from faust.types.tuples import TP

from streams.config import load_config


@functools.cache
def worker_app() -> faust.App:
    """The worker's Faust app (default config), built once per test process."""
    from streams.app import build_app

    return build_app(load_config(None))[0]


async def _ignore(*_: Any, **__: Any) -> None: ...


def worker_consumer(committed: dict[TP, int | None] | None = None) -> Any:
    """A fresh consumer of the worker's app, as Faust builds it (its transport's class), with
    ``committed`` as the offsets Faust found committed."""
    consumer = worker_app().transport.create_consumer(
        callback=_ignore, on_partitions_revoked=_ignore, on_partitions_assigned=_ignore
    )
    for tp, offset in (committed or {}).items():
        consumer._committed_offset[tp] = offset
    return consumer
