"""Project quotas: read by the project, changed by admins."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.store import identity as identity_store
from polyvisor.api.store import quotas as store
from polyvisor.api.store.db import Pool
from polyvisor.common.auth import Principal
from polyvisor.common.db import db_errors
from polyvisor.common.errors import InvalidArgument, NotFound, PermissionDenied

LIMIT_FIELDS = ("instances", "vcpus", "ram_mb")


class Quotas:
    def __init__(self, pool: Pool, defaults: m.QuotaLimits) -> None:
        self.pool = pool
        self.defaults = defaults

    async def _project(self, p: Principal, project_id: str) -> str:
        project_id = project_id or p.project_id
        if project_id != p.project_id and not p.is_admin:
            raise PermissionDenied("only admins may read another project's quota")
        with db_errors():
            project = await identity_store.get_project(self.pool, project_id)
        if project is None:
            raise NotFound(f"project {project_id} not found", {"project_id": project_id})
        return project.id

    async def get(self, p: Principal, project_id: str) -> m.Quota:
        pid = await self._project(p, project_id)
        with db_errors():
            await store.ensure(self.pool, pid, self.defaults)
            q = await store.get(self.pool, pid)
        assert q is not None
        return q

    async def update(
        self, p: Principal, project_id: str, limits: m.QuotaLimits, paths: list[str]
    ) -> m.Quota:
        p.require_admin()
        if not project_id:
            raise InvalidArgument("project_id is required", {"field": "project_id"})
        unknown = sorted(set(paths) - set(LIMIT_FIELDS))
        if unknown:
            raise InvalidArgument(
                f"unknown update_mask paths: {', '.join(unknown)}", {"field": "update_mask"}
            )
        fields = paths or list(LIMIT_FIELDS)
        for f in fields:
            if getattr(limits, f) < -1:
                raise InvalidArgument(
                    f"{f} must be -1 (unlimited) or more", {"field": f"limits.{f}"}
                )
        current = await self.get(p, project_id)
        merged = m.QuotaLimits(
            *(getattr(limits if f in fields else current.limits, f) for f in LIMIT_FIELDS)
        )
        with db_errors():
            q = await store.set_limits(self.pool, current.project_id, merged)
        assert q is not None
        return q
