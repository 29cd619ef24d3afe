"""Run work one at a time per key, in the order it was submitted, with different keys running
concurrently: the api applies the events of one server in the order the consumer received
them while other servers' events proceed in parallel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class KeyedQueue:
    """Per-key FIFO serialization.

    `run(key, work)` takes its place in the key's line synchronously, when it is called (not
    when it first yields), so callers started in some order are served in that order. Each
    caller waits for the one before it to finish (return, raise or be cancelled) before its
    `work` starts. A caller cancelled while waiting still lets its successor wait for its own
    predecessor, so the line is never jumped. Nothing runs in the background; an idle key
    holds no memory."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    def __len__(self) -> int:
        """How many keys have work running or waiting."""
        return len(self._tails)

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        before = self._tails.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = done
        try:
            if before is not None and not before.done():
                # shield: our cancellation must not cancel the predecessor's marker.
                await asyncio.shield(before)
            return await work()
        finally:
            if before is not None and not before.done():
                # Cancelled while waiting: finish only once the predecessor has.
                before.add_done_callback(lambda _: self._release(key, done))
            else:
                self._release(key, done)

    def _release(self, key: str, done: asyncio.Future[None]) -> None:
        if not done.done():
            done.set_result(None)
        if self._tails.get(key) is done:
            del self._tails[key]
