"""Per-server ordering, bounded concurrency across servers.

    dispatcher = ServerDispatcher(concurrency=8)
    dispatcher.submit("srv-1", job)      # job: () -> Awaitable[None]
    dispatcher.busy("srv-1")             # queued or running work for that server
    dispatcher.ended_since("srv-1", t)   # a job of that server ended at or after t (monotonic)
    await dispatcher.close()             # cancels what runs, drops what waits (idempotent)

Jobs of one server run one at a time, in submission order (one worker task per server with
a FIFO queue). Across servers at most ``concurrency`` jobs run at once. A job's exception is
logged; it never stops the server's queue. When each server's last job ended is remembered
(for the newest ``remember`` servers): an observation of a server made before one of its jobs
ended says nothing about the state that job left.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable

from polyvisor.common.logging import get_logger

__all__ = ["Job", "ServerDispatcher"]

log = get_logger(__name__)

Job = Callable[[], Awaitable[None]]


class ServerDispatcher:
    def __init__(self, concurrency: int, *, remember: int = 100_000) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.remember = remember
        self._ended: OrderedDict[str, float] = OrderedDict()  # server -> its last job's end
        self._slots = asyncio.Semaphore(concurrency)
        self._queues: dict[str, deque[Job]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    def submit(self, server_id: str, job: Job) -> None:
        if self._closed:
            raise RuntimeError("dispatcher closed")
        self._queues.setdefault(server_id, deque()).append(job)
        self._idle.clear()
        if server_id not in self._workers:
            self._workers[server_id] = asyncio.get_running_loop().create_task(
                self._drain(server_id), name=f"server-queue:{server_id}"
            )

    def busy(self, server_id: str) -> bool:
        return server_id in self._workers

    def ended_since(self, server_id: str, since: float) -> bool:
        """Whether a job of ``server_id`` ended at or after ``since`` (``time.monotonic()``)."""
        ended = self._ended.get(server_id)
        return ended is not None and ended >= since

    def busy_servers(self) -> set[str]:
        return set(self._workers)

    @property
    def pending(self) -> int:
        """Jobs queued or running (a running job stays at the head of its queue)."""
        return sum(len(q) for q in self._queues.values())

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def _drain(self, server_id: str) -> None:
        queue = self._queues[server_id]
        try:
            while queue:
                job = queue[0]
                async with self._slots:
                    try:
                        await job()
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("server job failed", server_id=server_id)
                    finally:
                        self._job_ended(server_id)
                queue.popleft()
        finally:
            self._workers.pop(server_id, None)
            if not queue:
                self._queues.pop(server_id, None)
            if not self._workers:
                self._idle.set()

    def _job_ended(self, server_id: str) -> None:
        self._ended[server_id] = time.monotonic()
        self._ended.move_to_end(server_id)
        while len(self._ended) > self.remember:
            self._ended.popitem(last=False)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        workers = list(self._workers.values())
        for t in workers:
            t.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._queues.clear()
        self._idle.set()
