"""Uploads: an upload claims its image (`queued -> saving`), beats, releases or is
killed, and activates the image with its original rendition."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from polyvisor.imagesvc.model import (
    Image,
    RenditionKey,
)
from polyvisor.imagesvc.store.images import ImageQueries
from polyvisor.imagesvc.store.outbox import emit
from polyvisor.imagesvc.store.rows import (
    IMAGE_COLUMNS,
    map_db_errors,
    row_image,
)


@map_db_errors
class UploadQueries(ImageQueries):
    """Uploads build on images: an activation answers with the image `get_image` reads."""

    async def claim_upload(self, image_id: str, owner: str) -> bool:
        """queued -> saving, held by `owner`. False if the image is not queued."""
        result = await self._pool.execute(
            """
            UPDATE imagesvc.images
               SET status = 'saving', upload_owner = $2, upload_heartbeat = now(),
                   status_message = '', updated_at = now()
             WHERE id = $1 AND status = 'queued'
            """,
            uuid.UUID(image_id),
            owner,
        )
        return result == "UPDATE 1"

    async def upload_heartbeat(self, image_id: str, owner: str) -> bool:
        result = await self._pool.execute(
            "UPDATE imagesvc.images SET upload_heartbeat = now() "
            "WHERE id = $1 AND status = 'saving' AND upload_owner = $2",
            uuid.UUID(image_id),
            owner,
        )
        return result == "UPDATE 1"

    async def release_upload(self, image_id: str, owner: str, message: str) -> bool:
        """saving -> queued (an interrupted upload may be tried again)."""
        result = await self._pool.execute(
            """
            UPDATE imagesvc.images
               SET status = 'queued', upload_owner = NULL, upload_heartbeat = NULL,
                   status_message = $3, updated_at = now()
             WHERE id = $1 AND status = 'saving' AND upload_owner = $2
            """,
            uuid.UUID(image_id),
            owner,
            message,
        )
        return result == "UPDATE 1"

    async def kill_upload(
        self, image_id: str, owner: str, message: str, events_for: Any
    ) -> Image | None:
        """saving -> killed with `message`."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.images
                   SET status = 'killed', status_message = $3, upload_owner = NULL,
                       upload_heartbeat = NULL, updated_at = now()
                 WHERE id = $1 AND status = 'saving' AND upload_owner = $2
                RETURNING {IMAGE_COLUMNS}
                """,
                uuid.UUID(image_id),
                owner,
                message,
            )
            if row is None:
                return None
            image = row_image(row)
            await emit(conn, events_for(image))
            return image

    async def activate(
        self,
        image_id: str,
        owner: str,
        *,
        size: int,
        virtual_size: int,
        sha256: str,
        vmware_disktype: str,
        key: RenditionKey,
        location: str,
        events_for: Any,
        extra_properties: Mapping[str, str] | None = None,
    ) -> Image | None:
        """saving -> active with the original rendition (and `extra_properties` added to the
        image's); None if the claim was lost."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                UPDATE imagesvc.images
                   SET status = 'active', status_message = '', size = $3, virtual_size = $4,
                       os_hash_algo = 'sha256', os_hash_value = $5,
                       vmware_disktype = CASE WHEN $6 = '' THEN vmware_disktype ELSE $6 END,
                       extra_properties = extra_properties || $7::jsonb,
                       upload_owner = NULL, upload_heartbeat = NULL, updated_at = now()
                 WHERE id = $1 AND status = 'saving' AND upload_owner = $2
                RETURNING {IMAGE_COLUMNS}
                """,
                uuid.UUID(image_id),
                owner,
                size,
                virtual_size,
                sha256,
                vmware_disktype,
                dict(extra_properties or {}),
            )
            if row is None:
                return None
            await conn.execute(
                """
                INSERT INTO imagesvc.renditions (image_id, disk_format, vmware_disktype, status,
                    original, size, virtual_size, sha256, location)
                VALUES ($1, $2, $3, 'active', true, $4, $5, $6, $7)
                """,
                uuid.UUID(image_id),
                key.disk_format,
                key.vmware_disktype,
                size,
                virtual_size,
                sha256,
                location,
            )
            image = row_image(row)
            await emit(conn, events_for(image))
        return await self.get_image(image_id)

    async def requeue_stale_uploads(self, stale_after_s: float) -> list[str]:
        """saving images whose uploader stopped beating (it died) -> queued."""
        rows = await self._pool.fetch(
            """
            UPDATE imagesvc.images
               SET status = 'queued', upload_owner = NULL, upload_heartbeat = NULL,
                   status_message = 'upload abandoned (the uploading process stopped)',
                   updated_at = now()
             WHERE status = 'saving' AND upload_heartbeat < now() - make_interval(secs => $1)
            RETURNING id
            """,
            stale_after_s,
        )
        return [str(r["id"]) for r in rows]
