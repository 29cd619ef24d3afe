"""The scheduler's domain service: host reports in, placements out, claims in PostgreSQL.

    scheduler = Scheduler(HostIndex(60.0), Store(pool), SchedulerConfig())
    await scheduler.load()                       # providers and usage from the database
    await scheduler.apply_report(report)         # from the bus
    placement = await scheduler.select_destinations(spec)
    await scheduler.release_claim(consumer_id, build_failed=True)

Selecting runs the filters over the whole index at once (numpy), weighs the survivors, and
claims the best with a compare-and-swap on the provider's generation. A lost compare-and-swap
(another replica, or another request of this one, changed the provider) reloads that provider
from the database and tries it again if it still fits, else the next best; after the ranked
candidates are exhausted the filters run again on the refreshed index, a few times, before the
request is refused with an explanation.

Other replicas' claims reach this index three ways: a lost compare-and-swap (that provider,
at once), the periodic refresh (providers whose row changed since the last refresh, and all of
them every `full_refresh_s`), and the claim's own answer (the provider's new sums).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

from polyvisor.common.errors import (
    FailedPrecondition,
    NotFound,
    PolyvisorError,
    ResourceExhausted,
)
from polyvisor.common.logging import get_logger
from polyvisor.scheduler import renditions
from polyvisor.scheduler.explain import explain, run_filters
from polyvisor.scheduler.filters import (
    ComputeFilter,
    FilterContext,
    HostFilter,
    ResourcesFilter,
    default_filters,
)
from polyvisor.scheduler.index import HostIndex, effective_inventories
from polyvisor.scheduler.model import (
    Allocation,
    ClaimOutcome,
    Explanation,
    HostCapabilities,
    HostReport,
    HvType,
    ImageRequirements,
    InstancePlacement,
    Inventory,
    Placement,
    ProviderRecord,
    RequestSpec,
    Resources,
    Selection,
)
from polyvisor.scheduler.store import Store
from polyvisor.scheduler.weighers import WeigherConfig, rank, weigh

__all__ = ["REPORTS_DROPPED", "ProviderView", "Scheduler", "SchedulerConfig"]

log = get_logger(__name__)

SELECTIONS = Counter(
    "polyvisor_scheduler_selections_total",
    "SelectDestinations outcomes per instance",
    ["outcome"],
)
CLAIM_RESULTS = Counter(
    "polyvisor_scheduler_claims_total",
    "Claim attempts against the database, by outcome",
    ["outcome"],
)
HOSTS = Gauge(
    "polyvisor_scheduler_hosts",
    "Hosts in this replica's index, by state (refreshed with the refresh loop)",
    ["state"],
)
REPORTS_DROPPED = Counter(
    "polyvisor_scheduler_host_reports_dropped_total",
    "Host reports not applied, by reason",
    ["reason"],  # duplicate, stale (ordering), undecodable, no_host_id (the feed)
)
FILTER_SECONDS = Histogram(
    "polyvisor_scheduler_filter_weigh_seconds",
    "Filter and weigh time for one instance (all hosts)",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
)


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    weighers: WeigherConfig = field(default_factory=WeigherConfig)
    #: Alternates returned per instance when the request does not say.
    default_alternates: int = 2
    #: Candidates ranked beyond the primary and its alternates, tried when claims conflict.
    extra_candidates: int = 6
    #: Filter-weigh-claim rounds before a request is refused.
    claim_rounds: int = 4
    #: Build failures within this window weigh a host down.
    failure_window_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class ProviderView:
    """A provider for listing: the database's record plus liveness from the index."""

    record: ProviderRecord
    up: bool
    last_report_at: float


