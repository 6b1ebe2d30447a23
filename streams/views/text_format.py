"""Prometheus text format, written by hand where prometheus_client's ``generate_latest`` would
hold the event loop too long: the same bytes, a line at a time, so a page of 1,000 queues can
be written in slices between batches (streams/views/exposition.py for the KPI families,
streams/views/agent_metrics.py for the agent ones). tests/test_exposition.py and
tests/test_agent_metrics.py compare what is written here with ``generate_latest``'s bytes,
hostile label values included."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.utils import floatToGoString

__all__ = ["SampleWriter", "family_header", "label_value", "number"]


def number(value: float) -> str:
    """``floatToGoString(value)``, twice as fast: ``repr`` is what it returns but for infinities,
    NaN and positive values of 7 digits or more before the point (tests/test_exposition.py)."""
    text = repr(value)
    if "n" in text or (value > 0 and text.find(".") > 6):
        return floatToGoString(value)
    return text


def label_value(value: str) -> str:
    """A label value escaped as the text format wants (backslash, newline, double quote)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class _One:
    """A collector of one family, for prometheus_client to write that family's header."""

    def __init__(self, metric: Any) -> None:
        self._metric = metric

    def collect(self) -> Iterable[Any]:
        yield self._metric


def family_header(metric: Any) -> str:
    """``# HELP``/``# TYPE`` of ``metric`` (a family with no samples), written by
    prometheus_client itself."""
    return generate_latest(_One(metric)).decode()


class SampleWriter:
    """Writes the samples of one family whose label names are ``labelnames``, given the label
    values in that order: prometheus_client sorts the labels by name, so this does too."""

    __slots__ = ("_keys", "_name", "_order")

    def __init__(self, name: str, labelnames: Sequence[str]) -> None:
        self._name = name
        self._order = sorted(range(len(labelnames)), key=lambda index: labelnames[index])
        self._keys = [labelnames[index] for index in self._order]

    def line(self, values: Sequence[str], value: float) -> str:
        """One sample's line: ``values`` are the label values in the order of ``labelnames``."""
        labels = ",".join(
            f'{key}="{label_value(values[index])}"'
            for key, index in zip(self._keys, self._order, strict=True)
        )
        return f"{self._name}{{{labels}}} {number(float(value))}\n"
