"""FreshCalls: one call in flight per key, every caller answered by a call sent after it
asked, a failed or closed call answering `failed`."""

from __future__ import annotations

import asyncio

from polyvisor.common.fresh_calls import FreshCalls


async def settle() -> None:
    """Let every task ready to run go as far as it can."""
    for _ in range(10):
        await asyncio.sleep(0)


async def test_callers_of_one_key_share_the_next_call_never_an_earlier_one() -> None:
    asked: list[str] = []
    gates: list[asyncio.Future[int]] = []

    async def ask(key: str) -> int:
        asked.append(key)
        gates.append(asyncio.get_running_loop().create_future())
        return await gates[-1]

    calls: FreshCalls[str, int] = FreshCalls(ask, failed=0, gather_s=0, what="test")
    first = asyncio.create_task(calls.get("t1"))
    await settle()
    assert asked == ["t1"]
    # arriving while the first call is in flight: it may have been answered before they
    # asked, so they wait for the next, one call for both
    late = [asyncio.create_task(calls.get("t1")) for _ in range(2)]
    other = asyncio.create_task(calls.get("t2"))  # another key: a call of its own
    await settle()
    assert asked == ["t1", "t2"]
    gates[0].set_result(7)
    assert await first == 7
    await settle()
    assert asked == ["t1", "t2", "t1"] and not any(t.done() for t in late)
    gates[2].set_result(8)
    assert [await t for t in late] == [8, 8]
    gates[1].set_result(3)
    assert await other == 3
    await settle()
    assert asked == ["t1", "t2", "t1"]  # nobody waits: no more calls
    await calls.close()


async def test_a_failed_call_answers_failed_and_close_ends_the_calls_in_flight() -> None:
    async def failing(key: str) -> int:
        raise RuntimeError("unreachable")

    assert await FreshCalls(failing, failed=-1, gather_s=0, what="test").get("k") == -1

    async def hangs(key: str) -> int:
        await asyncio.Event().wait()
        return 1

    calls = FreshCalls(hangs, failed=-1, gather_s=0, what="test")
    waiting = asyncio.create_task(calls.get("k"))
    late = asyncio.create_task(calls.get("k"))  # waits for the next call, never sent
    await settle()
    await calls.close()
    await calls.close()  # idempotent
    assert await waiting == -1 and await late == -1
