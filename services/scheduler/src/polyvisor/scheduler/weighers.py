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
    "best",
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


#: Random values in [0, TIE_BREAK), drawn once (see `_tie_break`).
_noise = np.zeros(0)


def _tie_break(rng: np.random.Generator, size: int) -> np.ndarray:
    """`size` random values in [0, TIE_BREAK), read-only: a window at a random offset into a
    buffer of random values at least twice as long, drawn once (a fresh draw of 100,000 values
    costs as much as the rest of the weighing; the offset still varies which of equal hosts
    wins)."""
    global _noise
    if _noise.size < 2 * size:
        _noise = rng.random(max(4096, 4 * size)) * TIE_BREAK
        _noise.flags.writeable = False
    start = int(rng.integers(0, _noise.size - size + 1))
    return _noise[start : start + size]


def _add_normalized(
    out: np.ndarray, values: np.ndarray, multiplier: float, flip: bool, tmp: np.ndarray
) -> None:
    """out += multiplier * normalize(values) (1 - normalize(values) when `flip`), in place:
    one pass to find the range, one to scale, one to add, into `tmp` (a work array the size of
    `values`, or `values` itself when the caller no longer needs them): at 100,000 candidates a
    fresh temporary costs as much as the arithmetic."""
    lo = values.min()
    hi = values.max()
    if hi == lo or multiplier == 0.0:
        return  # all equal: normalised to zeros (pack's 1 - w is zeros too, as ram_weigher)
    scale = multiplier / float(hi - lo)
    if flip:  # multiplier * (1 - (v - lo) / (hi - lo)) == (hi - v) * scale
        np.subtract(hi, values, out=tmp, dtype=np.float64)
    else:
        np.subtract(values, lo, out=tmp, dtype=np.float64)
    tmp *= scale
    out += tmp


def _failure_term(
    index: HostIndex, ok: np.ndarray, rows: np.ndarray, multiplier: float
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """build_failure_weigher's term over `rows` (flatnonzero(ok)), `_add_normalized(..., failures,
    multiplier, flip=True)` to the bit, from the few rows that have failures
    (`index.failure_rows`) instead of a gather and five passes over every candidate: the
    others all have 0, so they all get the same (hi - 0) * scale.

    (that same amount, the candidates' positions that have failures, what each of those
    gets), or None when the term is zero (no candidate failed, or all failed alike)."""
    failing = index.failure_rows
    failing = failing[ok[failing]]  # the candidates among them
    if failing.size == 0:
        return None  # every candidate has 0: all equal, normalised to zeros
    pos = np.searchsorted(rows, failing)  # where they are among the candidates
    values = index.failures[failing]
    lo, hi = float(values.min()), float(values.max())
    if pos.size < rows.size:  # some candidates have no failure
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo or multiplier == 0.0:
        return None
    scale = multiplier / (hi - lo)
    return (hi - 0.0) * scale, pos, (hi - values) * scale


def _weigh_into(
    index: HostIndex,
    rows: np.ndarray,
    config: WeigherConfig,
    rng: np.random.Generator | None,
    out: np.ndarray,
    work: np.ndarray,
    *,
    ok: np.ndarray | None = None,
) -> None:
    """The weights of `rows` into `out`, added up in the order tie-break, build failures, RAM,
    vCPU; `work` is a work array of that size (a gathered column is scaled in place there, one
    array fewer for the cache to hold). `ok`: the mask `rows` are the flatnonzero of; then
    the build failures' term comes from the few failing rows (`_failure_term`), in the same
    pass as the tie-break."""
    tie = _tie_break(rng, rows.size) if rng is not None else None
    every = rows.size == index.n  # every host passed: the columns themselves, no gather
    multiplier = config.build_failure_multiplier
    if ok is not None:
        term = _failure_term(index, ok, rows, multiplier)
        if term is None:
            out[:] = 0.0 if tie is None else tie
        else:
            same, pos, failing = term
            if tie is None:
                out.fill(0.0 + same)
                out[pos] = 0.0 + failing
            else:
                np.add(tie, same, out=out)
                out[pos] = tie[pos] + failing
    else:
        out[:] = 0.0 if tie is None else tie
        failures = index.failures if every else np.take(index.failures, rows)
        if failures.any():  # build_failure_weigher's normalize(-failures), in place
            _add_normalized(out, failures, multiplier, True, work)
    for col, multiplier, flip in (
        (1, config.ram_multiplier, config.ram_strategy == "pack"),
        (0, config.cpu_multiplier, False),
    ):
        if every:
            _add_normalized(out, index.free_col_f(col), multiplier, flip, work)
        else:
            # rows come from flatnonzero, all in range: "wrap" skips the bounds check
            values = np.take(index.free_col_f(col), rows, out=work, mode="wrap")
            _add_normalized(out, values, multiplier, flip, values)


def weigh(
    index: HostIndex,
    rows: np.ndarray,
    config: WeigherConfig,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The weight of each candidate row (same order as `rows`), a fresh array."""
    out = np.empty(rows.size)
    if rows.size:
        _weigh_into(index, rows, config, rng, out, np.empty(rows.size))
    return out


def best(
    index: HostIndex,
    ok: np.ndarray,
    config: WeigherConfig,
    rng: np.random.Generator | None,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """`rank(rows, weigh(index, rows, config, rng), k)` for the rows `ok` marks, with the
    weighing done in the index's work arrays (`HostIndex.scratch`): what the scheduler runs
    per request, allocating nothing the size of the index but the candidate rows."""
    rows = np.flatnonzero(ok)
    c = rows.size
    if c == 0:
        return rows, np.zeros(0)
    weights = index.scratch(0)[:c]
    _weigh_into(index, rows, config, rng, weights, index.scratch(1)[:c], ok=ok)
    return rank(rows, weights, k)


#: Up to this many hosts wanted, `rank` finds them by repeated argmax: at 100,000 candidates
#: one argmax pass costs about a fortieth of a partial sort (which also allocates an index
#: array of the candidates' size); the placer asks for 9 (primary, 2 alternates, 6 extra).
_ARGMAX_UP_TO = 32


def rank(rows: np.ndarray, weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` rows, best first, and their weights (a few: one argmax pass each; more:
    a partial sort, O(n), not O(n log n))."""
    if rows.size == 0 or k <= 0:
        return rows[:0], weights[:0]
    if k <= _ARGMAX_UP_TO and k < rows.size:
        # one pass per host wanted: a partial sort costs some forty at 100,000 rows
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
