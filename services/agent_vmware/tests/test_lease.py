"""The cluster lease on a real NATS KV bucket, and the leadership loop around it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from polyvisor.agent_vmware.leadership import Leadership
from polyvisor.agent_vmware.lease import Lease
from polyvisor.common.bus.client import Bus
from polyvisor.common.bus.kv import KeyValue

TTL = 2.0  # renewals every TTL/3: short, yet roomy enough for a loaded 2-core machine


@pytest.fixture
async def kv(nats_url: str, unique_name: Callable[[str], str]) -> AsyncIterator[KeyValue]:
    bus = await Bus.connect([nats_url], name="lease-test")
    try:
        yield await bus.key_value(unique_name("leases"), ttl=TTL)
    finally:
        await bus.close()


async def until(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait (bounded) for a state; not a timing assertion."""
    for _ in range(int(within / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not reached within {within}s")


async def test_one_holder_at_a_time_and_expiry_hands_over(kv: KeyValue) -> None:
    a, b = Lease(kv, "host-1", "replica-a"), Lease(kv, "host-1", "replica-b")
    assert await a.acquire()
    assert not await b.acquire()
    assert await a.renew()
    assert await a.holder_now() == "replica-a"
    # a stops renewing (dies): within the TTL the key expires and b gets it
    for _ in range(100):
        if await b.acquire():
            break
        await asyncio.sleep(0.1)
    assert await b.holder_now() == "replica-b"
    assert not await a.renew()  # too late: a knows it lost
    assert not a.held
    await b.release()
    assert await b.holder_now() is None
    assert await a.acquire()  # a clean release hands over at once


async def test_a_restarted_holder_continues_its_own_lease(kv: KeyValue) -> None:
    first = Lease(kv, "host-2", "replica-a")
    assert await first.acquire()
    again = Lease(kv, "host-2", "replica-a")  # the same process id after a quick restart
    assert await again.acquire()
    assert not await first.renew()  # the old handle's revision is stale


async def test_leadership_acts_only_while_holding(kv: KeyValue) -> None:
    log: list[str] = []

    def leader(name: str) -> Leadership:
        async def start() -> None:
            log.append(f"{name}:start")

        async def stop() -> None:
            log.append(f"{name}:stop")

        return Leadership(Lease(kv, "host-3", name), ttl_s=TTL, start=start, stop=stop)

    a, b = leader("a"), leader("b")
    task_a = asyncio.create_task(a.run())
    await until(lambda: a.acting)
    task_b = asyncio.create_task(b.run())
    await asyncio.sleep(TTL * 1.5)  # several renewals: b never gets in
    assert a.acting and not b.acting and log == ["a:start"]

    # The lease is taken from a (as if a's renewals had lapsed): a stops acting at its next
    # renewal attempt, and b takes over.
    a_lease = a.lease
    assert a_lease.revision is not None
    await kv.delete("host-3", revision=a_lease.revision)
    await until(lambda: b.acting)
    await until(lambda: not a.acting)
    assert log.count("a:stop") == 1 and log.count("b:start") == 1

    # b shuts down cleanly: it gives the lease back and a (standing by) takes over.
    await b.close()
    task_b.cancel()
    await until(lambda: a.acting)
    assert log[-2:] == ["b:stop", "a:start"]
    await a.close()
    task_a.cancel()
    await asyncio.gather(task_a, task_b, return_exceptions=True)


async def test_a_failing_start_gives_the_lease_up(kv: KeyValue) -> None:
    attempts = 0

    async def start() -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("NATS stream missing")

    async def stop() -> None:
        return None

    lead = Leadership(Lease(kv, "host-4", "a"), ttl_s=TTL, start=start, stop=stop)
    task = asyncio.create_task(lead.run())
    await until(lambda: attempts >= 2)  # it let go and tried again
    await lead.close()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert await Lease(kv, "host-4", "b").acquire()
