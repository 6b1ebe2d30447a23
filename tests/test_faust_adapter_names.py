"""The adapter's check of the private names it relies on (streams/faust_adapter/private_names.py),
against the installed faust, mode and aiokafka."""

from __future__ import annotations

import pytest

from streams.faust_adapter.private_names import (
    PINNED,
    FaustInternalsChanged,
    check_private_names,
    has_name,
    required_names,
)


def test_every_private_name_the_adapter_uses_exists_on_the_installed_versions() -> None:
    required = required_names()
    missing = [
        f"{label}.{name}"
        for label, (owner, names) in required.items()
        for name in names
        if not has_name(owner, name)
    ]
    assert missing == []
    check_private_names(required)  # what importing streams.faust_adapter does


def test_a_missing_name_stops_the_import_with_the_name_and_the_pinned_versions() -> None:
    # Faust's consumer after a release that renamed ``_committed_offset``: an owner lacking
    # exactly one of the names asked for.
    lacking = type("Consumer", (), {"_acked": None, "_read_offset": None})
    with pytest.raises(FaustInternalsChanged) as info:
        check_private_names(
            {"faust.transport.consumer.Consumer": (lacking, ("_acked", "_committed_offset"))}
        )
    message = str(info.value)
    assert "faust.transport.consumer.Consumer._committed_offset" in message
    assert "_acked," not in message and "Consumer._acked" not in message
    for dist, version in PINNED.items():
        assert f"{dist}=={version}" in message


def test_instance_attributes_are_found_in_annotations_or_the_init() -> None:
    import aiokafka
    from faust.transport.consumer import Consumer

    assert has_name(Consumer, "_committed_offset")  # a class annotation
    assert has_name(aiokafka.AIOKafkaConsumer, "_fetch_max_wait_ms")  # assigned in __init__
    assert not has_name(Consumer, "_committed_offsets")
    assert not has_name(aiokafka.AIOKafkaConsumer, "_fetch_max_wait")


def test_the_pins_are_the_installed_versions_and_pyproject_s() -> None:
    import tomllib
    from importlib import metadata
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    pins = set(pyproject["project"]["dependencies"])
    for dist, version in PINNED.items():
        assert metadata.version(dist) == version
        assert f"{dist}=={version}" in pins
