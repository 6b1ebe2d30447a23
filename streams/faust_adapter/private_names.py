"""The private names of faust, mode and aiokafka this package relies on, checked at import.

The adapter reads and writes a few of Faust's internals (there is no public API for them:
the acked offsets its commit reads, the committed and read offsets it keeps, the drain loop
its fetcher runs). A rename upstream would not fail loudly: a ``getattr(x, "_name", {})`` would
quietly return nothing, the lag gauge would lie and the stall watch would go blind. So every
private name is listed here, per owner, and checked once when :mod:`streams.faust_adapter` is
imported; a missing one stops the worker at start with a message naming it and the versions
the adapter was written for (pyproject.toml pins them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import metadata
from typing import Any

__all__ = [
    "PINNED",
    "FaustInternalsChanged",
    "check_private_names",
    "has_name",
    "required_names",
]

PINNED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}
"""The versions whose internals this package was written against (pyproject.toml)."""


class FaustInternalsChanged(ImportError):
    """A private name the adapter relies on is missing from the installed library."""


def required_names() -> dict[str, tuple[Any, tuple[str, ...]]]:
    """{label: (owner, private names)}: everything the adapter touches that is not public."""
    import aiokafka
    from faust.tables import TableManager
    from faust.transport import consumer as faust_consumer
    from faust.transport.drivers import aiokafka as faust_aiokafka
    from faust.web.base import BlueprintManager
    from mode import Service
    from mode.worker import Worker

    return {
        "faust.transport.consumer.Consumer": (
            faust_consumer.Consumer,
            (
                "_drain_messages",  # BatchConsumer's drain loop (batch_fetch.py)
                "_new_offset",  # BatchConsumer's commit offsets (acks.py)
                "_wait_next_records",
                "_add_gap",
                "_to_message",
                "_read_offset",
                "_committed_offset",
                "_acked",
                "_acked_index",
                "_n_acked",
                "_gap",
            ),
        ),
        "faust.transport.drivers.aiokafka.Consumer": (
            faust_aiokafka.Consumer,
            ("_new_consumer_thread",),
        ),
        "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread": (
            faust_aiokafka.AIOKafkaConsumerThread,
            ("_create_worker_consumer",),
        ),
        "faust.web.base.BlueprintManager": (BlueprintManager, ("_enabled",)),
        # PromptTableManager.on_start calls it, PromptWorker overrides it (startup.py).
        "faust.tables.TableManager": (TableManager, ("_update_channels",)),
        "mode.worker.Worker": (Worker, ("_sentinel_task",)),
        "mode.Service": (Service, ("_stopped",)),
        "aiokafka.AIOKafkaConsumer": (aiokafka.AIOKafkaConsumer, ("_fetch_max_wait_ms",)),
    }


def has_name(owner: Any, name: str) -> bool:
    """``name`` is an attribute of ``owner`` (a class): defined on it or a base, declared in
    a class annotation, or assigned to ``self`` in an ``__init__`` (instance attributes that
    only exist once an object is built)."""
    if hasattr(owner, name):
        return True
    for cls in getattr(owner, "__mro__", (type(owner),)):
        if name in getattr(cls, "__annotations__", {}):
            return True
        init = vars(cls).get("__init__")
        code = getattr(init, "__code__", None)
        if code is not None and name in code.co_names:
            return True
    return False


def check_private_names(required: Mapping[str, tuple[Any, Iterable[str]]]) -> None:
    """Raise :class:`FaustInternalsChanged` naming every private name missing from ``required``
    (``{label: (owner, names)}``) and the pinned versions."""
    missing = [
        f"{label}.{name}"
        for label, (owner, names) in required.items()
        for name in names
        if not has_name(owner, name)
    ]
    if not missing:
        return
    installed = ", ".join(f"{dist} {_installed(dist)}" for dist in PINNED)
    pinned = ", ".join(f"{dist}=={version}" for dist, version in PINNED.items())
    raise FaustInternalsChanged(
        f"streams.faust_adapter relies on {', '.join(missing)}, missing from the installed "
        f"libraries ({installed}); it was written for {pinned} (pyproject.toml): install those "
        f"versions, or port streams/faust_adapter/ to the new ones"
    )


def _installed(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"
