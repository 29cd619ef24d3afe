"""Per-project quotas: limits (a row, or the service's defaults) and usage, and the check
an insert makes with the project's quota locked."""

from __future__ import annotations

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import ResourceExhausted
from polyvisor.volumesvc.model import Quota
from polyvisor.volumesvc.store.rows import Queries


class QuotaQueries(Queries):
    async def _quota(self, conn: asyncpg.Connection, project_id: str, lock: bool) -> Quota:
        if lock:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('volume.quota:' || $1))", project_id
            )
        r = await conn.fetchrow("SELECT * FROM volume.quotas WHERE project_id = $1", project_id)
        limits = (r["volumes"], r["gigabytes"], r["snapshots"]) if r else self._defaults
        used = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM volume.volumes WHERE project_id = $1) AS v,"
            " (SELECT coalesce(sum(size_gb), 0) FROM volume.volumes WHERE project_id = $1)"
            " + (SELECT coalesce(sum(size_gb), 0) FROM volume.snapshots WHERE project_id = $1)"
            " AS g,"
            " (SELECT count(*) FROM volume.snapshots WHERE project_id = $1) AS s",
            project_id,
        )
        return Quota(
            project_id, limits[0], limits[1], limits[2], used["v"], int(used["g"]), used["s"]
        )

    async def quota(self, project_id: str) -> Quota:
        with db_errors():
            async with self._pool.acquire() as conn:
                return await self._quota(conn, project_id, lock=False)

    async def set_quota(self, q: Quota) -> Quota:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO volume.quotas (project_id, volumes, gigabytes, snapshots)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (project_id) DO UPDATE SET"
                    " volumes = $2, gigabytes = $3, snapshots = $4",
                    q.project_id,
                    q.volumes,
                    q.gigabytes,
                    q.snapshots,
                )
                return await self._quota(conn, q.project_id, lock=False)

    @staticmethod
    def _check(q: Quota, volumes: int = 0, gigabytes: int = 0, snapshots: int = 0) -> None:
        for what, limit, used, more in (
            ("volumes", q.volumes, q.volumes_used, volumes),
            ("gigabytes", q.gigabytes, q.gigabytes_used, gigabytes),
            ("snapshots", q.snapshots, q.snapshots_used, snapshots),
        ):
            if more and limit >= 0 and used + more > limit:
                raise ResourceExhausted(
                    f"quota exceeded for {what}: {used} used + {more} asked > {limit}",
                    {"resource": what, "limit": limit, "used": used, "requested": more},
                )
