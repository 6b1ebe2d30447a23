"""How often each of the worker's compensations fired, from the logs of a test run's workers.

    python -m tests.compensations DIR [DIR ...]

reads every ``worker-*.log`` under each DIR (a pytest ``--basetemp``: the workers of
tests/worker_proc.py log there) and prints one row per DIR, one column per compensation
(docs/deploy.md, "Which compensations Apache Kafka needs"). Records dropped as re-deliveries are
summed from their log lines (a SIGKILLed worker's counters die with it); every other column
counts log lines.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# column -> the message of the worker's log line (streams/worker/checkpoint.py, stall_reader.py)
MESSAGES = {
    "gaps read": "gap in a partition's delivered offsets read straight from Kafka",
    "stalls read": "partition stalled: records Faust handed over never reached the agent",
    "stopped partitions read": "partition stalled: Faust has handed over none of its records",
    "commit catch-ups": "applied offsets not committed for a while",
}
REDELIVERED = "re-delivered records dropped"
_FIELD = re.compile(r"\b(topic|partition|first_offset|records)=(\S+)")


def count(directory: Path) -> dict[str, int]:
    """Counts of ``directory``'s worker logs. A stalled partition's records are read by the gap
    reader, which logs a gap line too: that line is the stall's, not a gap the planner found."""
    counts = dict.fromkeys([*MESSAGES, "redelivered records", "worker logs"], 0)
    for path in sorted(directory.rglob("worker-*.log")):
        counts["worker logs"] += 1
        stalls: set[tuple[str, ...]] = set()
        for line in path.read_text(errors="replace").splitlines():
            fields = dict(_FIELD.findall(line))
            where = (
                fields.get("topic", ""),
                fields.get("partition", ""),
                fields.get("first_offset", ""),
            )
            for column, message in MESSAGES.items():
                if f'msg="{message}' not in line:
                    continue
                if column.endswith("read") and column != "gaps read":
                    stalls.add(where)
                if column != "gaps read" or where not in stalls:
                    counts[column] += 1
            if f'msg="{REDELIVERED}"' in line:
                counts["redelivered records"] += int(fields.get("records", 0))
    return counts


def main(argv: list[str]) -> int:
    rows = [(directory, count(Path(directory))) for directory in argv]
    if not rows:
        print(__doc__)
        return 2
    columns = list(rows[0][1])
    print("| run | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for directory, counts in rows:
        print(f"| {directory} | " + " | ".join(str(counts[c]) for c in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
