"""streams/worker/stalls.py: a partition is stalled when a position stays below its target."""

from __future__ import annotations

from streams.worker.stalls import Behind, StallWatch

TEL0 = ("tel", 0)
TEL1 = ("tel", 1)


def test_a_partition_behind_and_not_moving_is_stalled_after_the_wait() -> None:
    watch = StallWatch(5.0)
    assert watch.stalled({TEL0: Behind(0, 114)}, now=100.0) == []
    assert watch.stalled({TEL0: Behind(0, 114)}, now=104.9) == []
    assert watch.stalled({TEL0: Behind(0, 114)}, now=105.0) == [TEL0]
    # Still stalled on the next check until the expected offset moves.
    assert watch.stalled({TEL0: Behind(0, 115)}, now=106.0) == [TEL0]


def test_a_moving_partition_is_never_stalled() -> None:
    watch = StallWatch(5.0)
    for step in range(20):
        # A partition with a steady backlog: behind every time, but the agent keeps up.
        behind = {TEL0: Behind(100 + 10 * step, 150 + 10 * step)}
        assert watch.stalled(behind, now=100.0 + step) == []


def test_moving_restarts_the_wait_and_catching_up_clears_it() -> None:
    watch = StallWatch(2.0)
    watch.stalled({TEL0: Behind(0, 10), TEL1: Behind(5, 10)}, now=0.0)
    watch.stalled({TEL0: Behind(3, 10), TEL1: Behind(10, 10)}, now=1.0)
    assert watch.stalled({TEL0: Behind(3, 10), TEL1: Behind(5, 12)}, now=2.5) == []
    assert watch.stalled({TEL0: Behind(3, 10), TEL1: Behind(5, 12)}, now=3.0) == [TEL0]
    assert watch.stalled({TEL0: Behind(3, 10), TEL1: Behind(5, 12)}, now=4.5) == [TEL0, TEL1]


def test_revoked_partitions_and_a_reset_forget_the_wait() -> None:
    watch = StallWatch(2.0)
    watch.stalled({TEL0: Behind(0, 10), TEL1: Behind(0, 10)}, now=0.0)
    # TEL0 revoked (not reported), then assigned again: its wait starts over.
    watch.stalled({TEL1: Behind(0, 10)}, now=1.0)
    assert watch.stalled({TEL0: Behind(0, 10), TEL1: Behind(0, 10)}, now=2.0) == [TEL1]
    watch.reset()
    assert watch.stalled({TEL0: Behind(0, 10), TEL1: Behind(0, 10)}, now=3.0) == []


def test_progress_other_than_the_position_catches_a_creeping_position() -> None:
    # Commits trickling in (Faust re-delivering records the agent had applied) while the
    # agent's expected offset stays put: stuck all the same.
    watch = StallWatch(5.0)
    assert watch.stalled({TEL0: Behind(100, 900, progress=900)}, now=0.0) == []
    assert watch.stalled({TEL0: Behind(104, 900, progress=900)}, now=2.5) == []
    assert watch.stalled({TEL0: Behind(110, 900, progress=900)}, now=5.0) == [TEL0]
    # The target moving (the agent applying more) restarts the wait.
    assert watch.stalled({TEL0: Behind(110, 950, progress=950)}, now=6.0) == []
    # Tracking the position instead, the creeping position keeps resetting it.
    plain = StallWatch(5.0)
    for step, position in enumerate((100, 104, 110, 115)):
        assert plain.stalled({TEL0: Behind(position, 900)}, now=2.5 * step) == []


def test_a_partition_faust_stopped_delivering_is_stalled_once_its_read_offset_stands() -> None:
    # A restarted worker whose Faust consumer delivered nothing after the rebalance: records
    # up to the highwater, the read offset (the progress) never moving.
    watch = StallWatch(30.0)
    for now in (0.0, 10.0, 20.0):
        assert watch.stalled({TEL0: Behind(500, 1358, progress=500)}, now=now) == []
    assert watch.stalled({TEL0: Behind(500, 1358, progress=500)}, now=30.0) == [TEL0]
    # A starved partition Faust gets to after all: its read offset moves, the wait restarts.
    assert watch.stalled({TEL1: Behind(0, 900, progress=0)}, now=0.0) == []
    assert watch.stalled({TEL1: Behind(0, 900, progress=250)}, now=29.0) == []
    assert watch.stalled({TEL1: Behind(0, 900, progress=250)}, now=50.0) == []
