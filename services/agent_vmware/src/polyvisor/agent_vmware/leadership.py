"""Run the agent only while holding the cluster's lease; stand by otherwise.

    leader = Leadership(lease, ttl_s=15, start=start_runtime, stop=stop_runtime)
    tasks.start("lease", leader.run())
    ...
    await leader.close()        # stops acting first, then gives the lease back

The holder renews every TTL/3. A renewal that fails (the lease expired and was taken, or
NATS cannot confirm it in time) stops the agent at once: the runtime's consumer is paused
before anything else, so a replica that may have lost its lease takes no new command. A
standby tries to take the lease every TTL/10, so it takes over within the TTL of the
holder's last renewal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from polyvisor.agent_vmware.lease import Lease
from polyvisor.agent_vmware.metrics import LEASE_HELD, LEASE_TERMS
from polyvisor.common.errors import PolyvisorError
from polyvisor.common.logging import get_logger

__all__ = ["Leadership"]

log = get_logger(__name__)


class Leadership:
    def __init__(
        self,
        lease: Lease,
        *,
        ttl_s: float,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.lease = lease
        self.ttl_s = ttl_s
        self.renew_every = ttl_s / 3
        self.retry_every = max(0.1, ttl_s / 10)
        self._start = start
        self._stop = stop
        self._acting = False
        self._closed = False
        self.terms = 0  # how many times this replica became the holder
        self.changed = asyncio.Event()

    @property
    def acting(self) -> bool:
        return self._acting

    async def run(self) -> None:
        while not self._closed:
            if not await self._try_acquire():
                await asyncio.sleep(self.retry_every)
                continue
            if self._closed:
                await self.lease.release()
                return
            self.terms += 1
            log.info("lease acquired: acting for the cluster", key=self.lease.key, term=self.terms)
            # The agent starts while the lease is renewed: a slow start never lets it lapse.
            starting = asyncio.create_task(self._begin(), name="lease-start")
            try:
                await self._hold(starting)
            finally:
                if not starting.done():
                    starting.cancel()
                with contextlib.suppress(BaseException):
                    await starting
                await self._end()
                await self.lease.release()
            if not self._closed:
                await asyncio.sleep(self.retry_every)

    async def _try_acquire(self) -> bool:
        try:
            return await asyncio.wait_for(self.lease.acquire(), self.renew_every)
        except (PolyvisorError, TimeoutError) as e:
            log.debug("lease not acquired", error=repr(e))
            return False

    async def _begin(self) -> None:
        self._acting = True
        LEASE_HELD.set(1)
        LEASE_TERMS.inc()
        self._signal()
        await self._start()

    async def _hold(self, starting: asyncio.Task[None]) -> None:
        """Renew every TTL/3 until a renewal fails, the start fails, or we are closed."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            renew_at = loop.time() + self.renew_every
            if not starting.done():
                await asyncio.wait({starting}, timeout=self.renew_every)
            if starting.done() and not starting.cancelled() and starting.exception() is not None:
                log.error(
                    "agent failed to start: giving the lease up", error=repr(starting.exception())
                )
                return
            await asyncio.sleep(max(0.0, renew_at - loop.time()))
            if self._closed:
                return
            try:
                ok = await asyncio.wait_for(self.lease.renew(), self.renew_every)
            except (PolyvisorError, TimeoutError) as e:
                log.warning("lease renewal failed", error=repr(e))
                ok = False
            if not ok:
                log.warning("lease lost: standing by", key=self.lease.key)
                return

    async def _end(self) -> None:
        if not self._acting:
            return
        self._acting = False
        LEASE_HELD.set(0)
        self._signal()
        with contextlib.suppress(Exception):
            await self._stop()

    def _signal(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def close(self) -> None:
        """Stop acting, then hand the lease back. Idempotent."""
        self._closed = True
        await self._end()
        await self.lease.release()
