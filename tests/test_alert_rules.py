"""Alert rules: defaults, validation, and the ``alerts`` section of the configuration file."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.alert_rules import (
    AlertRule,
    RuleError,
    format_value,
    merge_rules,
    render_summary,
    validate_rules,
)
from processors.default_alert_rules import default_rules
from streams.config import ConfigError, load_config

WINDOWS = ["5m", "15m", "1h", "today"]


def rule(**fields: object) -> AlertRule:
    base: dict[str, object] = {
        "name": "r",
        "kpi": "abandon_rate",
        "window": "15m",
        "fire": 0.1,
        "clear": 0.05,
    }
    base.update(fields)
    return AlertRule(**base)  # type: ignore[arg-type]


def test_default_rules_are_valid_and_cover_the_issue_kpis() -> None:
    rules = default_rules()
    validate_rules(rules, WINDOWS)
    assert {r.kpi for r in rules} >= {
        "abandon_rate",
        "asa_seconds",
        "service_level",
        "blocked_rate",
        "oldest_wait_seconds",
        "backlog",
        "tickets_past_sla",
    }
    for r in rules:
        assert r.is_past(r.fire + (1e-3 if r.direction == "above" else -1e-3), r.fire)
        if r.window is not None:
            assert r.min_volume > 0, r.name


def test_default_config_has_the_default_rules() -> None:
    assert load_config(None).alerts.effective_rules() == default_rules()


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"kpi": "abandonment"}, "kpi", "unknown KPI 'abandonment'"),
        ({"kpi": "agents"}, "kpi", "breakdown"),
        ({"clear": 0.2}, "clear", "must be <= fire"),
        ({"direction": "below"}, "clear", "must be >= fire"),
        ({"window": "fortnight"}, "window", "not a window"),
        ({"window": "30m"}, "window", "unknown window '30m'"),
        ({"window": None}, "window", "give a window"),
        ({"kpi": "calls_waiting", "fire": 10, "clear": 5}, "window", "live gauge"),
        ({"fire": 10, "clear": 5}, "fire", "fraction in 0..1"),
        ({"name": "has space"}, "name", "letters, digits"),
        ({"queues": []}, "queues", "at least one"),
        ({"volume_kpi": "callz"}, "volume_kpi", "unknown volume"),
        ({"severity": "critical", "escalate_after_seconds": 60}, "escalate_after_seconds", "only"),
        ({"summary": "{title} at {wherever}"}, "summary", "unknown placeholder 'wherever'"),
        ({"kpi": "occupancy", "min_volume": 5}, "volume_kpi", "no natural volume"),
    ],
)
def test_bad_rules_are_refused_with_name_field_and_reason(
    fields: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(RuleError) as caught:
        validate_rules([rule(**{"name": "bad_one", **fields})], WINDOWS)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert caught.value.rule == fields.get("name", "bad_one")


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(RuleError, match="two rules have this name"):
        validate_rules([rule(), rule()], WINDOWS)


def test_merge_replaces_and_disables_defaults_by_name() -> None:
    mine = rule(name="abandon_rate_high", fire=0.2, clear=0.1)
    extra = rule(name="extra")
    merged = merge_rules(default_rules(), [mine, extra], disabled=["backlog_high"])
    names = [r.name for r in merged]
    assert "backlog_high" not in names and names[-1] == "extra"
    assert next(r for r in merged if r.name == "abandon_rate_high").fire == 0.2


def test_value_formatting_and_summaries() -> None:
    assert format_value("abandon_rate", 0.14) == "14 %"
    assert format_value("abandon_rate", 0.125) == "12.5 %"
    assert format_value("asa_seconds", 95.4) == "95 s"
    assert format_value("oldest_wait_seconds", 3 * 3600 + 60) == "3 h 1 min"
    assert format_value("backlog", 12.0) == "12"
    assert format_value("abandon_rate", None) == "n/a"
    r = rule(summary="{rule}: {kpi} {value} vs {threshold}/{clear} ({window}, {severity})")
    assert (
        render_summary(r, "q", 0.2, "critical")
        == "r: abandon_rate 20 % vs 10 %/5 % (15m, critical)"
    )
    today = rule(window="today")
    assert render_summary(today, "q", 0.2, "warning") == (
        "Abandonment on q is 20 % today (threshold 10 %)"
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ccpulse.yaml"
    path.write_text(text)
    return path


def test_config_rule_error_names_file_line_field_and_rule(tmp_path: Path) -> None:
    text = (
        "alerts:\n"
        "  rules:\n"
        "    - name: billing_abandon\n"
        "      kpi: abandon_rate\n"
        "      window: 15m\n"
        "      fire: 0.1\n"
        "      clear: 0.2\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'ccpulse.yaml'}:7: alerts.rules[0].clear: ")
    assert "rule 'billing_abandon'" in message and "must be <= fire" in message


def test_config_type_error_in_a_rule_names_the_rule(tmp_path: Path) -> None:
    text = "alerts:\n  rules:\n    - name: x\n      kpi: abandon_rate\n      fire: high\n"
    with pytest.raises(ConfigError, match=r":5: alerts.rules\[0\].fire: rule 'x': Expected"):
        load_config(write(tmp_path, text))


def test_config_unknown_rule_field(tmp_path: Path) -> None:
    text = "alerts:\n  rules:\n    - name: x\n      kpi: abandon_rate\n      fyre: 1\n"
    with pytest.raises(ConfigError, match=r":5: alerts.rules\[0\].fyre: rule 'x': .*unknown field"):
        load_config(write(tmp_path, text))


def test_default_rule_that_does_not_fit_the_windows_is_reported(tmp_path: Path) -> None:
    text = "engine:\n  windows: [5m, 1h]\nalerts:\n  disable: [asa_high]\n"
    with pytest.raises(ConfigError, match="default rule 'abandon_rate_high': unknown window '15m'"):
        load_config(write(tmp_path, text))
    with pytest.raises(ConfigError, match=r":2: alerts.disable\[0\]: no default rule 'nope'"):
        load_config(write(tmp_path, "alerts:\n  disable: [nope]\n"))


def test_config_with_own_rules(tmp_path: Path) -> None:
    text = (
        "alerts:\n"
        "  use_default_rules: false\n"
        "  rules:\n"
        "    - {name: sales_asa, kpi: asa_seconds, window: 5m, fire: 30, clear: 20,\n"
        "       queues: ['sales-*'], for_seconds: 10, min_volume: 5}\n"
    )
    rules = load_config(write(tmp_path, text)).alerts.effective_rules()
    assert [(r.name, r.queues, r.fire) for r in rules] == [("sales_asa", ["sales-*"], 30.0)]
