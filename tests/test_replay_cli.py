"""`ccpulse replay` on an Asterisk queue_log: the defined numbers, and bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.cli import main
from streams.sources.asterisk import parse_queue_log_line
from streams.sources.problems import ParseProblem

FIXTURE = Path(__file__).parent / "fixtures" / "queue_log.txt"


def replay(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[dict, str]:  # type: ignore[type-arg]
    code = main(["replay", str(FIXTURE), "--format", "asterisk-queue-log", "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out), captured.err


def test_queue_log_replay_gives_the_defined_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    # 2026-11-22T10:05:00Z is 1795341900: the 15 min window holds every line.
    document, errors = replay(capsys, "--at", "2026-11-22T10:05:00Z", "--window", "15m")
    billing = document["queues"]["billing"]
    # Entered: 1001, 1002, 1003, 1006. Blocked: FULL and JOINEMPTY.
    assert (billing["entered"], billing["blocked"]) == (4, 2)
    assert billing["blocked_rate"] == pytest.approx(2 / 6)
    # Exits: 1001 answered after 12 s; 1002 abandoned after 10 s; 1003 abandoned after 2 s
    # (short, < 5 s); 1006 left by key press after 65 s (data4 of EXITWITHKEY).
    assert (
        billing["answered"],
        billing["abandoned"],
        billing["short_abandoned"],
        billing["other_exits"],
    ) == (1, 1, 1, 1)
    assert billing["abandon_rate"] == pytest.approx(1 / 3)
    assert billing["asa_seconds"] == 12.0
    assert billing["avg_abandon_seconds"] == 10.0
    assert billing["service_level"] == pytest.approx(1 / 3)  # offered variant: A_T / E
    assert billing["calls_waiting"] == 0
    assert billing["agents"] == {"available": 1}
    sales = document["queues"]["sales"]
    # 1007's CONNECT is malformed (reported, skipped): 1007 is still waiting since 10:01:50.
    assert (sales["entered"], sales["answered"], sales["calls_waiting"]) == (2, 1, 1)
    assert sales["oldest_wait_seconds"] == 1795341900 - 1795341710
    assert sales["agents"] == {"not_ready": 1}
    assert ":11: expected epoch|callid|queue|agent|EVENT" in errors
    assert ":17: CONNECT: holdtime (data1) is not a number" in errors


def test_sl_flags_change_the_variant_and_threshold(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--at", "2026-11-22T10:05:00Z", "--window", "1h"]
    document, _ = replay(capsys, *base, "--sl-variant", "abandons_positive")
    assert document["queues"]["billing"]["service_level"] == pytest.approx(2 / 3)  # (A_T + B_T) / E
    document, _ = replay(capsys, *base, "--sl-threshold", "10", "--sl-variant", "answered")
    assert document["queues"]["billing"]["service_level"] == 0.0  # 12 s > 10 s
    document, _ = replay(capsys, *base, "--short-abandon", "1")
    assert document["queues"]["billing"]["short_abandoned"] == 0


def test_replay_at_an_earlier_instant_only_knows_what_happened_by_then(
    capsys: pytest.CaptureFixture[str],
) -> None:
    document, _ = replay(capsys, "--at", "2026-11-22T10:00:11Z", "--window", "5m")
    billing = document["queues"]["billing"]
    assert (billing["entered"], billing["calls_waiting"], billing["oldest_wait_seconds"]) == (
        3,
        3,
        10.0,
    )


def test_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "replay",
                str(FIXTURE),
                "--format",
                "asterisk-queue-log",
                "--at",
                "2026-11-22T10:05:00Z",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "KPIs at 2026-11-22T10:05:00Z over 15m"
    assert any(line.startswith("billing") for line in out.splitlines())


def test_bad_arguments_are_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(FIXTURE), "--format", "nope", "--at", "2026-11-22T10:05:00Z"]) == 2
    assert "unknown --format 'nope'" in capsys.readouterr().err
    assert main(["replay", str(FIXTURE), "--at", "2026-11-22T10:05:00"]) == 2
    assert "UTC offset" in capsys.readouterr().err
    assert main(["replay", "/nonexistent", "--at", "2026-11-22T10:05:00Z"]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line",
    ["", "1|2|3", "notatime|1|q|NONE|ENTERQUEUE", "1795341600|1|q|NONE|ABANDON|1|2|-4"],
)
def test_malformed_lines_are_problems_not_exceptions(line: str) -> None:
    result = parse_queue_log_line(line, 7)
    assert isinstance(result, ParseProblem) and result.line_number == 7


def test_ids_are_deterministic_so_a_reread_line_is_a_duplicate() -> None:
    line = "1795341601|1001.1|billing|NONE|ENTERQUEUE||07700900001|1"
    first, second = parse_queue_log_line(line, 1), parse_queue_log_line(line, 99)
    assert isinstance(first, list) and isinstance(second, list)
    assert first[0].id == second[0].id
