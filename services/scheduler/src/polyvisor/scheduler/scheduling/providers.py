"""Providers as the api lists them: the database's record with liveness from the index."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from polyvisor.common.errors import (
    NotFound,
)
from polyvisor.scheduler.model import (
    HvType,
    ProviderRecord,
)
from polyvisor.scheduler.scheduling.core import (
    ProviderView,
    SchedulerBase,
    log,
)


class Providers(SchedulerBase):
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
