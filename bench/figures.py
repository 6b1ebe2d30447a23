"""Small shared pieces of the performance report: units (MiB, events/s, ms) and the split of a
py-spy profile by owner."""

from __future__ import annotations

from typing import Any

__all__ = ["MB", "OWNERS", "fmt_mb", "fmt_ms", "fmt_rate", "idle_share", "profile_split"]


MB = 1024 * 1024
"""Sizes are printed in MiB (2**20 bytes), the unit RSS tools use."""


OWNERS = (
    ("processors/", "ccpulse engine (processors/)"),
    ("streams/", "ccpulse glue (streams/)"),
    ("faust/", "Faust"),
    ("mode/", "Faust (mode)"),
    ("aiokafka/", "aiokafka"),
    ("kafka/", "aiokafka"),
    ("asyncio/", "asyncio event loop"),
    ("prometheus_client/", "prometheus_client"),
    ("msgspec", "msgspec"),
)


def fmt_mb(value: float | None) -> str:
    return "-" if value is None else f"{value / MB:,.0f} MiB"


def fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} ev/s"


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:,.0f} ms"


def profile_split(profile: dict[str, Any] | None) -> list[tuple[str, float]]:
    """Self time of the profile's busiest frames grouped by owner (Faust, ccpulse, ...)."""
    if not profile or not profile.get("self"):
        return []
    groups: dict[str, float] = {}
    for frame, share in profile.get("all_self", profile["self"]):
        owner = next((name for part, name in OWNERS if part in frame), "other")
        groups[owner] = groups.get(owner, 0.0) + share
    return sorted(groups.items(), key=lambda item: -item[1])


def idle_share(profile: dict[str, Any] | None) -> float | None:
    """Share of samples whose top frame is the event loop's ``select`` (an idle thread), from a
    profile recorded with py-spy's ``--idle``."""
    if not profile or not profile.get("samples"):
        return None
    return sum(
        share for frame, share in profile.get("all_self", []) if "select (selectors" in frame
    )
