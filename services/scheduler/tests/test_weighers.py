"""Weighers: normalisation, spread and pack, vCPU, build failures, tie-break, ranking."""

from __future__ import annotations

import numpy as np
from scheduler_hosts import kvm_report

from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.weighers import (
    WeigherConfig,
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
