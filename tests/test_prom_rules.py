"""``ccpulse rules export``: the Prometheus rules file, checked and unit-tested by promtool."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from processors.alert_rules import AlertRule
from processors.default_alert_rules import default_rules
from streams.alerting.prom_rules import export_rules, glob_to_regex, rule_expr
from tests.servers import require_binary

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "prometheus"


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = require_binary("promtool", "prometheus")
    return subprocess.run([binary, *args], capture_output=True, text=True, cwd=cwd)


def test_shipped_rules_file_is_the_export_of_the_defaults() -> None:
    """deploy/prometheus/ccpulse-alerts.yml is regenerated with
    ``ccpulse rules export -o deploy/prometheus/ccpulse-alerts.yml``."""
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "rules", "export"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (DEPLOY / "ccpulse-alerts.yml").read_text()


def test_promtool_check_rules_on_the_shipped_file() -> None:
    result = promtool("check", "rules", str(DEPLOY / "ccpulse-alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    escalating = sum(r.escalate_after_seconds is not None for r in default_rules())
    assert f"SUCCESS: {len(default_rules()) + escalating} rules found" in result.stdout


def test_promtool_unit_tests_of_the_exported_rules() -> None:
    result = promtool("test", "rules", "ccpulse-alerts.test.yml", cwd=DEPLOY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_custom_rules_export_passes_promtool(tmp_path: Path) -> None:
    rules = [
        AlertRule(
            name="sales_asa",
            kpi="asa_seconds",
            window="5m",
            fire=30,
            clear=20,
            queues=["sales-*", "vip?", "x[!0-9]"],
            for_seconds=30,
            min_volume=5,
            volume_kpi="answered",
            runbook_url="https://wiki.example.com/asa",
            labels={"team": "sales"},
            summary='ASA "{queue}" {value} > {threshold} ({rule}, {severity})',
        ),
        AlertRule(name="waiting", kpi="calls_waiting", fire=10, clear=10),
    ]
    path = tmp_path / "rules.yml"
    path.write_text(export_rules(rules, source="a test"))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    document = yaml.safe_load(path.read_text())
    exported = document["groups"][0]["rules"]
    assert exported[0]["labels"] == {"team": "sales", "severity": "warning", "rule": "sales_asa"}
    assert exported[0]["for"] == "30s"
    assert exported[0]["annotations"]["runbook_url"] == "https://wiki.example.com/asa"
    assert "for" not in exported[1]
    text = path.read_text()
    assert "hysteresis" in text.split("- alert: sales_asa")[0]
    assert "hysteresis" not in text.split("- alert: waiting")[0].split("- alert: sales_asa")[1]


def test_expr_of_a_rule_with_volume_guard() -> None:
    rule = AlertRule(
        name="b", kpi="blocked_rate", window="1h", fire=0.05, clear=0.02, min_volume=20
    )
    assert rule_expr(rule) == (
        'ccpulse_window_blocked_rate{window="1h"} > 0.05\nand on (queue, window)\n'
        '(ccpulse_window_entered{window="1h"} + ccpulse_window_blocked{window="1h"}) >= 20'
    )


@pytest.mark.parametrize("pattern", ["sales-*", "vip?", "x[!0-9]", "a.b", "[ab]*", "*"])
@pytest.mark.parametrize(
    "queue", ["sales-emea", "sales-", "vip1", "vip", "xa", "x1", "a.b", "axb", "b-team", ""]
)
def test_glob_regex_matches_like_fnmatch(pattern: str, queue: str) -> None:
    assert bool(re.fullmatch(glob_to_regex(pattern), queue)) == fnmatch.fnmatchcase(queue, pattern)
