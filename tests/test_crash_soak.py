"""Exact across repeated crashes (issue 26): the crash soak's short version, and its causes.

Real processes on 127.0.0.1: the session's broker and three ``ccpulse worker`` processes,
SIGKILLed at random moments and started again while traffic flows (tests/soak.py, which
``make soak`` runs for many seeds). Every KPI of every queue must equal ``ccpulse replay``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak import soak_run, summary
from tests.test_health import log_fields

pytestmark = pytest.mark.integration


def test_three_crash_soak_runs_give_the_replay_kpis(
    embedded_broker: object, tmp_path: Path
) -> None:
    # On the embedded broker, whose 6 s session timeout makes a run half as long as on Apache
    # Kafka (30 s): `make soak --broker kafka` runs it there, 10 runs in the closing note of
    # issue 26; the cause below runs on the session broker, Apache Kafka.
    runs = [
        soak_run(embedded_broker, tmp_path / f"run-{seed}", seed, stream_seconds=20.0)
        for seed in (1, 2, 3)
    ]
    print(summary(runs))
    assert sum(run.kills for run in runs) >= 9
    for run in runs:
        assert run.fields > 500, run
        assert run.differences == [], "\n".join(run.differences[:40]) + "\n" + run.log


def test_source_topics_with_other_partitions_than_configured_lose_nothing(
    broker: object, tmp_path: Path
) -> None:
    # The first cause found: source topics created with 6 partitions, workers left at the
    # default topics.partitions (8). Faust then gave a source partition and the changelog
    # partition of the same number to different workers, and a queue's state written by one
    # was recovered by nobody after a crash (2 runs of 2 lost events before the fix).
    # Sessions of 6 s, as on the embedded broker: each kill's partitions move in seconds.
    run = soak_run(
        broker,
        tmp_path,
        seed=21,
        stream_seconds=20.0,
        chunks=5,
        configured_partitions=None,
        session_timeout=6.0,
    )
    assert run.kills == 4
    assert run.differences == [], "\n".join(run.differences[:40]) + "\n" + run.log
    adopted = [
        fields
        for log in sorted(tmp_path.glob("worker-*.log"))
        for fields in log_fields(log.read_text(), "topics.partitions differs")
    ]
    assert adopted and {f["source_topics"] for f in adopted} == {"6"}, adopted
