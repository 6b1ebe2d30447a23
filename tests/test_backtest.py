"""``ccpulse backtest`` on a history whose right answer is known by construction.

Four hours of one queue, a call every 20 s answered after 10 s, except:

* baseline: one call in 25 abandons after 40 s (4 %: 1-2 abandons among the ~45 exits of a
  15-minute window, at most 4.4 %);
* noise at 1:00-1:05: two extra abandons (a 15-minute window then holds 3-4 abandons of ~45
  exits: 6.7-8.9 %), annoying but not an incident;
* the surge at 2:00-2:30 (the labelled incident): every second call abandons (up to 50 %);
* quiet night at 3:00-4:00: a call every 5 minutes, and from 3:15 on every second one abandons
  (50 % of 3 exits a window: far below the 20 calls of ``min_volume``).

So the default abandonment rule (fire above 10 % over 15 min for 2 min, at least 20 exits) must
page exactly once, for the surge; at 6 % it also pages for the noise (a false page); at 60 % it
misses the surge. The grid must show all three.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from processors.backtest_scoring import Incident, expand_grid, parse_grid
from processors.default_alert_rules import default_rules
from processors.events import CallAbandoned, CallAnswered, CallEntered, Event
from processors.settings import EngineSettings
from streams.cli import main
from streams.offline.backtest import run_backtest

BASE = datetime(2026, 11, 22, 10, 0, tzinfo=UTC).timestamp()
SURGE = Incident("billing", BASE + 7200, BASE + 9000, "surge")


def history() -> list[Event]:
    events: list[Event] = []
    n = 0

    def call(t: float, abandons: bool) -> None:
        nonlocal n
        n += 1
        call_id = f"c{n}"
        when = datetime.fromtimestamp(BASE + t, UTC)
        events.append(CallEntered(id=f"e{n}", time=when, queue="billing", call_id=call_id))
        if abandons:
            leave = datetime.fromtimestamp(BASE + t + 40, UTC)
            events.append(CallAbandoned(id=f"x{n}", time=leave, queue="billing", call_id=call_id))
        else:
            leave = datetime.fromtimestamp(BASE + t + 10, UTC)
            events.append(CallAnswered(id=f"x{n}", time=leave, queue="billing", call_id=call_id))

    for i in range(3 * 180):  # 0:00-3:00, every 20 s
        t = 20.0 * i
        noise = t in (3660.0, 3780.0)
        surge = 7200 <= t < 9000 and i % 2 == 0
        call(t, abandons=i % 25 == 12 or noise or surge)
    for j in range(12):  # 3:00-4:00, every 5 minutes
        t = 10800.0 + 300 * j
        call(t, abandons=t >= 11700 and j % 2 == 1)
    return events


def abandon_rule_candidates(grid: list[str]) -> list:  # type: ignore[type-arg]
    rules = [r for r in default_rules() if r.name == "abandon_rate_high"]
    return expand_grid(rules, parse_grid(grid))


def test_default_rule_catches_the_surge_and_ignores_noise_and_the_quiet_night() -> None:
    result = run_backtest(
        history(), EngineSettings(), abandon_rule_candidates([]), incidents=[SURGE]
    )
    [scored] = result.candidates
    assert scored.score.pages == 1
    assert scored.score.detected == 1 and scored.score.missed == 0
    assert scored.score.false_pages == 0 and scored.score.flaps == 0
    [episode] = scored.episodes
    # The 15-minute rate passes 10 % a few minutes into the surge, then must hold for 2 min.
    delay = episode.start - SURGE.start
    assert 120 <= delay <= 600
    assert episode.end is not None and SURGE.end < episode.end < SURGE.end + 1800


def test_the_report_changes_as_the_grid_changes() -> None:
    candidates = abandon_rule_candidates(["abandon_rate.fire=0.06,0.10,0.60"])
    result = run_backtest(history(), EngineSettings(), candidates, incidents=[SURGE])
    by_fire = {r.candidate.rule.fire: r.score for r in result.candidates}
    low, default, high = by_fire[0.06], by_fire[0.10], by_fire[0.60]
    assert (low.pages, low.false_pages, low.detected) == (2, 1, 1)  # the noise pages too
    assert (default.pages, default.false_pages, default.detected) == (1, 0, 1)
    assert (high.pages, high.missed) == (0, 1)  # never reaches 60 %: the surge is missed
    assert low.delays[0] <= default.delays[0]  # a lower threshold sees the surge no later
    assert low.firing_seconds > default.firing_seconds


def write_history(path: Path) -> None:
    encoder = msgspec.json.Encoder()
    path.write_bytes(b"\n".join(encoder.encode(e) for e in history()) + b"\n")


def test_cli_table_json_and_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], output_dir: Path
) -> None:
    history_file = tmp_path / "history.jsonl"
    write_history(history_file)
    incidents = tmp_path / "incidents.yaml"
    incidents.write_text(
        "- queue: billing\n  name: surge\n"
        "  start: 2026-11-22T12:00:00Z\n  end: 2026-11-22T12:30:00Z\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: abandon_rate_high\n    kpi: abandon_rate\n    window: 15m\n"
        "    fire: 0.10\n    clear: 0.07\n    for_seconds: 120\n    min_volume: 20\n"
    )
    chart = output_dir / "backtest-abandon.png"
    common = ["backtest", "--input", str(history_file), "--rules", str(rules)]
    common += ["--incidents", str(incidents), "--grid", "abandon_rate.fire=0.06,0.10,0.60"]
    assert main([*common, "--chart", str(chart), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "abandon_rate_high  fire=0.06" in table and "false pages" in table
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    assert main([*common, "--json", "--progress"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    pages = {r["fire"]: (r["pages"], r["false_pages"], r["missed"]) for r in document["results"]}
    assert pages == {0.06: (2, 1, 0), 0.10: (1, 0, 0), 0.60: (0, 0, 1)}
    assert "100%" in captured.err  # the progress bar, forced on although stderr is not a tty


def test_cli_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    history_file = tmp_path / "history.jsonl"
    write_history(history_file)
    assert main(["backtest", "--input", str(history_file), "--grid", "nope.fire=1"]) == 2
    assert "no rule or KPI 'nope'" in capsys.readouterr().err
    bad = tmp_path / "incidents.yaml"
    bad.write_text("- queue: billing\n  start: 2026-11-22T12:00:00\n  end: 2026-11-22T12:30:00Z\n")
    assert main(["backtest", "--input", str(history_file), "--incidents", str(bad)]) == 2
    assert "UTC offset" in capsys.readouterr().err
    rate = ["--grid", "abandon_rate.fire=10"]
    assert main(["backtest", "--input", str(history_file), *rate]) == 2
    assert "fraction in 0..1" in capsys.readouterr().err
