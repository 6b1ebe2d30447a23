"""The alert state machine (processors/alerts.py), driven with hand-made snapshots."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from processors.alert_rules import AlertRule
from processors.alerts import (
    AlertEvaluator,
    AlertState,
    AlertTransition,
    EvaluatorState,
    Silence,
    decode_alert_states,
    encode_alert_states,
    fingerprint,
)
from processors.snapshot import LiveKpis, QueueSnapshot, WindowKpis

T0 = 1_800_000_000.0


def abandon_rule(**overrides: object) -> AlertRule:
    settings: dict[str, object] = {
        "name": "abandon_rate_high",
        "kpi": "abandon_rate",
        "window": "15m",
        "fire": 0.10,
        "clear": 0.07,
        "for_seconds": 60,
        "min_volume": 20,
    }
    settings.update(overrides)
    return msgspec.convert(settings, AlertRule)


def snap(at: float, rate: float | None, exits: int = 100, queue: str = "billing") -> QueueSnapshot:
    abandoned = 0 if rate is None else round(rate * exits)
    window = WindowKpis(
        answered=exits - abandoned, abandoned=abandoned, abandon_rate=rate if exits else None
    )
    return QueueSnapshot(queue=queue, at=at, live=LiveKpis(), windows={"15m": window})


def run(
    evaluator: AlertEvaluator, rates: list[float | None], start: float = T0, exits: int = 100
) -> list[AlertTransition]:
    """One evaluation per second with the given abandon rates."""
    out: list[AlertTransition] = []
    for i, rate in enumerate(rates):
        out.extend(evaluator.evaluate([snap(start + i, rate, exits)]))
    return out


def states(transitions: list[AlertTransition]) -> list[tuple[float, str]]:
    return [(t.at - T0, t.state) for t in transitions]


def test_fires_only_after_the_condition_held_for_the_duration() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=60)])
    transitions = run(evaluator, [0.05] * 5 + [0.14] * 70)
    assert states(transitions) == [(5, "pending"), (65, "firing")]
    firing = transitions[-1]
    assert firing.previous == "pending"
    assert firing.value == pytest.approx(0.14)
    assert firing.threshold == 0.10
    assert firing.fired_at == T0 + 65
    assert firing.summary == "Abandonment on billing is 14 % over 15 min (threshold 10 %)"
    assert firing.fingerprint == fingerprint("abandon_rate_high", "billing")
    assert firing.labels == {"kpi": "abandon_rate", "window": "15m"}


def test_a_dip_during_pending_restarts_the_duration() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=60)])
    transitions = run(evaluator, [0.14] * 50 + [0.09] + [0.14] * 70)
    assert states(transitions) == [
        (0, "pending"),
        (50, "inactive"),
        (51, "pending"),
        (111, "firing"),
    ]


def test_zero_duration_fires_at_once() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0)])
    assert states(run(evaluator, [0.2])) == [(0, "pending"), (0, "firing")]


def test_hysteresis_no_flapping_around_the_fire_threshold() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0)])
    # Hovering around 10 % after firing: between clear (7 %) and fire, it keeps firing.
    hovering = [0.12] + [0.09, 0.11, 0.095, 0.105, 0.08, 0.101] * 20
    transitions = run(evaluator, hovering)
    assert states(transitions) == [(0, "pending"), (0, "firing")]
    later = run(evaluator, [0.071, 0.07], start=T0 + len(hovering))
    assert [t.state for t in later] == ["resolved"]
    assert later[0].at == T0 + len(hovering) + 1  # 7.1 % is still above clear; 7 % is not
    assert later[0].threshold == 0.07


def test_below_direction_uses_mirrored_thresholds() -> None:
    rule = msgspec.convert(
        {
            "name": "sl_low",
            "kpi": "service_level",
            "window": "15m",
            "direction": "below",
            "fire": 0.7,
            "clear": 0.75,
        },
        AlertRule,
    )
    evaluator = AlertEvaluator([rule])
    out = []
    for i, level in enumerate([0.8, 0.69, 0.72, 0.74, 0.75]):
        window = WindowKpis(service_level=level, answered=50)
        out += evaluator.evaluate(
            [QueueSnapshot(queue="q", at=T0 + i, live=LiveKpis(), windows={"15m": window})]
        )
    assert states(out) == [(1, "pending"), (1, "firing"), (4, "resolved")]


def test_min_volume_no_evaluation_below_it() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0, min_volume=20)])
    # One of two calls abandoned in a quiet spell: 50 %, but only 2 exits.
    assert run(evaluator, [0.5] * 30, exits=2) == []
    assert run(evaluator, [0.5] * 30, exits=19, start=T0 + 30) == []
    fired = run(evaluator, [0.5], exits=20, start=T0 + 60)
    assert [t.state for t in fired] == ["pending", "firing"]


def test_low_volume_resets_pending_but_holds_firing() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=30)])
    out = run(evaluator, [0.2] * 10) + run(evaluator, [0.2] * 5, exits=3, start=T0 + 10)
    assert states(out) == [(0, "pending"), (10, "inactive")]
    out = run(evaluator, [0.2] * 31, start=T0 + 100)
    assert [t.state for t in out] == ["pending", "firing"]
    # Quiet period while firing: no evidence of recovery, so it stays firing.
    assert run(evaluator, [0.0] * 20, exits=3, start=T0 + 200) == []
    assert run(evaluator, [None] * 5, exits=0, start=T0 + 220) == []
    assert [t.state for t in run(evaluator, [0.0], start=T0 + 230)] == ["resolved"]


def test_escalation_from_warning_to_critical() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0, escalate_after_seconds=300)])
    out = run(evaluator, [0.2] * 400)
    assert [(t.at - T0, t.state, t.severity, t.escalated) for t in out] == [
        (0, "pending", "warning", False),
        (0, "firing", "warning", False),
        (300, "firing", "critical", True),
    ]
    assert len({t.fingerprint for t in out}) == 1
    resolved = run(evaluator, [0.01], start=T0 + 400)
    assert [(t.state, t.severity) for t in resolved] == [("resolved", "critical")]
    # The next firing starts as a warning again.
    again = run(evaluator, [0.2], start=T0 + 500)
    assert [(t.state, t.severity) for t in again] == [("pending", "warning"), ("firing", "warning")]


def test_cooldown_pages_at_most_once_per_cooldown() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0, cooldown_seconds=120)])
    # A KPI swinging widely every 10 s for five minutes.
    swings = ([0.2] * 10 + [0.01] * 10) * 15
    out = run(evaluator, swings)
    fired = [t.at - T0 for t in out if t.state == "firing"]
    assert fired[0] == 0
    assert all(b - a >= 120 for a, b in itertools.pairwise(fired))
    # At 0, then the first high second >= 120 s after each resolution (at 10 and 150).
    assert fired == [0, 140, 280]


def test_state_round_trip_in_the_middle_of_pending() -> None:
    rule = abandon_rule(for_seconds=60)
    first = AlertEvaluator([rule])
    assert states(run(first, [0.2] * 40)) == [(0, "pending")]
    data = encode_alert_states(first.queue_state("billing"))

    restarted = AlertEvaluator([rule])
    restarted.restore_queue("billing", decode_alert_states(data))
    out = run(restarted, [0.2] * 30, start=T0 + 40)
    # Fires 60 s after the *original* pending start, not 60 s after the restart.
    assert states(out) == [(60, "firing")]


def test_state_round_trip_in_the_middle_of_firing_does_not_re_page() -> None:
    rule = abandon_rule(for_seconds=0, escalate_after_seconds=100)
    first = AlertEvaluator([rule])
    run(first, [0.2] * 50)
    saved = msgspec.msgpack.decode(msgspec.msgpack.encode(first.state()), type=EvaluatorState)

    restarted = AlertEvaluator([rule])
    restarted.restore(saved)
    out = run(restarted, [0.2] * 60, start=T0 + 50)
    # No new pending/firing: only the escalation, timed from the original firing.
    assert [(t.at - T0, t.state, t.escalated) for t in out] == [(100, "firing", True)]
    assert [a.fired_at for _, a in restarted.firing()] == [T0]
    assert [t.state for t in run(restarted, [0.0], start=T0 + 200)] == ["resolved"]


def test_restore_drops_alerts_of_rules_no_longer_configured() -> None:
    first = AlertEvaluator([abandon_rule(for_seconds=0)])
    run(first, [0.2])
    other = AlertEvaluator([abandon_rule(name="another", for_seconds=0)])
    assert other.restore_queue("billing", first.queue_state("billing")) == []
    assert other.firing() == []


def test_acknowledge_lasts_until_resolved() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0)])
    run(evaluator, [0.2])
    fp = fingerprint("abandon_rate_high", "billing")
    assert evaluator.acknowledge("nonexistent", "ana", T0) is None
    acked = evaluator.acknowledge(fp, "ana", T0 + 1)
    assert acked is not None and acked.acknowledged_by == "ana"
    resolved = run(evaluator, [0.0], start=T0 + 2)
    assert resolved[0].acknowledged
    assert evaluator.alerts[("abandon_rate_high", "billing")].acknowledged_by is None


def test_silence_flags_transitions_of_matching_alerts_only_while_active() -> None:
    rule = abandon_rule(for_seconds=0, queues=["*"])
    evaluator = AlertEvaluator([rule])
    evaluator.silence(
        Silence(id="s1", queue="bill*", starts_at=T0, ends_at=T0 + 100, created_by="ana")
    )
    silenced = evaluator.evaluate([snap(T0, 0.2), snap(T0, 0.2, queue="sales")])
    flags = {(t.queue, t.state): t.silenced for t in silenced}
    assert flags == {
        ("billing", "pending"): True,
        ("billing", "firing"): True,
        ("sales", "pending"): False,
        ("sales", "firing"): False,
    }
    after = evaluator.evaluate([snap(T0 + 150, 0.0)])
    assert [(t.state, t.silenced) for t in after] == [("resolved", False)]
    evaluator.expire_silences(T0 + 150)
    assert evaluator.silences == []
    assert evaluator.queue_state("billing")[0].silences == []


def test_rules_match_queue_patterns() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0, queues=["sales-*"])])
    assert evaluator.evaluate([snap(T0, 0.5, queue="billing")]) == []
    assert len(evaluator.evaluate([snap(T0, 0.5, queue="sales-emea")])) == 2


def test_live_rule_on_oldest_wait() -> None:
    rule = AlertRule(name="oldest", kpi="oldest_wait_seconds", fire=300, clear=180)
    evaluator = AlertEvaluator([rule])
    out = []
    for i, wait in enumerate([100.0, 301.0, 200.0, 180.0]):
        live = LiveKpis(oldest_wait_seconds=wait)
        out += evaluator.evaluate([QueueSnapshot(queue="q", at=T0 + i, live=live, windows={})])
    assert states(out) == [(1, "pending"), (1, "firing"), (3, "resolved")]
    assert out[1].summary == "Oldest call waiting on q is 5 min 1 s (threshold 5 min)"
    assert out[1].labels["window"] == "live"


def test_an_older_instant_is_ignored() -> None:
    evaluator = AlertEvaluator([abandon_rule(for_seconds=0)])
    run(evaluator, [0.2], start=T0 + 10)
    assert evaluator.evaluate([snap(T0, 0.0)]) == []


def test_a_queue_s_state_is_its_alerts_worth_keeping_by_rule_name_among_many_queues() -> None:
    """``queue_state`` looks a queue's alerts up rule by rule (a sort of every queue's alerts
    per queue persisted stalled a 1,000-queue worker): the same list as that sort gave."""
    rules = [
        abandon_rule(name=name, fire=fire, clear=fire * 0.7, for_seconds=for_seconds)
        for name, fire, for_seconds in (("zeta", 0.05, 0), ("alpha", 0.10, 60), ("mid", 0.2, 0))
    ]
    evaluator = AlertEvaluator(rules)
    rates = {"billing": 0.3, "sales": 0.12, "support": 0.06, "quiet": 0.0, "none": None}
    for second in range(90):
        evaluator.evaluate([snap(T0 + second, rate, queue=queue) for queue, rate in rates.items()])
    evaluator.evaluate([snap(T0 + 90, 0.0, queue="sales")])  # resolves sales' alerts

    def by_sorting(queue: str) -> list[AlertState]:
        return [
            alert
            for (_, name), alert in sorted(evaluator.alerts.items())
            if name == queue
            and (alert.state != "inactive" or alert.resolved_at is not None or alert.silences)
        ]

    kept = {queue: [a.rule for a in evaluator.queue_state(queue)] for queue in rates}
    assert kept["billing"] == ["alpha", "mid", "zeta"]  # firing, by rule name
    assert kept["support"] == ["zeta"]
    for queue in [*rates, "unknown"]:
        assert evaluator.queue_state(queue) == by_sorting(queue), queue
