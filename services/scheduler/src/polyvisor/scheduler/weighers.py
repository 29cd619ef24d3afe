"""Weighers: score the hosts that passed the filters, over arrays.

As in Nova, every weigher's raw values are normalised to [0, 1] over the candidates
(min -> 0, max -> 1; all equal -> 0) and multiplied by the weigher's multiplier; the weights
add up. Higher is better.

- free RAM: spread (prefer the emptiest host) or pack (prefer the fullest that fits);
- free vCPU: spread;
- recent build failures: a host that just failed builds sinks (large multiplier, as Nova's
  BuildFailureWeigher);
- a random tie-break far below any real difference, so equal hosts are chosen evenly and
  replicas do not all race for the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from polyvisor.scheduler.index import HostIndex

__all__ = [
    "TIE_BREAK",
    "WeigherConfig",
    "build_failure_weigher",
    "normalize",
    "ram_weigher",
    "rank",
    "vcpu_weigher",
    "weigh",
]

#: Amplitude of the random tie-break (normalised weights differ by much more than this
#: whenever hosts really differ).
TIE_BREAK = 1e-9


@dataclass(frozen=True, slots=True)
class WeigherConfig:
    ram_strategy: Literal["spread", "pack"] = "spread"
    ram_multiplier: float = 1.0
    cpu_multiplier: float = 1.0
    build_failure_multiplier: float = 1_000_000.0


def normalize(values: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1]; all-equal gives zeros (Nova's normalisation)."""
    v = values.astype(np.float64, copy=False)
    if v.size == 0:
        return v
    lo = v.min()
    hi = v.max()
    if hi == lo:
        return np.zeros_like(v)
    scaled: np.ndarray = (v - lo) / (hi - lo)
    return scaled


def ram_weigher(free_ram_mb: np.ndarray, strategy: str = "spread") -> np.ndarray:
    """Spread: more free RAM scores higher. Pack: less free RAM scores higher."""
    w = normalize(free_ram_mb)
    if strategy == "pack" and w.size and w.max() > 0:
        return 1.0 - w
    return w


def vcpu_weigher(free_vcpus: np.ndarray) -> np.ndarray:
    return normalize(free_vcpus)


def build_failure_weigher(failures: np.ndarray) -> np.ndarray:
    """More recent failures score lower (0 for the host with the most, 1 for none)."""
    return normalize(-failures)


_noise = np.zeros(0)


def _tie_break(rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` random values in [0, TIE_BREAK): a window at a random offset into a buffer of
    random values at least twice as long, drawn once (a fresh draw of 100,000 values costs as
    much as the rest of the weighing; the offset still varies which of equal hosts wins)."""
    global _noise
    if _noise.size < 2 * size:
        _noise = rng.random(max(4096, 4 * size))
    start = int(rng.integers(0, _noise.size - size + 1))
    return _noise[start : start + size] * TIE_BREAK


def _add_normalized(out: np.ndarray, values: np.ndarray, multiplier: float, flip: bool) -> None:
    """out += multiplier * normalize(values) (1 - normalize(values) when `flip`), in place:
    one pass to find the range, one to scale, one to add, with no temporary per step (at
    100,000 candidates each temporary costs as much as the arithmetic)."""
    lo = values.min()
    hi = values.max()
    if hi == lo or multiplier == 0.0:
        return  # all equal: normalised to zeros (pack's 1 - w is zeros too, as ram_weigher)
    scale = multiplier / float(hi - lo)
    if flip:  # multiplier * (1 - (v - lo) / (hi - lo)) == (hi - v) * scale
        tmp = np.subtract(hi, values, dtype=np.float64)
    else:
        tmp = np.subtract(values, lo, dtype=np.float64)
    tmp *= scale
    out += tmp


def weigh(
    index: HostIndex,
    rows: np.ndarray,
    config: WeigherConfig,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The weight of each candidate row (same order as `rows`)."""
    if rows.size == 0:
        return np.zeros(0)
    # The tie-break first: the array the weights are added into.
    if rng is not None:
        weights = _tie_break(rng, rows.size)
    else:
        weights = np.zeros(rows.size)
    every = rows.size == index.n  # every host passed: the columns themselves, no gather
    ram = index.free_col(1) if every else index.free_col(1)[rows]
    _add_normalized(weights, ram, config.ram_multiplier, config.ram_strategy == "pack")
    cpu = index.free_col(0) if every else index.free_col(0)[rows]
    _add_normalized(weights, cpu, config.cpu_multiplier, False)
    failures = index.failures if every else index.failures[rows]
    if failures.any():  # build_failure_weigher's normalize(-failures), in place
        _add_normalized(weights, failures, config.build_failure_multiplier, True)
    return weights


#: Up to this many hosts wanted, `rank` finds them by repeated argmax.
_ARGMAX_UP_TO = 8


def rank(rows: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` rows, best first, and their weights (a few: one argmax pass each; more:
    a partial sort, O(n), not O(n log n))."""
    if rows.size == 0 or k <= 0:
        return rows[:0], weights[:0]
    if k <= _ARGMAX_UP_TO and k < rows.size:
        # one pass per host wanted: a partial sort costs some ten passes at 100,000 rows
        picked = []
        for _ in range(k):
            i = int(weights.argmax())
            picked.append((i, weights[i]))
            weights[i] = -np.inf
        for i, w in picked:  # the caller's weights as they were
            weights[i] = w
        order = np.array([i for i, _ in picked], np.int64)
        return rows[order], weights[order]
    if k < rows.size:
        top = np.argpartition(weights, rows.size - k)[rows.size - k :]
    else:
        top = np.arange(rows.size)
    order = top[np.argsort(-weights[top], kind="stable")]
    return rows[order], weights[order]
