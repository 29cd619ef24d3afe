"""Quotas of a project: limits (-1 = unlimited) and usage."""

from __future__ import annotations

from polyvisor.client.session import Session
from polyvisor.compute.v1 import quotas_pb2

__all__ = ["QuotasApi"]


class QuotasApi:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def get(self, project_id: str = "") -> quotas_pb2.Quota:
        """The quota of `project_id` ("" means the caller's project)."""
        resp = await self._s.call(
            self._s.compute.GetQuota, quotas_pb2.GetQuotaRequest(project_id=project_id)
        )
        return resp.quota

    async def update(
        self,
        project_id: str,
        *,
        instances: int | None = None,
        vcpus: int | None = None,
        ram_mb: int | None = None,
    ) -> quotas_pb2.Quota:
        """Change only the limits given (admin only)."""
        limits = quotas_pb2.QuotaLimits()
        paths = []
        for name, value in (("instances", instances), ("vcpus", vcpus), ("ram_mb", ram_mb)):
            if value is not None:
                setattr(limits, name, value)
                paths.append(name)
        if not paths:
            raise ValueError("give at least one limit to change")
        req = quotas_pb2.UpdateQuotaRequest(project_id=project_id, limits=limits)
        req.update_mask.paths.extend(paths)
        resp = await self._s.call(self._s.compute.UpdateQuota, req)
        return resp.quota
