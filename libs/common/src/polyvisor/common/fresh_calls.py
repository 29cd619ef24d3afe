"""Calls whose answer is never older than the question: one call in flight per key, shared.

`FreshCalls(ask).get(key)` answers what `ask(key)` returns, from a call sent after `get` was
called. A call in flight when a caller asks may have been answered before the caller asked
(the newest revision it reads may predate a commit the caller has seen), so that caller waits
for the next call, which answers every caller of the key that asked meanwhile: under load one
call serves many callers, and none gets a stale answer. When callers already wait for the
next call, it is sent `gather_s` later, for more to join; a lone caller's call is sent at once.

A failed call answers `failed` to all who waited for it (the callers fall back to their slow
path); `close()` ends the calls in flight, and whoever still waits gets `failed`.

Used where a cheap "what is the newest?" question guards a cached answer: the api's newest
committed revision of the server change log (one key), the OpenStack gateway's revision check
per token.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from polyvisor.common.logging import get_logger

__all__ = ["FreshCalls"]

log = get_logger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class FreshCalls(Generic[K, T]):
    def __init__(
        self,
        ask: Callable[[K], Awaitable[T]],
        *,
        failed: T,
        gather_s: float,
        what: str,
        failures_are_expected: bool = False,
    ) -> None:
        """`what` names the call in the failure log line; a failure is logged at warning
        level unless `failures_are_expected` (then at debug: e.g. a caller's expired token)."""
        self._ask = ask
        self.failed = failed
        self.gather_s = gather_s
        self.what = what
        self._log_failure = log.debug if failures_are_expected else log.warning
        # key -> the future of the next call (None: nobody asked for one yet), while one runs
        self._running: dict[K, asyncio.Future[T] | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, key: K) -> T:
        loop = asyncio.get_running_loop()
        if key in self._running:
            nxt = self._running[key]
            if nxt is None:
                nxt = self._running[key] = loop.create_future()
            return await asyncio.shield(nxt)
        first: asyncio.Future[T] = loop.create_future()
        self._running[key] = None
        # in a context of its own: not the log context and principal of the caller that
        # happened to start it
        task = asyncio.create_task(self._serve(key, first), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(first)

    async def _serve(self, key: K, fut: asyncio.Future[T] | None) -> None:
        try:
            while fut is not None:
                value: T
                try:
                    value = await self._ask(key)
                except Exception as e:  # the callers take their slow path
                    self._log_failure("fresh call failed", call=self.what, error=repr(e))
                    value = self.failed
                fut.set_result(value)
                if self._running.get(key) is not None:  # busy: let more join the next
                    await asyncio.sleep(self.gather_s)
                fut = self._running.get(key)
                self._running[key] = None
        finally:  # cancelled (close): whoever still waits gets `failed`
            for left in (fut, self._running.pop(key, None)):
                if left is not None and not left.done():
                    left.set_result(self.failed)

    async def close(self) -> None:
        """End the calls in flight (their waiters get `failed`). Idempotent."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
