"""Kept server list pages: bounded by bytes, and revision checks shared per token where every
caller gets the answer of a call sent after it asked."""

from __future__ import annotations

import asyncio

from polyvisor.osapi.kept_pages import KeptPages, RevisionChecks


async def settle() -> None:
    """Let every task ready to run go as far as it can."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_pages_are_kept_within_their_bytes_and_unrevisioned_ones_not_at_all() -> None:
    pages = KeptPages(max_bytes=16 * 100)
    pages.keep(("t", "/a"), 5, b"a" * 60)
    pages.keep(("t", "/b"), 5, b"b" * 60)
    pages.keep(("t", "/q"), 0, b"q" * 10)  # a queried page: nothing can check it
    pages.keep(("t", "/huge"), 5, b"h" * 101)  # over a sixteenth of the room
    assert pages.get(("t", "/a")) == (5, b"a" * 60) and len(pages) == 2
    for n in range(30):  # /a was used last: /b goes first
        pages.keep(("t", f"/n{n}"), 6, b"n" * 60)
    assert pages.get(("t", "/b")) is None and len(pages) == 1600 // 60
    pages.keep(("t", "/n29"), 7, b"new")
    assert pages.get(("t", "/n29")) == (7, b"new")
    pages.drop(("t", "/n29"))
    assert pages.get(("t", "/n29")) is None


async def test_callers_of_one_token_share_the_next_check_never_an_earlier_one() -> None:
    asked: list[str] = []
    gates: list[asyncio.Future[int]] = []

    async def ask(token: str) -> int:
        asked.append(token)
        gates.append(asyncio.get_running_loop().create_future())
        return await gates[-1]

    checks = RevisionChecks(ask, gather_s=0)
    first = asyncio.create_task(checks.revision("t1"))
    await settle()
    assert asked == ["t1"]
    # arriving while the first call is in flight: it may have been answered before they
    # asked, so they wait for the next, one call for both
    late = [asyncio.create_task(checks.revision("t1")) for _ in range(2)]
    other = asyncio.create_task(checks.revision("t2"))  # another token: a call of its own
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
    await checks.close()


async def test_a_failed_check_answers_zero_and_close_ends_the_calls_in_flight() -> None:
    async def failing(token: str) -> int:
        raise RuntimeError("api unreachable")

    assert await RevisionChecks(failing).revision("t") == 0

    async def hangs(token: str) -> int:
        await asyncio.Event().wait()
        return 1

    checks = RevisionChecks(hangs)
    waiting = asyncio.create_task(checks.revision("t"))
    await settle()
    await checks.close()
    await checks.close()  # idempotent
    assert await waiting == 0
