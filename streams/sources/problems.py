"""A line or payload that could not be turned into an event: reported, never fatal."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ParseProblem"]


@dataclass(frozen=True)
class ParseProblem:
    line_number: int
    reason: str
    text: str

    def __str__(self) -> str:
        return f"{self.line_number}: {self.reason}: {self.text[:120]!r}"
