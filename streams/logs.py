"""Structured log lines: ``ts=... level=info logger=ccpulse.worker msg="..." key=value``.

One line per event, key=value pairs, so a human can read it and a log shipper can parse it
without a JSON decoder. Use ``log(logger, "msg", key=value)`` or the standard logging calls
with ``extra={"kv": {...}}``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

__all__ = ["LIBRARY_LOGGERS", "configure_logging", "kv", "log"]


def _quote(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\t\n'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


def kv(**fields: Any) -> str:
    """Render fields as ``k=v`` pairs, quoting values that need it."""
    return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = (
            f"ts={stamp}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f"logger={record.name} msg={_quote(record.getMessage())}"
        )
        extra = getattr(record, "kv", None)
        if extra:
            line += " " + kv(**extra)
        if record.exc_info:
            line += " exc=" + _quote(self.formatException(record.exc_info))
        return line


LIBRARY_LOGGERS = ("kafka", "aiokafka", "faust", "mode", "aiohttp.access")
"""Loggers of the libraries we drive. At INFO they print every connection, metadata refresh and
service start (hundreds of lines a minute), which buries ccpulse's own lines; they log at
WARNING unless ``CCPULSE_LIBRARY_LOGLEVEL`` says otherwise (e.g. ``INFO`` or ``DEBUG``)."""


RECOVERY_LOGGER = "faust.tables.recovery"
"""Faust's table recovery logs a dozen lines per rebalance, among them when it seeks the source
partitions to their committed offsets and when the worker is ready again: kept at INFO, so a
worker that stops consuming after a rebalance shows how far its recovery got."""


def configure_logging(level: str | int = "INFO") -> None:
    """Send every logger's records to stderr as key=value lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if isinstance(level, int) else level.upper())
    library_level = os.environ.get("CCPULSE_LIBRARY_LOGLEVEL", "WARNING").upper()
    if root.level <= logging.DEBUG:
        library_level = "DEBUG"
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
    if logging.getLevelName(library_level) > logging.INFO:
        logging.getLogger(RECOVERY_LOGGER).setLevel(logging.INFO)


def log(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``msg`` with structured fields."""
    logger.log(level, msg, extra={"kv": fields})
