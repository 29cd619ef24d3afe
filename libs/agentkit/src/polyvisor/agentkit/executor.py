"""The bounded thread pool every blocking driver call runs in.

    calls = DriverCalls(driver, workers=8)
    instance = await calls.run("spawn", driver.spawn, spec)
    await calls.close()       # idempotent; waits for running calls

Drivers block (libvirt, pyvmomi, qemu-img). The event loop never calls them directly: at
most ``workers`` calls run at once, the rest wait their turn. Each call is timed into a
Prometheus histogram by verb.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from polyvisor.agentkit.metrics import DRIVER_CALL_SECONDS, DRIVER_CALLS

__all__ = ["DriverCalls"]

T = TypeVar("T")


class DriverCalls:
    def __init__(self, workers: int = 8, name: str = "driver") -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._closed = False

    async def run(self, verb: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the pool; its result or its exception."""
        if self._closed:
            raise RuntimeError("driver executor closed")
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()  # log context (server id, command id) follows the call
        call = functools.partial(ctx.run, _timed, verb, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._pool.shutdown, True, cancel_futures=True)


def _timed(verb: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    start = time.perf_counter()
    outcome = "ok"
    try:
        return fn(*args, **kwargs)
    except BaseException:
        outcome = "error"
        raise
    finally:
        DRIVER_CALLS.labels(verb, outcome).inc()
        DRIVER_CALL_SECONDS.labels(verb).observe(time.perf_counter() - start)
