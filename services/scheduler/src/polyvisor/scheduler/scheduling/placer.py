"""Placements out: filter and weigh the whole index, claim the best with a compare-and-swap on
the provider's generation, retry on a lost one, refuse with an explanation."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np

from polyvisor.scheduler.explain import explain, run_filters
from polyvisor.scheduler.filters import (
    FilterContext,
    HostFilter,
)
from polyvisor.scheduler.model import (
    Allocation,
    ClaimOutcome,
    Explanation,
    HvType,
    InstancePlacement,
    Placement,
    RequestSpec,
    Selection,
)
from polyvisor.scheduler.scheduling.claims import Claims
from polyvisor.scheduler.scheduling.core import (
    CLAIM_RESULTS,
    FILTER_SECONDS,
    SELECTIONS,
    log,
)
from polyvisor.scheduler.weighers import best


class Placer(Claims):
    """(A request that fails part-way releases what it claimed: it is also `Claims`.)"""

    async def select_destinations(self, spec: RequestSpec, max_alternates: int = 0) -> Placement:
        """Place every consumer of the spec, or none (then with the explanation).

        Idempotent per consumer: one that already holds a claim keeps it (the claim function
        answers "exists"), so a repeated request returns what the first one claimed."""
        alternates = max_alternates or self.config.default_alternates
        hint_servers = sorted({*spec.same_host, *spec.different_host, *spec.group_members})
        hosts_of = await self.store.hosts_of(hint_servers) if hint_servers else {}
        ctx = FilterContext.build(self.index, spec, hosts_of=hosts_of)
        placed: list[InstancePlacement] = []
        for i, consumer in enumerate(spec.consumer_ids):
            ctx.now = self.index.clock()
            result = await self._place_one(ctx, consumer, alternates)
            if isinstance(result, Explanation):
                SELECTIONS.labels("no_valid_host").inc()
                await self._undo(placed)
                if len(spec.consumer_ids) > 1:
                    result = replace(
                        result,
                        summary=f"instance {i + 1} of {len(spec.consumer_ids)}: {result.summary}",
                    )
                log.info("no valid host", request_id=spec.request_id, summary=result.summary)
                return Placement(no_valid_host=result)
            placed.append(result)
            row = self.index.row(result.primary.host)
            if row is not None:
                ctx.placed_rows.append(row)
        return Placement(instances=tuple(placed))

    async def _undo(self, placed: list[InstancePlacement]) -> None:
        """All or nothing: release what this request holds."""
        for p in placed:
            await self.release_claim(p.consumer_id)

    async def _existing(
        self, ctx: FilterContext, consumer: str, alternates: int
    ) -> InstancePlacement | None:
        allocs = await self.store.allocations_of([consumer])
        alloc = allocs.get(consumer)
        if alloc is None:
            return None
        SELECTIONS.labels("repeat").inc()
        return self._from_allocation(ctx, alloc, alternates)

    def _candidates(
        self, ctx: FilterContext, k: int
    ) -> tuple[np.ndarray, np.ndarray, list[tuple[HostFilter, np.ndarray]]]:
        t0 = time.perf_counter()
        ok, masks = run_filters(self.index, ctx, self.filters)
        ranked, rweights = best(self.index, ok, self.config.weighers, self.rng, k)
        FILTER_SECONDS.observe(time.perf_counter() - t0)
        return ranked, rweights, masks

    def filter_and_weigh(self, spec: RequestSpec, k: int = 3) -> list[tuple[str, float]]:
        """The best `k` hosts for a spec without claiming (for benchmarks and diagnostics)."""
        ctx = FilterContext.build(self.index, spec)
        ranked, weights, _ = self._candidates(ctx, k)
        return [(self.index.ids[int(r)], float(w)) for r, w in zip(ranked, weights, strict=True)]

    async def _place_one(
        self, ctx: FilterContext, consumer: str, alternates: int
    ) -> InstancePlacement | Explanation:
        k = 1 + alternates + self.config.extra_candidates
        masks: list[tuple[HostFilter, np.ndarray]] = []
        for attempt in range(self.config.claim_rounds):
            ranked, weights, masks = self._candidates(ctx, k)
            if ranked.size == 0:
                repeat = await self._existing(ctx, consumer, alternates)
                if repeat is not None:
                    return repeat
                note = "" if attempt == 0 else "concurrent claims took the last candidates"
                return explain(self.index, ctx, masks, note=note)
            # Providers this replica is claiming on right now go last: another request is
            # about to take room there, and waiting for it is slower than the next best.
            order = sorted(range(ranked.size), key=lambda j: self._busy(int(ranked[j])))
            for i in order:
                row = int(ranked[i])
                outcome = await self._claim(ctx, consumer, row)
                if outcome == ClaimOutcome.CLAIMED:
                    SELECTIONS.labels("placed").inc()
                    primary = self._selection(row, ctx.req, float(weights[i]), ctx.spec.image)
                    alts: list[Selection] = []
                    for r, w in zip(ranked.tolist(), weights.tolist(), strict=True):
                        if len(alts) == alternates:
                            break  # the ranked candidates beyond are for conflicts only
                        if r != row and self._fits(r, ctx):
                            alts.append(self._selection(r, ctx.req, w, ctx.spec.image))
                    return InstancePlacement(consumer, primary, tuple(alts))
                if outcome == ClaimOutcome.EXISTS:
                    # A repeated request (or the same one, concurrently): keep that claim.
                    repeat = await self._existing(ctx, consumer, alternates)
                    if repeat is not None:
                        return repeat
            ctx.now = self.index.clock()
        repeat = await self._existing(ctx, consumer, alternates)
        if repeat is not None:
            return repeat
        _, masks = run_filters(self.index, ctx, self.filters)
        return explain(
            self.index, ctx, masks, note="concurrent claims took every candidate, retry later"
        )

    def _fits(self, row: int, ctx: FilterContext, extra: np.ndarray | None = None) -> bool:
        """Whether the row still passes resources, liveness and enabled (with `extra` more
        already taken, when given)."""
        idx = self.index
        r = ctx.req if extra is None else ctx.req + extra
        fit = idx.fit[row]
        return bool(
            all(fit[c] >= r[c] for c in range(3) if r[c] > 0)
            and idx.is_alive(row, ctx.now)
            and idx.enabled[row]
        )

    def _lock(self, row: int) -> asyncio.Lock:
        lock = self._claim_locks.get(row)
        if lock is None:
            lock = self._claim_locks[row] = asyncio.Lock()
        return lock

    def _busy(self, row: int) -> bool:
        lock = self._claim_locks.get(row)
        return lock is not None and lock.locked()

    def _fits_reserved(self, row: int, ctx: FilterContext) -> bool:
        """Whether the row still has room, this request's amount being already pending."""
        idx = self.index
        r = ctx.req
        free = idx.free[row]
        max_unit = idx.max_unit[row]
        return bool(
            all(free[c] >= 0 and max_unit[c] >= r[c] for c in range(3) if r[c] > 0)
            and idx.is_alive(row, ctx.now)
            and idx.enabled[row]
        )

    async def _claim(self, ctx: FilterContext, consumer: str, row: int) -> ClaimOutcome:
        """Claim on one provider. The amount is pending in the index from now on, so
        concurrent requests of this replica weigh the provider as if it were taken; claims of
        this replica on one provider go one at a time, so the second uses the generation the
        first produced instead of failing its compare-and-swap."""
        idx = self.index
        idx.add_pending(row, ctx.req)
        try:
            async with self._lock(row):
                if not self._fits_reserved(row, ctx):
                    return ClaimOutcome.NO_CAPACITY
                return await self._claim_locked(ctx, consumer, row)
        finally:
            idx.remove_pending(row, ctx.req)

    async def _claim_locked(self, ctx: FilterContext, consumer: str, row: int) -> ClaimOutcome:
        idx = self.index
        host = idx.ids[row]
        spec = ctx.spec
        outcome = ClaimOutcome.CONFLICT
        for _ in range(3):
            result = await self.store.claim(
                consumer,
                host,
                int(idx.generation[row]),
                spec.resources,
                project_id=spec.project_id,
                user_id=spec.user_id,
                request_id=spec.request_id,
            )
            outcome = result.outcome
            CLAIM_RESULTS.labels(outcome.value).inc()
            if result.usage is not None:
                idx.set_usage(row, result.usage.generation, result.usage.used)
            if outcome != ClaimOutcome.CONFLICT or not self._fits_reserved(row, ctx):
                return outcome
        return outcome

    def _from_allocation(
        self, ctx: FilterContext, alloc: Allocation, alternates: int
    ) -> InstancePlacement:
        """A consumer that already holds a claim: that claim, plus fresh alternates."""
        row = self.index.row(alloc.provider_id)
        if row is None:
            primary = Selection(
                alloc.provider_id, alloc.provider_id, HvType.UNSPECIFIED, "", alloc.resources, 0, 0
            )
        else:
            primary = replace(
                self._selection(row, ctx.req, 0.0, ctx.spec.image), allocation=alloc.resources
            )
        ranked, weights, _ = self._candidates(ctx, 1 + alternates)
        alts = [
            self._selection(int(r), ctx.req, float(w), ctx.spec.image)
            for r, w in zip(ranked, weights, strict=True)
            if int(r) != row
        ][:alternates]
        return InstancePlacement(alloc.consumer_id, primary, tuple(alts))
