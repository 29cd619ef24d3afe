"""Claims after placement: released (a build failed, a server deleted), moved, listed."""

from __future__ import annotations

import numpy as np

from polyvisor.common.errors import (
    FailedPrecondition,
    NotFound,
    ResourceExhausted,
)
from polyvisor.scheduler import move_store
from polyvisor.scheduler.filters import (
    ComputeFilter,
    FilterContext,
    ResourcesFilter,
)
from polyvisor.scheduler.model import (
    Allocation,
    RequestSpec,
    Resources,
    Selection,
)
from polyvisor.scheduler.scheduling.core import (
    SchedulerBase,
    log,
)


class Claims(SchedulerBase):
    async def release_claim(
        self, consumer_id: str, *, build_failed: bool = False, reason: str = ""
    ) -> bool:
        usage = await self.store.release(consumer_id, build_failed=build_failed, reason=reason)
        if usage is None:
            return False
        row = self.index.row(usage.provider_id)
        if row is not None:
            self.index.set_usage(row, usage.generation, usage.used)
            if build_failed:
                self.index.add_failure(row)
        log.info(
            "claim released",
            consumer_id=consumer_id,
            host=usage.provider_id,
            build_failed=build_failed,
        )
        return True

    async def move_claim(
        self,
        consumer_id: str,
        to_host: str,
        *,
        from_host: str = "",
        build_failed: bool = False,
        reason: str = "",
    ) -> Selection:
        idx = self.index
        row = idx.row(to_host)
        if row is None:
            raise NotFound(f"host {to_host} is not known to the scheduler", {"host": to_host})
        now = idx.clock()
        if not (idx.is_alive(row, now) and idx.enabled[row]):
            ctx = FilterContext.build(idx, RequestSpec((consumer_id,), Resources()), now=now)
            why = ComputeFilter().reason(idx, ctx, row)
            raise FailedPrecondition(f"host {to_host} cannot take servers: {why}")
        result = await self.store.move(
            consumer_id,
            to_host,
            expected_from=from_host,
            build_failed=build_failed,
            reason=reason,
        )
        for pid in {to_host, result.from_provider}:
            if pid is None:
                continue
            usage = await self.store.usage(pid)
            prow = idx.row(pid)
            if usage is not None and prow is not None:
                idx.set_usage(prow, usage.generation, usage.used)
        if result.status == "no_allocation":
            raise NotFound(f"consumer {consumer_id} holds no claim", {"consumer_id": consumer_id})
        if result.status == "from_mismatch":
            raise FailedPrecondition(
                f"consumer {consumer_id}'s claim is on {result.from_provider}, not {from_host}"
            )
        if result.status == "no_provider":
            raise NotFound(f"host {to_host} is not known to the scheduler", {"host": to_host})
        allocs = await self.store.allocations_of([consumer_id])
        alloc = allocs.get(consumer_id)
        if alloc is None:
            raise NotFound(f"consumer {consumer_id} holds no claim", {"consumer_id": consumer_id})
        req = np.array(alloc.resources.as_tuple(), np.int64)
        if result.status == "no_capacity":
            ctx = FilterContext.build(idx, RequestSpec((consumer_id,), alloc.resources), now=now)
            why = ResourcesFilter().reason(idx, ctx, row)
            raise ResourceExhausted(f"host {to_host} has no room for the claim: {why}")
        if build_failed and result.from_provider and result.status == "moved":
            frow = idx.row(result.from_provider)
            if frow is not None:
                idx.add_failure(frow)
        log.info("claim moved", consumer_id=consumer_id, frm=result.from_provider, to=to_host)
        return self._selection(row, req, 0.0)

    async def replace_claim(self, consumer_id: str, with_consumer_id: str) -> tuple[bool, str]:
        """A confirmed move: the consumer's claim is dropped and `with_consumer_id`'s becomes
        its own. (replaced, the host its claim is on now); idempotent."""
        if consumer_id == with_consumer_id:
            raise FailedPrecondition("a claim cannot replace itself")
        result = await move_store.replace(self.store, consumer_id, with_consumer_id)
        for pid in {result.provider_id, result.old_provider_id} - {""}:
            usage = await self.store.usage(pid)
            row = self.index.row(pid)
            if usage is not None and row is not None:
                self.index.set_usage(row, usage.generation, usage.used)
        log.info(
            "claim replaced",
            consumer_id=consumer_id,
            with_consumer_id=with_consumer_id,
            replaced=result.replaced,
            frm=result.old_provider_id,
            to=result.provider_id,
        )
        return result.replaced, result.provider_id

    async def list_allocations(
        self, *, provider_id: str = "", consumer_id: str = "", after: str = "", limit: int = 100
    ) -> list[Allocation]:
        return await self.store.list_allocations(
            provider_id=provider_id, consumer_id=consumer_id, after=after, limit=limit
        )
