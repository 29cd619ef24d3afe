"""The scheduler's domain service against a real PostgreSQL: claims, idempotency, replicas
racing, all-or-nothing, moves, releases with build failures, enable/disable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from scheduler_hosts import kvm_report, spec, vmware_report

from polyvisor.common.db import close_pool, create_pool, migrate
from polyvisor.common.errors import FailedPrecondition, NotFound, ResourceExhausted
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import GroupPolicy, HvType, ImageRequirements, Resources
from polyvisor.scheduler.scheduling import Scheduler
from polyvisor.scheduler.store import Store

NOW = 1000.0


@pytest.fixture
async def make_scheduler(fresh_db: str) -> AsyncIterator[Callable[[], object]]:
    """Scheduler replicas on one database, each with its own pool and index."""
    await migrate(fresh_db, "scheduler", "polyvisor.scheduler.migrations")
    pools = []

    async def make() -> Scheduler:
        pool = await create_pool(fresh_db, "scheduler")
        pools.append(pool)
        s = Scheduler(HostIndex(60.0, clock=lambda: NOW), Store(pool))
        await s.load()
        return s

    yield make
    for p in pools:
        await close_pool(p)


async def test_select_claims_the_best_host_and_returns_alternates(make_scheduler) -> None:
    s = await make_scheduler()
    await s.apply_report(kvm_report("small", memory_mb=8192))
    await s.apply_report(kvm_report("large", memory_mb=65536))
    await s.apply_report(kvm_report("medium", memory_mb=32768))
    result = await s.select_destinations(spec("c1", request_id="r1"))
    assert result.no_valid_host is None
    [inst] = result.instances
    assert inst.consumer_id == "c1"
    assert inst.primary.host == "large"
    assert inst.primary.allocation == Resources(2, 4096, 20)
    assert [a.host for a in inst.alternates] == ["medium", "small"]
    [alloc] = await s.list_allocations(provider_id="large")
    assert (alloc.consumer_id, alloc.request_id) == ("c1", "r1")
    assert s.index.used[s.index.row("large")].tolist() == [2, 4096, 20]
    assert inst.primary.provider_generation == 2


async def test_same_request_claims_once(make_scheduler) -> None:
    s = await make_scheduler()
    await s.apply_report(kvm_report("a"))
    await s.apply_report(kvm_report("b"))
    first = await s.select_destinations(spec("c1", "c2", request_id="r1"))
    second = await s.select_destinations(spec("c1", "c2", request_id="r1"))
    assert [i.primary.host for i in first.instances] == [i.primary.host for i in second.instances]
    allocs = await s.list_allocations()
    assert sorted(a.consumer_id for a in allocs) == ["c1", "c2"]
    # the same request at once, twice: still one claim per consumer
    r1, r2 = await asyncio.gather(
        s.select_destinations(spec("c3", request_id="r2")),
        s.select_destinations(spec("c3", request_id="r2")),
    )
    assert r1.instances[0].primary.host == r2.instances[0].primary.host
    assert len(await s.list_allocations(consumer_id="c3")) == 1


async def test_two_replicas_race_for_the_last_slot(make_scheduler) -> None:
    a = await make_scheduler()
    b = await make_scheduler()
    for s in (a, b):
        await s.apply_report(kvm_report("only", vcpus=4, memory_mb=4096, disk_gb=40))
    ra, rb = await asyncio.gather(
        a.select_destinations(spec("ca")), b.select_destinations(spec("cb"))
    )
    outcomes = sorted([ra.no_valid_host is None, rb.no_valid_host is None])
    assert outcomes == [False, True]
    loser = ra if ra.no_valid_host is not None else rb
    assert loser.no_valid_host is not None
    assert loser.no_valid_host.summary.startswith("1 host: 1 not enough RAM")
    allocs = await a.list_allocations(provider_id="only")
    assert len(allocs) == 1


async def test_the_loser_takes_an_alternate(make_scheduler) -> None:
    a = await make_scheduler()
    b = await make_scheduler()
    for s in (a, b):
        await s.apply_report(kvm_report("best", memory_mb=4096))
        await s.apply_report(kvm_report("second", memory_mb=3072, vcpus=32))
    ra, rb = await asyncio.gather(
        a.select_destinations(spec("ca", memory_mb=3072)),
        b.select_destinations(spec("cb", memory_mb=3072)),
    )
    assert sorted([ra.instances[0].primary.host, rb.instances[0].primary.host]) == [
        "best",
        "second",
    ]
    for host in ("best", "second"):
        assert len(await a.list_allocations(provider_id=host)) == 1


async def test_no_valid_host_explains_and_claims_nothing(make_scheduler) -> None:
    s = await make_scheduler()
    for i in range(3):
        await s.apply_report(kvm_report(f"kvm-{i}"))
    await s.apply_report(
        vmware_report("vc", [("esx-1", 32768, 8192), ("esx-2", 32768, 8192)], cluster="C1")
    )
    result = await s.select_destinations(
        spec("c1", memory_mb=40960, image=ImageRequirements(hypervisor_type=HvType.VMWARE))
    )
    assert result.instances == ()
    e = result.no_valid_host
    assert e is not None
    assert e.summary == "4 hosts: 3 wrong hypervisor_type, 1 RAM above a single ESXi host"
    assert e.filters[-1].examples[0].reason == (
        "cluster C1: 48 GiB free in total but no single ESXi host has 40 GiB "
        "(largest free: 24 GiB on esx-1)"
    )
    assert await s.list_allocations() == []


async def test_multi_instance_is_all_or_nothing(make_scheduler) -> None:
    s = await make_scheduler()
    await s.apply_report(kvm_report("a", memory_mb=8192))
    await s.apply_report(kvm_report("b", memory_mb=8192))
    result = await s.select_destinations(spec("c1", "c2", "c3", memory_mb=8192))
    assert result.no_valid_host is not None
    assert result.no_valid_host.summary.startswith("instance 3 of 3: 2 hosts: 2 not enough RAM")
    assert await s.list_allocations() == []
    assert s.index.used[:, 1].tolist() == [0, 0]


async def test_anti_affinity_across_instances_and_existing_members(make_scheduler) -> None:
    s = await make_scheduler()
    for h in ("a", "b", "c"):
        await s.apply_report(kvm_report(h))
    first = await s.select_destinations(spec("m1", force_host="a"))
    assert first.instances[0].primary.host == "a"
    group = dict(group_id="g", group_policy=GroupPolicy.ANTI_AFFINITY, group_members=("m1",))
    result = await s.select_destinations(spec("m2", "m3", **group))
    assert sorted(i.primary.host for i in result.instances) == ["b", "c"]
    refused = await s.select_destinations(
        spec(
            "m4",
            group_id="g",
            group_policy=GroupPolicy.ANTI_AFFINITY,
            group_members=("m1", "m2", "m3"),
        )
    )
    assert refused.no_valid_host is not None
    assert refused.no_valid_host.summary == "3 hosts: 3 hosts a member of the server group"


async def test_affinity_follows_the_first_member(make_scheduler) -> None:
    s = await make_scheduler()
    for h in ("a", "b"):
        await s.apply_report(kvm_report(h))
    result = await s.select_destinations(
        spec("m1", "m2", "m3", group_id="g", group_policy=GroupPolicy.AFFINITY)
    )
    assert len({i.primary.host for i in result.instances}) == 1


async def test_release_with_build_failure_and_move(make_scheduler) -> None:
    s = await make_scheduler()
    await s.apply_report(kvm_report("a", memory_mb=65536))
    await s.apply_report(kvm_report("b", memory_mb=32768))
    placed = await s.select_destinations(spec("c1"))
    assert placed.instances[0].primary.host == "a"
    sel = await s.move_claim("c1", "b", from_host="a", build_failed=True, reason="spawn failed")
    assert sel.host == "b" and sel.allocation == Resources(2, 4096, 20)
    assert s.index.used[s.index.row("a")].tolist() == [0, 0, 0]
    assert s.index.failures[s.index.row("a")] == 1
    # a recent build failure sinks "a" below the smaller "b"
    again = await s.select_destinations(spec("c2"))
    assert again.instances[0].primary.host == "b"
    assert await s.release_claim("c1", build_failed=True)
    assert not await s.release_claim("c1")
    with pytest.raises(NotFound):
        await s.move_claim("c1", "a")
    with pytest.raises(NotFound):
        await s.move_claim("c2", "nowhere")
    with pytest.raises(FailedPrecondition):
        await s.move_claim("c2", "a", from_host="a")
    await s.apply_report(kvm_report("tiny", memory_mb=1024))
    with pytest.raises(ResourceExhausted, match="needs 4 GiB RAM, 1 GiB free"):
        await s.move_claim("c2", "tiny")
    # a replica that starts now sees the failures of the last hour
    other = Scheduler(HostIndex(60.0, clock=lambda: NOW), s.store)
    await other.load()
    assert other.index.failures[other.index.row("b")] == 1


async def test_disable_reaches_other_replicas_on_refresh(make_scheduler) -> None:
    a = await make_scheduler()
    b = await make_scheduler()
    for s in (a, b):
        await s.apply_report(kvm_report("h"))
    view = await a.set_enabled("h", False, "firmware update")
    assert not view.record.enabled and view.record.disabled_reason == "firmware update"
    assert await b.refresh() >= 1
    result = await b.select_destinations(spec("c1"))
    assert result.no_valid_host is not None
    assert result.no_valid_host.filters[0].examples[0].reason == "disabled: firmware update"
    await b.set_enabled("h", True)
    await a.refresh()
    assert (await a.select_destinations(spec("c1"))).no_valid_host is None
    with pytest.raises(NotFound):
        await a.set_enabled("nope", False)


async def test_list_and_get_providers(make_scheduler) -> None:
    s = await make_scheduler()
    await s.apply_report(kvm_report("k1", az="az1"))
    await s.apply_report(kvm_report("k2", az="az2"))
    await s.apply_report(kvm_report("k3", received_at=10.0))
    await s.apply_report(vmware_report("vmware:vc:C1", [("esx-1", 32768, 0)]))
    page, more = await s.list_providers(limit=2)
    assert [p.record.id for p in page] == ["k1", "k2"] and more
    page, more = await s.list_providers(after="k2", limit=10)
    assert [p.record.id for p in page] == ["k3", "vmware:vc:C1"] and not more
    down, _ = await s.list_providers(up=False)
    assert [p.record.id for p in down] == ["k3"]
    vmware, _ = await s.list_providers(hypervisor_type=HvType.VMWARE)
    assert vmware[0].record.capabilities.cluster.hosts[0].name == "esx-1"
    assert vmware[0].record.inventories["MEMORY_MB"].max_unit == 32768
    az2, _ = await s.list_providers(availability_zone="az2")
    assert [p.record.id for p in az2] == ["k2"]
    await s.select_destinations(spec("c1", force_host="k1"))
    k1 = await s.get_provider("k1")
    assert k1.up and k1.record.used == Resources(2, 4096, 20) and k1.record.allocation_count == 1
    with pytest.raises(NotFound):
        await s.get_provider("zz")
