"""Usage a project's quotas are checked against: stored bytes and conversion seconds."""

from __future__ import annotations

import uuid

from polyvisor.imagesvc.model import (
    RenditionKey,
)
from polyvisor.imagesvc.store.rows import (
    Queries,
    map_db_errors,
)


@map_db_errors
class UsageQueries(Queries):
    _STORED_BYTES = """
        SELECT COALESCE(sum(CASE WHEN r.status = 'active' THEN r.size
                                 ELSE r.reserved_bytes END), 0)::bigint
          FROM imagesvc.renditions r JOIN imagesvc.images i ON i.id = r.image_id
         WHERE i.owner = $1 AND i.status <> 'deleted'
    """

    async def project_stored_bytes(self, project: str) -> int:
        """What `project`'s renditions (originals included) hold, conversions in progress
        counted at what they reserved."""
        return int(await self._pool.fetchval(self._STORED_BYTES, project))

    async def reserve_rendition_bytes(
        self,
        image_id: str,
        key: RenditionKey,
        owner: str,
        *,
        project: str,
        quota: int,
        want: int,
        at_least: int,
    ) -> tuple[int, int]:
        """Reserve up to `want` bytes of `project`'s stored-bytes quota for the claimed
        rendition: (bytes reserved, bytes that were left). Nothing is reserved (0) when fewer
        than `at_least` are left or the claim is lost. Serialised per project (an advisory
        lock), so replicas converting for one project at once never reserve past the quota."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", f"imagesvc:{project}"
            )
            used = int(await conn.fetchval(self._STORED_BYTES, project))
            left = max(0, quota - used)
            if left < at_least:
                return 0, left
            reserve = min(want, left)
            done = await conn.execute(
                """
                UPDATE imagesvc.renditions SET reserved_bytes = $5
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND claimed_by = $4 AND status IN ('pending', 'converting')
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                owner,
                reserve,
            )
            return (reserve if done == "UPDATE 1" else 0), left

    async def conversion_seconds_used(self, project: str, window_s: float) -> float:
        value = await self._pool.fetchval(
            """
            SELECT COALESCE(sum(seconds), 0) FROM imagesvc.conversion_usage
             WHERE project = $1 AND finished_at > now() - make_interval(secs => $2)
            """,
            project,
            window_s,
        )
        return float(value)

    async def record_conversion(self, project: str, image_id: str, seconds: float) -> None:
        await self._pool.execute(
            "INSERT INTO imagesvc.conversion_usage (project, image_id, seconds) "
            "VALUES ($1, $2, $3)",
            project,
            uuid.UUID(image_id),
            seconds,
        )

    async def prune_conversion_usage(self, older_than_s: float) -> int:
        result = await self._pool.execute(
            "DELETE FROM imagesvc.conversion_usage "
            "WHERE finished_at < now() - make_interval(secs => $1)",
            older_than_s,
        )
        return int(result.split()[-1])
