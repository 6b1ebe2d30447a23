"""processors/backtest_scoring.py: scoring episodes against incidents, and grid expansion."""

from __future__ import annotations

import pytest

from processors.alert_rules import AlertRule
from processors.backtest_scoring import Episode, Incident, expand_grid, parse_grid, score

RULE = AlertRule(name="abandon_rate_high", kpi="abandon_rate", window="15m", fire=0.10, clear=0.07)


def test_pages_firing_time_and_flaps() -> None:
    episodes = [
        Episode("a", 100.0, 200.0),
        Episode("a", 500.0, 600.0),  # 300 s after the previous resolve: a flap
        Episode("a", 5000.0, None),  # still firing at the end (6000): 1000 s
        Episode("b", 100.0, 400.0),
    ]
    result = score("abandon_rate_high", episodes, 6000.0, flap_window=900.0)
    assert result.pages == 4
    assert result.firing_seconds == 100 + 100 + 1000 + 300
    assert result.flaps == 1
    assert result.incidents == 0 and result.false_pages == 0  # no incidents: nothing to judge


def test_detection_delay_missed_and_false_pages() -> None:
    incidents = [
        Incident("a", 1000.0, 2000.0, "surge"),
        Incident("a", 8000.0, 9000.0, "outage"),
        Incident("b", 1000.0, 2000.0, "elsewhere", rules=("other_rule",)),
    ]
    episodes = [
        Episode("a", 1240.0, 2500.0),  # detects the surge 240 s in
        Episode("a", 4000.0, 4100.0),  # nothing was going on: a false page
        Episode("b", 1500.0, 1600.0),  # b's incident is not this rule's business: false page
    ]
    result = score("abandon_rate_high", episodes, 10000.0, incidents)
    assert result.incidents == 2
    assert (result.detected, result.missed) == (1, 1)
    assert result.delays == [240.0]
    assert result.missed_incidents == ["outage"]
    assert result.false_pages == 2


def test_an_alert_already_firing_detects_with_no_delay() -> None:
    result = score("r", [Episode("a", 500.0, 1500.0)], 3000.0, [Incident("a", 1000.0, 2000.0)])
    assert result.detected == 1 and result.delays == [0.0] and result.false_pages == 0


def test_grace_lets_a_late_page_count() -> None:
    incidents = [Incident("a", 1000.0, 2000.0)]
    late = [Episode("a", 2100.0, 2200.0)]
    assert score("r", late, 3000.0, incidents).missed == 1
    graced = score("r", late, 3000.0, incidents, grace=300.0)
    assert graced.detected == 1 and graced.delays == [1100.0] and graced.false_pages == 0


def test_grid_parsing_and_expansion_keeps_the_hysteresis_band() -> None:
    grid = parse_grid(["abandon_rate.fire=0.08,0.10,0.12"])
    assert grid == {"abandon_rate": {"fire": [0.08, 0.10, 0.12]}}
    other = AlertRule(name="asa_high", kpi="asa_seconds", window="15m", fire=60, clear=45)
    candidates = expand_grid([RULE, other], grid)
    assert [c.label for c in candidates] == [
        "fire=0.08",
        "fire=0.1",
        "fire=0.12",
        "as configured",
    ]
    assert [round(c.rule.clear, 4) for c in candidates[:3]] == [0.05, 0.07, 0.09]
    assert all(c.rule.name == "abandon_rate_high" for c in candidates[:3])
    both = expand_grid(
        [RULE], parse_grid(["abandon_rate_high.fire=0.1,0.2; abandon_rate.clear=0.05"])
    )
    assert [(c.rule.fire, c.rule.clear) for c in both] == [(0.1, 0.05), (0.2, 0.05)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("abandon_rate=0.1", "RULE_OR_KPI.PARAM"),
        ("abandon_rate.colour=1", "cannot vary 'colour'"),
        ("abandon_rate.fire=a,b", "must be numbers"),
        ("abandon_rate.fire=", "at least one value"),
    ],
)
def test_bad_grids_are_explained(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_grid([spec])


def test_a_grid_naming_no_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rule or KPI 'asa_seconds'"):
        expand_grid([RULE], parse_grid(["asa_seconds.fire=30"]))
