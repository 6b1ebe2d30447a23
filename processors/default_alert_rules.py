"""The alert rules that work out of the box (docs/alerts.md explains each number); the
configuration starts from them unless ``alerts.use_default_rules`` is false."""

from __future__ import annotations

from processors.alert_rules import AlertRule

__all__ = ["default_rules"]


def default_rules() -> list[AlertRule]:
    """Rules that work out of the box; docs/alerts.md explains each number.

    Windowed rules use 15 minutes (long enough to need 20 calls, short enough to react within a
    quarter-hour) and ask the condition to hold for 2-3 minutes; warnings escalate to critical
    after 15 minutes; a resolved alert stays quiet for 5 minutes.
    """
    return [
        AlertRule(
            name="abandon_rate_high",
            kpi="abandon_rate",
            window="15m",
            direction="above",
            fire=0.10,
            clear=0.07,
            for_seconds=120,
            min_volume=20,
            severity="warning",
            escalate_after_seconds=900,
            cooldown_seconds=300,
        ),
        AlertRule(
            name="asa_high",
            kpi="asa_seconds",
            window="15m",
            direction="above",
            fire=60,
            clear=45,
            for_seconds=120,
            min_volume=20,
            severity="warning",
            escalate_after_seconds=900,
            cooldown_seconds=300,
        ),
        AlertRule(
            name="service_level_low",
            kpi="service_level",
            window="15m",
            direction="below",
            fire=0.70,
            clear=0.75,
            for_seconds=180,
            min_volume=20,
            severity="warning",
            escalate_after_seconds=900,
            cooldown_seconds=300,
        ),
        AlertRule(
            name="blocked_rate_high",
            kpi="blocked_rate",
            window="15m",
            direction="above",
            fire=0.05,
            clear=0.02,
            for_seconds=60,
            min_volume=20,
            severity="critical",
            cooldown_seconds=300,
        ),
        AlertRule(
            name="oldest_wait_high",
            kpi="oldest_wait_seconds",
            direction="above",
            fire=300,
            clear=180,
            for_seconds=60,
            severity="warning",
            escalate_after_seconds=600,
            cooldown_seconds=300,
        ),
        AlertRule(
            name="backlog_high",
            kpi="backlog",
            direction="above",
            fire=300,
            clear=250,
            for_seconds=600,
            severity="warning",
            cooldown_seconds=900,
        ),
        AlertRule(
            name="tickets_past_sla",
            kpi="tickets_past_sla",
            direction="above",
            fire=10,
            clear=5,
            for_seconds=300,
            severity="warning",
            escalate_after_seconds=3600,
            cooldown_seconds=900,
        ),
        AlertRule(
            # Staffing (docs/staffing.md#agents_short): Erlang A (else C) agents required for
            # the queue's SL target minus agents logged in. Above 2 means 3 or more missing, so
            # a stray call in an empty night queue (1-2 agents "required") never pages; the 5
            # minutes ride out a shift change.
            name="agents_short",
            kpi="agents_short",
            direction="above",
            fire=2,
            clear=0,
            for_seconds=300,
            severity="warning",
            escalate_after_seconds=1800,
            cooldown_seconds=900,
            summary="{queue} is {value} agents short of its service-level target "
            "(threshold {threshold})",
        ),
    ]
