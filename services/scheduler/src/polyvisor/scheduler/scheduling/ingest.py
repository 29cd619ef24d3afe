"""Host reports in: the index and the providers' rows kept current (reports, refreshes)."""

from __future__ import annotations

import asyncio
import time

from polyvisor.common.errors import PolyvisorError
from polyvisor.scheduler.host_facts import effective_inventories
from polyvisor.scheduler.model import HostCapabilities, HostReport, Inventory
from polyvisor.scheduler.scheduling.core import (
    HOSTS,
    REPORTS_DROPPED,
    SchedulerBase,
    log,
)


class Ingest(SchedulerBase):
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
