"""Snapshots: insert within quota, read, list, status changes, delete."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from polyvisor.common.db import db_errors
from polyvisor.common.errors import NotFound
from polyvisor.volumesvc.model import Snapshot, SnapshotStatus
from polyvisor.volumesvc.store.quotas import QuotaQueries
from polyvisor.volumesvc.store.rows import as_uuid, snapshot_of


class SnapshotQueries(QuotaQueries):
    async def insert_snapshot(self, snap: Snapshot, request_id: str) -> Snapshot:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                self._check(
                    await self._quota(conn, snap.project_id, lock=True),
                    snapshots=1,
                    gigabytes=snap.size_gb,
                )
                r = await conn.fetchrow(
                    "INSERT INTO volume.snapshots (id, volume_id, project_id, name, description,"
                    " size_gb, status, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    " RETURNING *",
                    uuid.UUID(snap.id),
                    uuid.UUID(snap.volume_id),
                    snap.project_id,
                    snap.name,
                    snap.description,
                    snap.size_gb,
                    snap.status.value,
                    request_id or None,
                )
        return snapshot_of(r)

    async def snapshot_by_request(self, project_id: str, request_id: str) -> Snapshot | None:
        with db_errors():
            r = await self._pool.fetchrow(
                "SELECT * FROM volume.snapshots WHERE project_id = $1 AND request_id = $2",
                project_id,
                request_id,
            )
        return None if r is None else snapshot_of(r)

    async def get_snapshot(self, snapshot_id: str) -> Snapshot:
        sid = as_uuid(snapshot_id, "snapshot")
        with db_errors():
            r = await self._pool.fetchrow("SELECT * FROM volume.snapshots WHERE id = $1", sid)
        if r is None:
            raise NotFound(f"snapshot {snapshot_id} not found", {"snapshot_id": snapshot_id})
        return snapshot_of(r)

    async def list_snapshots(
        self, project_id: str | None, volume_id: str, after: str, size: int
    ) -> list[Snapshot]:
        where = ["id > $1"]
        args: list[Any] = [uuid.UUID(after) if after else uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"project_id = ${len(args)}")
        if volume_id:
            args.append(as_uuid(volume_id, "volume"))
            where.append(f"volume_id = ${len(args)}")
        args.append(size)
        with db_errors():
            rows = await self._pool.fetch(
                f"SELECT * FROM volume.snapshots WHERE {' AND '.join(where)} ORDER BY id"
                f" LIMIT ${len(args)}",
                *args,
            )
        return [snapshot_of(r) for r in rows]

    async def set_snapshot(
        self,
        snapshot_id: str,
        allowed: Iterable[SnapshotStatus],
        status: SnapshotStatus,
        location: str | None = None,
    ) -> Snapshot | None:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                r = await conn.fetchrow(
                    "UPDATE volume.snapshots SET status = $3,"
                    " location = coalesce($4, location) WHERE id = $1"
                    " AND status = ANY($2::text[]) RETURNING *",
                    uuid.UUID(snapshot_id),
                    [s.value for s in allowed],
                    status.value,
                    location,
                )
                if r is not None and status == SnapshotStatus.AVAILABLE:
                    await self._event(conn, "snapshot_created", str(r["volume_id"]), snapshot_id)
        return None if r is None else snapshot_of(r)

    async def delete_snapshot(self, snap: Snapshot) -> None:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM volume.snapshots WHERE id = $1", uuid.UUID(snap.id))
                await self._event(conn, "snapshot_deleted", snap.volume_id, snap.id)
