"""Volumes: insert within quota, read, list, compare-and-set status transitions, name and
description, delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from polyvisor.common.db import db_errors
from polyvisor.common.errors import NotFound
from polyvisor.volumesvc.model import Attachment, Volume, VolumeStatus
from polyvisor.volumesvc.store.quotas import QuotaQueries
from polyvisor.volumesvc.store.rows import VOLUME_COLS, as_uuid, attachment_of, volume_of


class VolumeQueries(QuotaQueries):
    async def get_volume(self, volume_id: str) -> Volume:
        vid = str(as_uuid(volume_id, "volume"))
        with db_errors():
            async with self._pool.acquire() as conn:
                vol = await self._get(conn, vid)
        if vol is None:
            raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
        return vol

    async def by_request(self, project_id: str, request_id: str) -> Volume | None:
        with db_errors():
            async with self._pool.acquire() as conn:
                vid = await conn.fetchval(
                    "SELECT id FROM volume.volumes WHERE project_id = $1 AND request_id = $2",
                    project_id,
                    request_id,
                )
                return None if vid is None else await self._get(conn, str(vid))

    async def insert_volume(self, vol: Volume, request_id: str) -> Volume:
        """Insert a volume (CREATING), within the project's quota."""
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                self._check(
                    await self._quota(conn, vol.project_id, lock=True),
                    volumes=1,
                    gigabytes=vol.size_gb,
                )
                await conn.execute(
                    "INSERT INTO volume.volumes (id, name, description, project_id, size_gb,"
                    " type_id, status, bootable, source_image_id, source_snapshot_id,"
                    " request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    uuid.UUID(vol.id),
                    vol.name,
                    vol.description,
                    vol.project_id,
                    vol.size_gb,
                    uuid.UUID(vol.type.id),
                    vol.status.value,
                    vol.bootable,
                    vol.source_image_id,
                    vol.source_snapshot_id,
                    request_id or None,
                )
                made = await self._event(conn, "created", vol.id)
        assert made is not None
        return made

    async def list_volumes(
        self, project_id: str | None, server_id: str, after: str, size: int
    ) -> list[Volume]:
        where = ["v.id > $1"]
        args: list[Any] = [uuid.UUID(after) if after else uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"v.project_id = ${len(args)}")
        if server_id:
            args.append(server_id)
            where.append(
                f"EXISTS (SELECT 1 FROM volume.attachments a WHERE a.volume_id = v.id"
                f" AND a.server_id = ${len(args)})"
            )
        args.append(size)
        with db_errors():
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT {VOLUME_COLS} FROM volume.volumes v JOIN volume.volume_types t"
                    f" ON t.id = v.type_id WHERE {' AND '.join(where)} ORDER BY v.id"
                    f" LIMIT ${len(args)}",
                    *args,
                )
                atts = await conn.fetch(
                    "SELECT * FROM volume.attachments WHERE volume_id = ANY($1::uuid[])"
                    " ORDER BY created_at",
                    [r["id"] for r in rows],
                )
        by: dict[str, list[Attachment]] = {}
        for a in atts:
            by.setdefault(str(a["volume_id"]), []).append(attachment_of(a))
        return [volume_of(r, by.get(str(r["id"]), ())) for r in rows]

    async def transition(
        self,
        volume_id: str,
        allowed: Iterable[VolumeStatus],
        status: VolumeStatus,
        event: str = "",
        **changes: Any,
    ) -> Volume | None:
        """Set the status (and `changes`) if the volume is in one of `allowed`: the volume
        as it now is, or None when it was not."""
        sets = ["status = $3"] + [f"{k} = ${i}" for i, k in enumerate(changes, start=4)]
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                done = await conn.fetchval(
                    f"UPDATE volume.volumes SET {', '.join(sets)}, updated_at = now()"
                    " WHERE id = $1 AND status = ANY($2::text[]) RETURNING id",
                    uuid.UUID(volume_id),
                    [s.value for s in allowed],
                    status.value,
                    *changes.values(),
                )
                if done is None:
                    return None
                if event:
                    return await self._event(conn, event, volume_id)
                return await self._get(conn, volume_id)

    async def describe_volume(
        self, volume_id: str, name: str | None, description: str | None
    ) -> Volume:
        """Set the name and/or the description (None: kept); an `updated` event."""
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                done = await conn.fetchval(
                    "UPDATE volume.volumes SET name = coalesce($2, name),"
                    " description = coalesce($3, description), updated_at = now()"
                    " WHERE id = $1 RETURNING id",
                    uuid.UUID(volume_id),
                    name,
                    description,
                )
                vol = await self._event(conn, "updated", volume_id) if done else None
        if vol is None:
            raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
        return vol

    async def delete_volume(self, volume_id: str) -> None:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await self._event(conn, "deleted", volume_id)
                await conn.execute("DELETE FROM volume.volumes WHERE id = $1", uuid.UUID(volume_id))

    async def snapshot_count(self, volume_id: str) -> int:
        with db_errors():
            return int(
                await self._pool.fetchval(
                    "SELECT count(*) FROM volume.snapshots WHERE volume_id = $1",
                    uuid.UUID(volume_id),
                )
            )

    async def check_extend_quota(self, project_id: str, more_gb: int) -> None:
        with db_errors():
            async with self._pool.acquire() as conn:
                self._check(await self._quota(conn, project_id, lock=False), gigabytes=more_gb)
