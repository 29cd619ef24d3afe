"""The SQL functions against a real PostgreSQL: claims by compare-and-swap, capacity checked
against summed allocations, releases, moves, provider upserts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from scheduler_hosts import kvm_report

from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.scheduler.host_facts import effective_inventories
from polyvisor.scheduler.model import ClaimOutcome, Resources
from polyvisor.scheduler.store import Store


@pytest.fixture
async def store(fresh_db: str) -> AsyncIterator[Store]:
    await migrate(fresh_db, "scheduler", "polyvisor.scheduler.migrations")
    pool = await create_pool(fresh_db, "scheduler")
    try:
        yield Store(pool)
    finally:
        await close_pool(pool)


async def put(store: Store, host: str, **kw: object) -> int:
    r = kvm_report(host, **kw)  # type: ignore[arg-type]
    gen, _ = await store.put_provider(
        host,
        host,
        r.capabilities,
        effective_inventories(r.capabilities, r.inventories),
        connected=True,
        reported_at=r.received_at,
    )
    return gen


async def test_put_provider_bumps_generation_only_on_inventory_change(store: Store) -> None:
    assert await put(store, "h1") == 1
    assert await put(store, "h1") == 1
    assert await put(store, "h1", az="az9") == 1
    assert await put(store, "h1", az="az9", memory_mb=1024) == 2
    [rec] = await store.providers()
    assert rec.capabilities.availability_zone == "az9"
    assert rec.inventories["MEMORY_MB"].total == 1024
    assert rec.inventories["MEMORY_MB"].max_unit is None
    assert rec.generation == 2


async def test_claim_cas_capacity_exists_and_release(store: Store) -> None:
    gen = await put(store, "h1", vcpus=4, memory_mb=8192, disk_gb=100)
    r = Resources(2, 4096, 10)
    ok = await store.claim("c1", "h1", gen, r, request_id="req-1")
    assert ok.outcome == ClaimOutcome.CLAIMED
    assert ok.usage is not None and ok.usage.used == r and ok.usage.generation == gen + 1
    stale = await store.claim("c2", "h1", gen, r)
    assert stale.outcome == ClaimOutcome.CONFLICT
    assert stale.usage is not None and stale.usage.generation == gen + 1
    again = await store.claim("c1", "h1", gen + 1, r)
    assert again.outcome == ClaimOutcome.EXISTS
    ok2 = await store.claim("c2", "h1", gen + 1, r)
    assert ok2.outcome == ClaimOutcome.CLAIMED
    full = await store.claim("c3", "h1", gen + 2, Resources(1, 1, 1))
    assert full.outcome == ClaimOutcome.NO_CAPACITY
    assert full.usage is not None and full.usage.used == Resources(4, 8192, 20)
    assert (await store.claim("c4", "nope", 0, r)).outcome == ClaimOutcome.NO_PROVIDER
    allocs = await store.allocations_of(["c1", "c2", "c3"])
    assert set(allocs) == {"c1", "c2"} and allocs["c1"].request_id == "req-1"
    released = await store.release("c1", build_failed=True, reason="spawn failed")
    assert released is not None and released.used == r and released.generation == gen + 3
    assert await store.release("c1") is None
    assert await store.recent_failures(3600) == {"h1": 1}


async def test_move_checks_capacity_and_records_the_failure(store: Store) -> None:
    g1 = await put(store, "a", memory_mb=8192)
    await put(store, "b", memory_mb=4096)
    assert (await store.claim("c1", "a", g1, Resources(1, 4096, 1))).outcome.value == "claimed"
    assert (await store.move("c1", "b", expected_from="z")).status == "from_mismatch"
    moved = await store.move("c1", "b", expected_from="a", build_failed=True)
    assert (moved.status, moved.from_provider) == ("moved", "a")
    assert (await store.hosts_of(["c1"])) == {"c1": "b"}
    assert (await store.move("c1", "b")).status == "unchanged"
    ua = await store.usage("a")
    assert ua is not None and ua.used == Resources(0, 0, 0)
    g1 = ua.generation
    assert (await store.claim("c2", "a", g1, Resources(1, 8192, 1))).outcome.value == "claimed"
    assert (await store.move("c1", "a")).status == "no_capacity"
    assert (await store.move("zz", "a")).status == "no_allocation"
    assert await store.recent_failures(3600) == {"a": 1}


async def test_concurrent_claims_never_overcommit(store: Store) -> None:
    """Twenty claimers with the same generation race for a host with room for three: CAS
    lets one through per generation, and the capacity check stops the fourth."""
    gen = await put(store, "h", vcpus=64, memory_mb=3 * 1024, disk_gb=100)

    async def claimer(i: int) -> bool:
        g = gen
        for _ in range(50):
            res = await store.claim(f"c{i}", "h", g, Resources(1, 1024, 1))
            if res.outcome == ClaimOutcome.CLAIMED:
                return True
            if res.outcome == ClaimOutcome.NO_CAPACITY:
                return False
            assert res.usage is not None
            g = res.usage.generation
        raise AssertionError("never settled")

    results = await asyncio.gather(*(claimer(i) for i in range(20)))
    assert sum(results) == 3
    usage = await store.usage("h")
    assert usage is not None and usage.used.memory_mb == 3 * 1024


async def test_changed_since_and_enable(store: Store) -> None:
    await put(store, "a")
    await put(store, "b")
    every = await store.changed_since(0)
    seq = max(s.changed_seq for s in every)
    assert {s.usage.provider_id for s in every} == {"a", "b"}
    assert await store.changed_since(seq) == []
    assert await store.set_enabled("b", False, "maintenance")
    assert not await store.set_enabled("zz", False, "")
    [b] = await store.changed_since(seq)
    assert (b.usage.provider_id, b.enabled, b.disabled_reason) == ("b", False, "maintenance")
