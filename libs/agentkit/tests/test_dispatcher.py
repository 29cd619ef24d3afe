"""ServerDispatcher: FIFO per server, bounded across servers, failures contained."""

from __future__ import annotations

import asyncio
import time

from polyvisor.agentkit.dispatcher import ServerDispatcher


async def test_one_server_runs_in_order_and_servers_run_in_parallel_up_to_the_bound() -> None:
    d = ServerDispatcher(concurrency=2)
    log: list[str] = []
    running = 0
    peak = 0
    gate = asyncio.Event()

    def job(server: str, n: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await gate.wait()
            log.append(f"{server}{n}")
            running -= 1

        return run

    for n in range(3):
        for server in ("a", "b", "c"):
            d.submit(server, job(server, n))
    assert d.pending == 9
    await asyncio.sleep(0.05)
    assert running == 2  # the bound, although three servers have work
    assert d.busy_servers() == {"a", "b", "c"}
    gate.set()
    await asyncio.wait_for(d.wait_idle(), 5)
    assert peak == 2
    for server in ("a", "b", "c"):
        assert [x for x in log if x[0] == server] == [f"{server}0", f"{server}1", f"{server}2"]
    assert d.pending == 0 and not d.busy("a")
    await d.close()


async def test_a_failing_job_does_not_stop_the_queue() -> None:
    d = ServerDispatcher(concurrency=1)
    done: list[int] = []

    async def boom() -> None:
        raise RuntimeError("boom")

    async def ok() -> None:
        done.append(1)

    d.submit("a", boom)
    d.submit("a", ok)
    await asyncio.wait_for(d.wait_idle(), 5)
    assert done == [1]
    await d.close()
    await d.close()  # idempotent


async def test_close_cancels_running_work() -> None:
    d = ServerDispatcher(concurrency=1)
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    d.submit("a", forever)
    await started.wait()
    await d.close()
    assert cancelled.is_set()


async def test_it_remembers_when_each_servers_last_job_ended() -> None:
    d = ServerDispatcher(concurrency=2, remember=2)
    gate = asyncio.Event()

    async def failing() -> None:
        await gate.wait()
        raise RuntimeError("boom")

    before = time.monotonic()
    d.submit("a", failing)
    await asyncio.sleep(0)
    assert not d.ended_since("a", before)  # still running
    gate.set()
    await asyncio.wait_for(d.wait_idle(), 5)
    assert d.ended_since("a", before)  # a failed job ends too
    assert not d.ended_since("a", time.monotonic() + 1)
    assert not d.ended_since("never", before)

    async def nothing() -> None:
        return None

    for server in ("b", "c"):
        d.submit(server, nothing)
    await asyncio.wait_for(d.wait_idle(), 5)
    assert not d.ended_since("a", before)  # forgotten: only the newest two are kept
    assert d.ended_since("b", before) and d.ended_since("c", before)
    await d.close()
