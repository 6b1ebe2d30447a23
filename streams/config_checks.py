"""The checks of a loaded configuration that its types cannot express: window labels, time
zones, calendars (their zone, hours and holidays), a batch wait shorter than the stall wait,
and alert rules that fit the engine's windows.
Each returns (dotted path, reason) of the first problem, for streams/config.py to report with
its line."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from processors.alert_rules import RuleError, validate_rules
from processors.calendars import parse_range
from processors.default_alert_rules import default_rules
from processors.settings import HOURS_RANGE, Calendar, parse_window

if TYPE_CHECKING:
    from streams.config import Config

__all__ = ["validate_semantics"]


def validate_semantics(config: Config) -> tuple[str, str] | None:
    """Checks that types cannot express; returns (path, reason) of the first problem."""
    for index, label in enumerate(config.engine.windows):
        try:
            parse_window(label)
        except ValueError as exc:
            return f"engine.windows[{index}]", str(exc)
    try:
        if parse_window(config.engine.staffing_window) is None:
            return "engine.staffing_window", "must be a rolling window (e.g. 15m), not 'today'"
    except ValueError as exc:
        return "engine.staffing_window", str(exc)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    queues = {"defaults": config.engine.defaults} | {
        f"queues.{name}": q for name, q in config.engine.queues.items()
    }
    for where, settings in queues.items():
        try:
            ZoneInfo(settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            return f"engine.{where}.timezone", f"unknown time zone {settings.timezone!r}"
        if settings.calendar is not None and settings.calendar not in config.engine.calendars:
            known = ", ".join(sorted(config.engine.calendars)) or "none defined"
            return f"engine.{where}.calendar", (
                f"no calendar {settings.calendar!r} in engine.calendars ({known})"
            )
    worker = config.worker
    if worker.batch_within_seconds >= worker.stalled_partition_seconds:
        return "worker.batch_within_seconds", (
            f"must be shorter than worker.stalled_partition_seconds "
            f"({worker.stalled_partition_seconds:g} s): the stall reader would read every "
            f"batch held that long straight from Kafka again (streams/worker/stall_reader.py)"
        )
    for name, calendar in config.engine.calendars.items():
        problem = _calendar_problem(calendar)
        if problem is not None:
            return f"engine.calendars.{name}.{problem[0]}", problem[1]
    return _validate_alerts(config)


def _calendar_problem(calendar: Calendar) -> tuple[str, str] | None:
    """(field, reason) of what the types cannot check in a calendar: its zone, each range's
    order, each holiday's date."""
    from datetime import date
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(calendar.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return "timezone", f"unknown time zone {calendar.timezone!r}"
    for day, ranges in calendar.hours.items():
        for index, text in enumerate(ranges):
            if not re.match(HOURS_RANGE, text):
                return f"hours.{day}[{index}]", f"not a range of hours: {text!r} (HH:MM-HH:MM)"
            start, end = parse_range(text)
            if start >= end:
                return f"hours.{day}[{index}]", f"{text!r} ends before it starts"
    for index, text in enumerate(calendar.holidays):
        try:
            date.fromisoformat(text)
        except ValueError:
            return f"holidays[{index}]", f"not a date: {text!r} (YYYY-MM-DD)"
    return None


def _validate_alerts(config: Config) -> tuple[str, str] | None:
    """Rules name the rule in the reason; a default rule that does not fit the engine (its
    window is not kept) is reported against ``alerts.use_default_rules``."""
    alerts = config.alerts
    defaults = {rule.name for rule in default_rules()} if alerts.use_default_rules else set()
    for index, name in enumerate(alerts.disable):
        if name not in defaults:
            known = ", ".join(sorted(defaults)) or "none: use_default_rules is false"
            return f"alerts.disable[{index}]", f"no default rule {name!r} (defaults: {known})"
    rules = alerts.effective_rules()
    try:
        validate_rules(rules, config.engine.windows)
    except RuleError as exc:
        own = [i for i, rule in enumerate(alerts.rules) if rule.name == exc.rule]
        if own:
            return f"alerts.rules[{own[-1]}].{exc.field}", f"rule {exc.rule!r}: {exc.reason}"
        return "alerts.use_default_rules", (
            f"default rule {exc.rule!r}: {exc.reason} (override or disable it)"
        )
    return None
