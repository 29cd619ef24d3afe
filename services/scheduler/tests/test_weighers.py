"""Weighers: normalisation, spread and pack, vCPU, build failures, tie-break, ranking, and
`best` (what the scheduler runs) against `rank(weigh(...))`."""

from __future__ import annotations

import numpy as np
from scheduler_hosts import kvm_report

from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.weighers import (
    WeigherConfig,
    best,
    build_failure_weigher,
    normalize,
    ram_weigher,
    rank,
    vcpu_weigher,
    weigh,
)


def test_normalize_min_max_and_constant() -> None:
    assert normalize(np.array([2, 4, 6])).tolist() == [0.0, 0.5, 1.0]
    assert normalize(np.array([5, 5])).tolist() == [0.0, 0.0]
    assert normalize(np.array([])).size == 0


def test_ram_spread_prefers_free_and_pack_prefers_full() -> None:
    free = np.array([1024, 8192, 4096])
    assert int(np.argmax(ram_weigher(free, "spread"))) == 1
    assert int(np.argmax(ram_weigher(free, "pack"))) == 0
    assert ram_weigher(np.array([7, 7]), "pack").tolist() == [0.0, 0.0]


def test_vcpu_and_build_failures() -> None:
    assert int(np.argmax(vcpu_weigher(np.array([2, 30, 4])))) == 1
    w = build_failure_weigher(np.array([0.0, 3.0, 1.0]))
    assert w.tolist() == [1.0, 0.0, 2.0 / 3.0]


def _index() -> HostIndex:
    index = HostIndex(60.0, clock=lambda: 1000.0)
    index.apply_report(kvm_report("small", vcpus=8, memory_mb=8192))
    index.apply_report(kvm_report("large", vcpus=8, memory_mb=65536))
    index.apply_report(kvm_report("medium", vcpus=8, memory_mb=32768))
    return index


def test_weigh_spread_then_pack() -> None:
    index = _index()
    rows = np.arange(index.n)
    spread = weigh(index, rows, WeigherConfig(ram_strategy="spread"))
    assert [index.ids[r] for r in rank(rows, spread, 3)[0]] == ["large", "medium", "small"]
    pack = weigh(index, rows, WeigherConfig(ram_strategy="pack"))
    assert [index.ids[r] for r in rank(rows, pack, 3)[0]] == ["small", "medium", "large"]


def test_recent_build_failures_sink_a_host() -> None:
    index = _index()
    index.add_failure(index.row("large"))
    rows = np.arange(index.n)
    w = weigh(index, rows, WeigherConfig())
    assert index.ids[rank(rows, w, 1)[0][0]] == "medium"
    index.set_failures({})
    w = weigh(index, rows, WeigherConfig())
    assert index.ids[rank(rows, w, 1)[0][0]] == "large"


def test_random_tie_break_spreads_equal_hosts() -> None:
    index = HostIndex(60.0, clock=lambda: 1000.0)
    for i in range(4):
        index.apply_report(kvm_report(f"h{i}"))
    rows = np.arange(index.n)
    rng = np.random.default_rng(7)
    winners = {
        int(rank(rows, weigh(index, rows, WeigherConfig(), rng), 1)[0][0]) for _ in range(50)
    }
    assert winners == {0, 1, 2, 3}
    # the tie-break never outweighs a real difference
    index.apply_report(kvm_report("h9", memory_mb=65537))
    rows = np.arange(index.n)
    for _ in range(20):
        best = rank(rows, weigh(index, rows, WeigherConfig(), rng), 1)[0][0]
        assert index.ids[best] == "h9"


def test_rank_partial_sort() -> None:
    rows = np.array([10, 11, 12, 13, 14])
    weights = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    top, w = rank(rows, weights, 3)
    assert top.tolist() == [11, 13, 12]
    assert w.tolist() == [0.9, 0.7, 0.5]
    assert rank(rows, weights, 10)[0].tolist() == [11, 13, 12, 14, 10]
    assert rank(rows[:0], weights[:0], 3)[0].size == 0


def _varied_index(n: int, failing: dict[int, float]) -> HostIndex:
    rng = np.random.default_rng(3)
    index = HostIndex(60.0, clock=lambda: 1000.0)
    for i in range(n):
        index.apply_report(
            kvm_report(
                f"h{i}",
                vcpus=int(rng.choice([8, 16, 32])),
                memory_mb=int(rng.choice([8192, 16384, 65536])),
            )
        )
    index.set_failures({f"h{r}": c for r, c in failing.items()})
    return index


def _same(index: HostIndex, ok: np.ndarray, config: WeigherConfig, k: int) -> None:
    """best() picks the rows rank(weigh()) picks, with the same weights to the bit (the same
    tie-break draws from two generators of one seed)."""
    rows = np.flatnonzero(ok)
    want = rank(rows, weigh(index, rows, config, np.random.default_rng(11)), k)
    got = best(index, ok, config, np.random.default_rng(11), k)
    assert got[0].tolist() == want[0].tolist()
    assert got[1].tolist() == want[1].tolist()


def test_best_is_rank_of_weigh_with_failures_among_the_candidates_or_not() -> None:
    index = _varied_index(300, {5: 2.0, 40: 1.0, 41: 3.0, 299: 1.0})
    weigh(index, np.arange(index.n), WeigherConfig(), np.random.default_rng(0))  # noise drawn
    every = np.ones(index.n, bool)
    some = np.random.default_rng(5).random(index.n) < 0.5
    some[[5, 41]] = True  # two failing rows among the candidates, 40 and 299 maybe not
    some[[40, 299]] = False
    none_failing = every.copy()
    none_failing[[5, 40, 41, 299]] = False
    only_failing = ~every
    only_failing[[40, 299]] = True  # every candidate failed, as often: all equal, no term
    for ok in (every, some, none_failing, only_failing):
        for config in (WeigherConfig(), WeigherConfig(ram_strategy="pack")):
            for k in (1, 3, 9, 40):
                _same(index, ok, config, k)
    assert best(index, ~every, WeigherConfig(), None, 3)[0].size == 0


def test_best_sinks_the_failing_candidate() -> None:
    index = _index()
    index.add_failure(index.row("large"))
    ok = np.ones(index.n, bool)
    assert index.ids[best(index, ok, WeigherConfig(), None, 1)[0][0]] == "medium"
    ok[index.row("medium")] = False
    assert index.ids[best(index, ok, WeigherConfig(), None, 1)[0][0]] == "small"
    index.set_failures({})
    assert index.ids[best(index, ok, WeigherConfig(), None, 1)[0][0]] == "large"
    for i in range(100):  # the index grows past its arrays' capacity, the work arrays follow
        index.apply_report(kvm_report(f"more{i}", memory_mb=4096))
    index.apply_report(kvm_report("largest", memory_mb=131072))
    ok = np.ones(index.n, bool)
    assert index.ids[best(index, ok, WeigherConfig(), None, 1)[0][0]] == "largest"
