"""Renditions: a conversion claims one with a conditional insert (or takes over a failed or
abandoned one), reports progress, and finishes only if it still holds its claim."""

from __future__ import annotations

import uuid
from typing import Any

from polyvisor.imagesvc.model import (
    Rendition,
    RenditionKey,
    RenditionStatus,
)
from polyvisor.imagesvc.store.outbox import emit
from polyvisor.imagesvc.store.rows import (
    RENDITION_COLUMNS,
    Queries,
    map_db_errors,
    row_rendition,
)


@map_db_errors
class RenditionQueries(Queries):
    async def get_rendition(self, image_id: str, key: RenditionKey) -> Rendition | None:
        row = await self._pool.fetchrow(
            f"SELECT {RENDITION_COLUMNS} FROM imagesvc.renditions "
            "WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3",
            uuid.UUID(image_id),
            key.disk_format,
            key.vmware_disktype,
        )
        return row_rendition(row) if row else None

    async def original_rendition(self, image_id: str) -> Rendition | None:
        row = await self._pool.fetchrow(
            f"SELECT {RENDITION_COLUMNS} FROM imagesvc.renditions WHERE image_id = $1 AND original",
            uuid.UUID(image_id),
        )
        return row_rendition(row) if row else None

    async def list_renditions(self, image_id: str) -> list[Rendition]:
        rows = await self._pool.fetch(
            f"SELECT {RENDITION_COLUMNS} FROM imagesvc.renditions WHERE image_id = $1 "
            "ORDER BY original DESC, disk_format, vmware_disktype",
            uuid.UUID(image_id),
        )
        return [row_rendition(r) for r in rows]

    async def claim_rendition(
        self, image_id: str, key: RenditionKey, owner: str, stale_after_s: float
    ) -> tuple[bool, Rendition | None]:
        """Claim the right to produce a rendition: (claimed, the row as it is now).

        A new rendition is claimed by a conditional insert (only while the image is active);
        a failed one, or one whose producer stopped beating, by a conditional update."""
        iid = uuid.UUID(image_id)
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                f"""
                INSERT INTO imagesvc.renditions (image_id, disk_format, vmware_disktype, status,
                    claimed_by, heartbeat_at)
                SELECT $1, $2, $3, 'pending', $4, now()
                 WHERE EXISTS (SELECT 1 FROM imagesvc.images WHERE id = $1 AND status = 'active')
                ON CONFLICT (image_id, disk_format, vmware_disktype) DO NOTHING
                RETURNING {RENDITION_COLUMNS}
                """,
                iid,
                key.disk_format,
                key.vmware_disktype,
                owner,
            )
            if row is not None:
                return True, row_rendition(row)
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.renditions
                   SET status = 'pending', claimed_by = $4, heartbeat_at = now(),
                       status_message = '', reserved_bytes = 0, updated_at = now()
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND NOT original
                   AND (status = 'failed'
                        OR (status IN ('pending', 'converting')
                            AND heartbeat_at < now() - make_interval(secs => $5)))
                   AND EXISTS (SELECT 1 FROM imagesvc.images WHERE id = $1 AND status = 'active')
                RETURNING {RENDITION_COLUMNS}
                """,
                iid,
                key.disk_format,
                key.vmware_disktype,
                owner,
                stale_after_s,
            )
            if row is not None:
                return True, row_rendition(row)
            row = await conn.fetchrow(
                f"SELECT {RENDITION_COLUMNS} FROM imagesvc.renditions "
                "WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3",
                iid,
                key.disk_format,
                key.vmware_disktype,
            )
            return False, row_rendition(row) if row else None

    async def rendition_progress(
        self, image_id: str, key: RenditionKey, owner: str, status: RenditionStatus | None = None
    ) -> bool:
        """Heartbeat (and optionally move pending -> converting); False if the claim is lost."""
        result = await self._pool.execute(
            """
            UPDATE imagesvc.renditions
               SET heartbeat_at = now(), status = COALESCE($5::text, status), updated_at = now()
             WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
               AND claimed_by = $4 AND status IN ('pending', 'converting')
            """,
            uuid.UUID(image_id),
            key.disk_format,
            key.vmware_disktype,
            owner,
            status.value if status else None,
        )
        return result == "UPDATE 1"

    async def finish_rendition(
        self,
        image_id: str,
        key: RenditionKey,
        owner: str,
        *,
        size: int,
        virtual_size: int,
        sha256: str,
        location: str,
        events_for: Any,
    ) -> Rendition | None:
        """converting -> active; None if the claim was lost or the image is no longer active."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.renditions
                   SET status = 'active', size = $5, virtual_size = $6, sha256 = $7,
                       location = $8, claimed_by = NULL, heartbeat_at = NULL, reserved_bytes = 0,
                       status_message = '', updated_at = now()
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND claimed_by = $4 AND status IN ('pending', 'converting')
                   AND EXISTS (SELECT 1 FROM imagesvc.images WHERE id = $1 AND status = 'active')
                RETURNING {RENDITION_COLUMNS}
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                owner,
                size,
                virtual_size,
                sha256,
                location,
            )
            if row is None:
                return None
            rendition = row_rendition(row)
            await emit(conn, events_for(rendition))
            return rendition

    async def fail_rendition(
        self, image_id: str, key: RenditionKey, owner: str, message: str, events_for: Any
    ) -> Rendition | None:
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.renditions
                   SET status = 'failed', status_message = $5, claimed_by = NULL,
                       heartbeat_at = NULL, reserved_bytes = 0, updated_at = now()
                 WHERE image_id = $1 AND disk_format = $2 AND vmware_disktype = $3
                   AND claimed_by = $4 AND status IN ('pending', 'converting')
                RETURNING {RENDITION_COLUMNS}
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                owner,
                message,
            )
            if row is None:
                return None
            rendition = row_rendition(row)
            await emit(conn, events_for(rendition))
            return rendition