class Scheduler:
    def __init__(
        self,
        index: HostIndex,
        store: Store,
        config: SchedulerConfig | None = None,
        *,
        filters: Sequence[HostFilter] | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.config = config or SchedulerConfig()
        self.filters = list(filters) if filters is not None else default_filters()
        self.rng = rng if rng is not None else np.random.default_rng()
        self._persisted: dict[str, tuple[object, ...]] = {}
        self._watermark = 0
        self._report_lock = asyncio.Lock()
        self._claim_locks: dict[int, asyncio.Lock] = {}

    # ------------------------------------------------------------------ state

    async def load(self) -> int:
        """Every provider the database knows, with its usage; returns how many."""
        records = await self.store.providers()
        for rec in records:
            self.index.load(rec)
            self._persisted[rec.id] = self._fingerprint(
                rec.hostname, rec.capabilities, rec.inventories, rec.connected
            )
        await self.refresh(full=True)
        log.info("providers loaded", providers=len(records))
        return len(records)

    @staticmethod
    def _fingerprint(
        hostname: str, caps: HostCapabilities, inv: dict[str, Inventory], connected: bool
    ) -> tuple[object, ...]:
        return (hostname, caps, inv, connected)

    async def apply_report(self, report: HostReport) -> bool:
        """Apply an agent's report: persist the provider first when its capabilities or
        inventories changed (so a claim never meets an index roomier than the database), then
        the index. False when the report was dropped (not newer than one applied; logged and
        counted in REPORTS_DROPPED). A database failure still updates the
        index (liveness must not wait for the database) and is raised afterwards."""
        async with self._report_lock:
            prev = self.index.last_applied(report.host_id)
            reason = self.index.drop_reason(report)
            if reason is not None:
                assert prev is not None
                REPORTS_DROPPED.labels(reason).inc()
                # A duplicate is a replay (the feed re-opened); a stale one is news.
                (log.info if reason == "duplicate" else log.warning)(
                    "host report dropped",
                    host=report.host_id,
                    reason=reason,
                    agent_id=report.agent_id,
                    incarnation=report.incarnation,
                    sequence=report.sequence,
                    applied_sequence=prev[2],
                )
                return False
            if prev is not None and prev[:2] != (report.agent_id, report.incarnation):
                log.info(
                    "host reports from a new agent incarnation",
                    host=report.host_id,
                    agent_id=report.agent_id,
                    incarnation=report.incarnation,
                    sequence=report.sequence,
                    previous_agent_id=prev[0],
                    previous_incarnation=prev[1],
                    previous_sequence=prev[2],
                )
            known = report.host_id in self.index
            inv = effective_inventories(report.capabilities, report.inventories)
            key = self._fingerprint(report.hostname, report.capabilities, inv, report.connected)
            changed = False
            failure: PolyvisorError | None = None
            if self._persisted.get(report.host_id) != key:
                try:
                    _, changed = await self.store.put_provider(
                        report.host_id,
                        report.hostname,
                        report.capabilities,
                        inv,
                        connected=report.connected,
                        reported_at=report.received_at,
                    )
                    self._persisted[report.host_id] = key
                except PolyvisorError as e:
                    failure = e
            self.index.apply_report(report)
            row = self.index.row(report.host_id)
            assert row is not None
            if failure is not None:
                raise failure
            if changed or not known:
                usage = await self.store.usage(report.host_id)
                if usage is not None:
                    self.index.set_usage(row, usage.generation, usage.used)
            if not known:
                log.info(
                    "host registered",
                    host=report.host_id,
                    hypervisor_type=report.capabilities.hypervisor_type.label,
                )
            return True

    async def refresh(self, *, full: bool = False) -> int:
        """Pull other replicas' changes (generations, usage, enabled) and build failures.
        Returns how many providers changed."""
        states = await self.store.changed_since(0 if full else self._watermark)
        missing: list[str] = []
        for s in states:
            row = self.index.row(s.usage.provider_id)
            if row is None:
                missing.append(s.usage.provider_id)
                continue
            self.index.set_usage(row, s.usage.generation, s.usage.used)
            self.index.set_enabled(row, s.enabled, s.disabled_reason)
        if states:
            self._watermark = max(self._watermark, max(s.changed_seq for s in states))
        if missing:
            for rec in await self.store.providers(missing):
                self.index.load(rec)
        self.index.set_failures(
            {
                k: float(v)
                for k, v in (await self.store.recent_failures(self.config.failure_window_s)).items()
            }
        )
        return len(states)

    async def run_refresh(self, interval_s: float, full_interval_s: float) -> None:
        """The refresh loop (own it with BackgroundTasks): changed providers every
        `interval_s`, all of them every `full_interval_s`; old build failures pruned."""
        last_full = time.monotonic()
        while True:
            await asyncio.sleep(interval_s)
            full = time.monotonic() - last_full >= full_interval_s
            alive = self.index.alive() & self.index.enabled
            HOSTS.labels("usable").set(int(alive.sum()))
            HOSTS.labels("unusable").set(int(self.index.n - alive.sum()))
            try:
                await self.refresh(full=full)
                if full:
                    last_full = time.monotonic()
                    await self.store.forget_failures(2 * self.config.failure_window_s)
            except PolyvisorError as e:
                log.warning("refresh failed", error=str(e))

    # ------------------------------------------------------------------ selection

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
        rows = np.flatnonzero(ok)
        weights = weigh(self.index, rows, self.config.weighers, self.rng)
        ranked, rweights = rank(rows, weights, k)
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
                    alts = [
                        self._selection(int(r), ctx.req, float(w), ctx.spec.image)
                        for r, w in zip(ranked, weights, strict=True)
                        if int(r) != row and self._fits(int(r), ctx)
                    ][:alternates]
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

    def _selection(
        self, row: int, req: np.ndarray, weight: float, image: ImageRequirements | None = None
    ) -> Selection:
        """The answer for one host; with the image, the rendition that host boots."""
        idx = self.index
        caps = idx.caps[row]
        return Selection(
            host=idx.ids[row],
            hostname=idx.hostnames[row],
            hypervisor_type=caps.hypervisor_type,
            availability_zone=caps.availability_zone,
            allocation=Resources.of([int(x) for x in req]),
            provider_generation=int(idx.generation[row]),
            weight=weight,
            rendition=renditions.choose(caps.disk_formats, image) if image is not None else None,
        )

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

    # ------------------------------------------------------------------ claims

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

    async def list_allocations(
        self, *, provider_id: str = "", consumer_id: str = "", after: str = "", limit: int = 100
    ) -> list[Allocation]:
        return await self.store.list_allocations(
            provider_id=provider_id, consumer_id=consumer_id, after=after, limit=limit
        )

    # ------------------------------------------------------------------ providers

    def _view(self, rec: ProviderRecord) -> ProviderView:
        row = self.index.row(rec.id)
        if row is None:
            return ProviderView(rec, False, rec.last_report_at)
        rec = replace(
            rec,
            # the index has the latest report (the database only changes on a difference)
            capabilities=self.index.caps[row],
            inventories=self.index.inventories[row],
            connected=bool(self.index.connected[row]),
        )
        return ProviderView(rec, self.index.is_alive(row), float(self.index.last_report[row]))

    async def list_providers(
        self,
        *,
        hypervisor_type: HvType = HvType.UNSPECIFIED,
        up: bool | None = None,
        enabled: bool | None = None,
        availability_zone: str = "",
        after: str = "",
        limit: int = 100,
    ) -> tuple[list[ProviderView], bool]:
        """A page of providers ordered by id after `after`, and whether more follow."""
        idx = self.index
        keep = np.ones(idx.n, bool)
        if hypervisor_type != HvType.UNSPECIFIED:
            keep &= idx.hv_type == int(hypervisor_type)
        if up is not None:
            keep &= idx.alive() == up
        if enabled is not None:
            keep &= idx.enabled == enabled
        if availability_zone:
            keep &= idx.mask(("az", availability_zone))
        ids = sorted(idx.ids[int(r)] for r in np.flatnonzero(keep))
        ids = [i for i in ids if i > after]
        page, more = ids[:limit], len(ids) > limit
        records = {r.id: r for r in await self.store.providers(page)}
        return [self._view(records[i]) for i in page if i in records], more

    async def get_provider(self, provider_id: str) -> ProviderView:
        records = await self.store.providers([provider_id])
        if not records:
            raise NotFound(
                f"host {provider_id} is not known to the scheduler", {"host": provider_id}
            )
        return self._view(records[0])

    async def set_enabled(self, provider_id: str, enabled: bool, reason: str = "") -> ProviderView:
        if not await self.store.set_enabled(provider_id, enabled, reason):
            raise NotFound(
                f"host {provider_id} is not known to the scheduler", {"host": provider_id}
            )
        row = self.index.row(provider_id)
        if row is not None:
            self.index.set_enabled(row, enabled, reason)
        log.info("host enabled" if enabled else "host disabled", host=provider_id, reason=reason)
        return await self.get_provider(provider_id)
