"""The boot storm's fixed figures (Nova's published one, the per-call costs the other benches
measure) and how it reads CPU time and percentiles (Linux /proc, no dependency).
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

NOVA = {
    "source": "Rally boot-and-delete, 200 nodes (OpenStack performance docs)",
    "median_s": 4.0,
    "p90_s": 5.0,
    "concurrency": 5,
}
#: CPU per call the other benches measure on this path (docs/deploy.md, "Sizing"), in ms:
#: the api's CreateServer is not benchmarked alone; its GetServer (a query each) stands for
#: one authenticated api call with a database round trip.
PER_CALL_MS = {
    "api_call_with_query": 0.845,
    "scheduler_select_and_claim": 0.67,
}
CLUSTERS = ("DC0_C0", "DC0_C1")
TARGET_P99_S = 2.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and of its waited-for children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_cpu(pid: int) -> float:
    """CPU of `pid` and of every live descendant (PostgreSQL's backends)."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += cpu_seconds(p)
        try:
            todo += children(p)
        except OSError:
            pass
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
