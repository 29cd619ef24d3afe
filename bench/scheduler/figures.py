"""How bench/scheduler reports: progress on stderr, and latency figures (median, p99, and the
same over CPU time)."""

from __future__ import annotations

import statistics
import sys


def say(*parts: object) -> None:
    print("bench/scheduler:", *parts, file=sys.stderr, flush=True)


def _p99(samples: list[float]) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


def stats_ms(samples: list[float], cpu: list[float] | None = None) -> dict[str, float]:
    """Wall-clock median and p99; with `cpu`, the same over this thread's CPU time (what the
    work costs when other processes on a shared machine preempt it)."""
    out = {
        "median_ms": round(statistics.median(samples) * 1000, 4),
        "p99_ms": round(_p99(samples) * 1000, 4),
        "n": len(samples),
    }
    if cpu:
        out["cpu_median_ms"] = round(statistics.median(cpu) * 1000, 4)
        out["cpu_p99_ms"] = round(_p99(cpu) * 1000, 4)
    return out
