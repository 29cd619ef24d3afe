"""The outbox publisher: publishes in order, marks what was published, and stops when asked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from polyvisor.common.errors import Unavailable
from polyvisor.common.outbox import OutboxMessage, OutboxPublisher


class FakeBus:
    def __init__(self, fail_after: int | None = None) -> None:
        self.published: list[tuple[str, Any, str, str]] = []
        self.fail_after = fail_after

    async def publish(self, subject: str, data: Any, *, msg_id: str, stream: str) -> None:
        if self.fail_after is not None and len(self.published) >= self.fail_after:
            raise Unavailable("message bus unavailable")
        self.published.append((subject, data, msg_id, stream))


class Outbox:
    def __init__(self, n: int) -> None:
        self.rows = [OutboxMessage(i, f"s.{i}", f"id-{i}", b"x") for i in range(n)]

    async def fetch(self, limit: int) -> list[OutboxMessage]:
        return self.rows[:limit]

    async def done(self, seqs: Sequence[int]) -> None:
        self.rows = [r for r in self.rows if r.seq not in set(seqs)]


async def test_publishes_in_order_and_removes_what_was_published() -> None:
    box, bus = Outbox(5), FakeBus(fail_after=3)
    pub = OutboxPublisher(box.fetch, box.done, bus, stream="S", batch=10)  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        await pub.publish_pending()
    assert [p[2] for p in bus.published] == ["id-0", "id-1", "id-2"]
    assert [r.seq for r in box.rows] == [3, 4]  # the published three are gone, the rest stay
    bus.fail_after = None
    assert await pub.publish_pending() == 2
    assert [p[2] for p in bus.published][-2:] == ["id-3", "id-4"] and box.rows == []


async def test_stops_when_cancelled_just_as_it_is_woken() -> None:
    """A cancel that lands as the wake-up completes must still stop the loop (Python 3.11's
    asyncio.wait_for drops such a cancel)."""
    box = Outbox(0)
    pub = OutboxPublisher(box.fetch, box.done, FakeBus(), stream="S", poll_s=0.05)  # type: ignore[arg-type]
    task = asyncio.create_task(pub.run())
    await asyncio.sleep(0.2)  # now waiting to be woken
    pub.wake()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
