"""All SQL of the volume service (schema `volume`).

State changes are compare-and-set on the row's status (`UPDATE .. WHERE status = ANY(..)`), so
two calls racing on one volume never both act: the loser sees the new status and is refused.
Quotas are checked in the transaction that inserts, with the project's quota row locked, so
concurrent creates never overshoot. Every change writes its event to the outbox in the same
transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, NotFound, ResourceExhausted
from polyvisor.common.outbox import OutboxMessage
from polyvisor.volumesvc.model import (
    Attachment,
    Quota,
    Snapshot,
    SnapshotStatus,
    Volume,
    VolumeStatus,
    VolumeType,
)

__all__ = ["EventEncoder", "QuotaDefaults", "Store"]

#: (kind, volume, snapshot_id, server_id) -> (subject, payload)
EventEncoder = Callable[[str, Volume, str, str], tuple[str, bytes]]
#: (volumes, gigabytes, snapshots) of a project without its own row
QuotaDefaults = tuple[int, int, int]

_VOLUME_COLS = """v.id, v.name, v.description, v.project_id, v.size_gb, v.status, v.bootable,
    v.source_image_id, v.source_snapshot_id, v.location, v.fault, v.sequence, v.created_at,
    v.updated_at, t.id AS t_id, t.name AS t_name, t.backend AS t_backend,
    t.hypervisor_types AS t_hvs, t.multiattach AS t_multi, t.description AS t_desc,
    t.extra_specs AS t_specs"""


def _type(r: asyncpg.Record, prefix: str = "") -> VolumeType:
    specs = r[f"{prefix}specs" if prefix else "extra_specs"]
    return VolumeType(
        id=str(r[f"{prefix}id"]),
        name=r[f"{prefix}name"],
        backend=r[f"{prefix}backend"],
        hypervisor_types=tuple(r[f"{prefix}hvs" if prefix else "hypervisor_types"]),
        multiattach=r[f"{prefix}multi" if prefix else "multiattach"],
        description=r[f"{prefix}desc" if prefix else "description"],
        extra_specs=dict(json.loads(specs) if isinstance(specs, str) else specs),
    )


def _attachment(r: asyncpg.Record) -> Attachment:
    return Attachment(
        server_id=r["server_id"],
        host=r["host"],
        hypervisor_type=r["hypervisor_type"],
        state=r["state"],
        root=r["root"],
        delete_on_termination=r["delete_on_termination"],
        created_at=r["created_at"],
    )


def _volume(r: asyncpg.Record, attachments: Iterable[Attachment] = ()) -> Volume:
    return Volume(
        id=str(r["id"]),
        name=r["name"],
        project_id=r["project_id"],
        size_gb=r["size_gb"],
        type=_type(r, "t_"),
        status=VolumeStatus(r["status"]),
        bootable=r["bootable"],
        description=r["description"],
        source_image_id=r["source_image_id"],
        source_snapshot_id=r["source_snapshot_id"],
        location=r["location"],
        fault=r["fault"],
        attachments=tuple(attachments),
        sequence=r["sequence"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _snapshot(r: asyncpg.Record) -> Snapshot:
    return Snapshot(
        id=str(r["id"]),
        volume_id=str(r["volume_id"]),
        project_id=r["project_id"],
        name=r["name"],
        size_gb=r["size_gb"],
        status=SnapshotStatus(r["status"]),
        description=r["description"],
        location=r["location"],
        created_at=r["created_at"],
    )


def _uuid(value: str, kind: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{kind} {value} not found", {f"{kind}_id": value}) from None


class Store:
    def __init__(self, pool: asyncpg.Pool, encode: EventEncoder, quotas: QuotaDefaults) -> None:
        self._pool = pool
        self._encode = encode
        self._defaults = quotas

    # -- events

    async def _event(
        self,
        conn: asyncpg.Connection,
        kind: str,
        volume_id: str,
        snapshot_id: str = "",
        server_id: str = "",
    ) -> Volume | None:
        """Bump the volume's sequence and write its event; the volume as it now is (None when
        the row is gone: the event of a delete is written before the row goes)."""
        await conn.execute(
            "UPDATE volume.volumes SET sequence = sequence + 1, updated_at = now() WHERE id = $1",
            uuid.UUID(volume_id),
        )
        vol = await self._get(conn, volume_id)
        if vol is None:
            return None
        subject, payload = self._encode(kind, vol, snapshot_id, server_id)
        await conn.execute(
            "INSERT INTO volume.outbox (event_id, subject, payload) VALUES ($1, $2, $3)",
            uuid.uuid4(),
            subject,
            payload,
        )
        return vol

    async def outbox_batch(self, limit: int = 100) -> list[OutboxMessage]:
        with db_errors():
            rows = await self._pool.fetch(
                "SELECT seq, event_id, subject, payload FROM volume.outbox ORDER BY seq LIMIT $1",
                limit,
            )
        return [
            OutboxMessage(r["seq"], r["subject"], str(r["event_id"]), bytes(r["payload"]))
            for r in rows
        ]

    async def outbox_done(self, seqs: Sequence[int]) -> None:
        with db_errors():
            await self._pool.execute(
                "DELETE FROM volume.outbox WHERE seq = ANY($1::bigint[])", list(seqs)
            )

    # -- types

    async def ensure_type(self, t: VolumeType) -> None:
        """Make the type unless one of its name exists (the service's bootstrap types)."""
        with db_errors():
            await self._pool.execute(
                "INSERT INTO volume.volume_types (id, name, backend, hypervisor_types,"
                " multiattach, description) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (name) DO NOTHING",
                uuid.uuid4(),
                t.name,
                t.backend,
                list(t.hypervisor_types),
                t.multiattach,
                t.description,
            )

    async def create_type(self, t: VolumeType) -> VolumeType:
        with db_errors():
            r = await self._pool.fetchrow(
                "INSERT INTO volume.volume_types (id, name, backend, hypervisor_types,"
                " multiattach, description, extra_specs) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " RETURNING *",
                uuid.uuid4(),
                t.name,
                t.backend,
                list(t.hypervisor_types),
                t.multiattach,
                t.description,
                json.dumps(t.extra_specs),
            )
        return _type(r)

    async def list_types(self) -> list[VolumeType]:
        with db_errors():
            rows = await self._pool.fetch("SELECT * FROM volume.volume_types ORDER BY name")
        return [_type(r) for r in rows]

    async def find_type(self, id_or_name: str) -> VolumeType | None:
        with db_errors():
            try:
                r = await self._pool.fetchrow(
                    "SELECT * FROM volume.volume_types WHERE id = $1", uuid.UUID(id_or_name)
                )
            except ValueError:
                r = await self._pool.fetchrow(
                    "SELECT * FROM volume.volume_types WHERE name = $1", id_or_name
                )
        return None if r is None else _type(r)

    async def delete_type(self, type_id: str) -> None:
        tid = _uuid(type_id, "volume_type")
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                used = await conn.fetchval(
                    "SELECT count(*) FROM volume.volumes WHERE type_id = $1", tid
                )
                if used:
                    raise FailedPrecondition(
                        f"volume type {type_id} is used by {used} volume(s)",
                        {"volume_type_id": type_id, "volumes": used},
                    )
                done = await conn.execute("DELETE FROM volume.volume_types WHERE id = $1", tid)
        if done.endswith(" 0"):
            raise NotFound(f"volume_type {type_id} not found", {"volume_type_id": type_id})

    # -- quotas

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

    # -- volumes

    async def _get(self, conn: asyncpg.Connection, volume_id: str) -> Volume | None:
        r = await conn.fetchrow(
            f"SELECT {_VOLUME_COLS} FROM volume.volumes v JOIN volume.volume_types t"
            " ON t.id = v.type_id WHERE v.id = $1",
            uuid.UUID(volume_id),
        )
        if r is None:
            return None
        atts = await conn.fetch(
            "SELECT * FROM volume.attachments WHERE volume_id = $1 ORDER BY created_at",
            r["id"],
        )
        return _volume(r, map(_attachment, atts))

    async def get_volume(self, volume_id: str) -> Volume:
        vid = str(_uuid(volume_id, "volume"))
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
                    f"SELECT {_VOLUME_COLS} FROM volume.volumes v JOIN volume.volume_types t"
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
            by.setdefault(str(a["volume_id"]), []).append(_attachment(a))
        return [_volume(r, by.get(str(r["id"]), ())) for r in rows]

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

    # -- attachments

    async def reserve(self, volume_id: str, att: Attachment, multiattach: bool) -> Volume:
        """Add the attachment (ATTACHING) if the volume can take it; the volume after.

        Idempotent: the same server's attachment, there already, answers as done."""
        vid = uuid.UUID(volume_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT status FROM volume.volumes WHERE id = $1 FOR UPDATE", vid
                )
                if row is None:
                    raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
                others = await conn.fetch(
                    "SELECT server_id FROM volume.attachments WHERE volume_id = $1", vid
                )
                if any(o["server_id"] == att.server_id for o in others):
                    vol = await self._get(conn, volume_id)
                    assert vol is not None
                    return vol
                status = row["status"]
                if others and not multiattach:
                    raise FailedPrecondition(
                        f"volume {volume_id} is in use by server {others[0]['server_id']}"
                        " and its type does not allow multi-attach",
                        {"volume_id": volume_id, "server_id": others[0]["server_id"]},
                    )
                ok = ("available", "in-use") if multiattach else ("available",)
                if status not in ok:
                    raise FailedPrecondition(
                        f"volume {volume_id} is {status}: it cannot be attached now",
                        {"volume_id": volume_id, "status": status},
                    )
                await conn.execute(
                    "INSERT INTO volume.attachments (volume_id, server_id, host, hypervisor_type,"
                    " state, root, delete_on_termination) VALUES ($1, $2, $3, $4, 'attaching',"
                    " $5, $6)",
                    vid,
                    att.server_id,
                    att.host,
                    att.hypervisor_type,
                    att.root,
                    att.delete_on_termination,
                )
                if status == "available":
                    await conn.execute(
                        "UPDATE volume.volumes SET status = 'attaching' WHERE id = $1", vid
                    )
                vol = await self._event(conn, "attaching", volume_id, server_id=att.server_id)
        assert vol is not None
        return vol

    async def set_attachment(
        self, volume_id: str, server_id: str, state: str | None, event: str
    ) -> Volume:
        """Move the server's attachment to `state` (None: remove it); the volume's status
        follows (in-use while any attachment is attached, attaching/detaching while its only
        one is, available when none is left)."""
        vid = _uuid(volume_id, "volume")
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                if (
                    await conn.fetchval(
                        "SELECT 1 FROM volume.volumes WHERE id = $1 FOR UPDATE", vid
                    )
                    is None
                ):
                    raise NotFound(f"volume {volume_id} not found", {"volume_id": volume_id})
                if state is None:
                    await conn.execute(
                        "DELETE FROM volume.attachments WHERE volume_id = $1 AND server_id = $2",
                        vid,
                        server_id,
                    )
                else:
                    done = await conn.execute(
                        "UPDATE volume.attachments SET state = $3 WHERE volume_id = $1"
                        " AND server_id = $2",
                        vid,
                        server_id,
                        state,
                    )
                    if done.endswith(" 0"):
                        raise FailedPrecondition(
                            f"volume {volume_id} is not attached to server {server_id}",
                            {"volume_id": volume_id, "server_id": server_id},
                        )
                states = [
                    r["state"]
                    for r in await conn.fetch(
                        "SELECT state FROM volume.attachments WHERE volume_id = $1", vid
                    )
                ]
                status = (
                    "available" if not states else "in-use" if "attached" in states else states[0]
                )
                await conn.execute(
                    "UPDATE volume.volumes SET status = $2 WHERE id = $1", vid, status
                )
                vol = await self._event(conn, event, volume_id, server_id=server_id)
        assert vol is not None
        return vol

    # -- snapshots

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
        return _snapshot(r)

    async def snapshot_by_request(self, project_id: str, request_id: str) -> Snapshot | None:
        with db_errors():
            r = await self._pool.fetchrow(
                "SELECT * FROM volume.snapshots WHERE project_id = $1 AND request_id = $2",
                project_id,
                request_id,
            )
        return None if r is None else _snapshot(r)

    async def get_snapshot(self, snapshot_id: str) -> Snapshot:
        sid = _uuid(snapshot_id, "snapshot")
        with db_errors():
            r = await self._pool.fetchrow("SELECT * FROM volume.snapshots WHERE id = $1", sid)
        if r is None:
            raise NotFound(f"snapshot {snapshot_id} not found", {"snapshot_id": snapshot_id})
        return _snapshot(r)

    async def list_snapshots(
        self, project_id: str | None, volume_id: str, after: str, size: int
    ) -> list[Snapshot]:
        where = ["id > $1"]
        args: list[Any] = [uuid.UUID(after) if after else uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"project_id = ${len(args)}")
        if volume_id:
            args.append(_uuid(volume_id, "volume"))
            where.append(f"volume_id = ${len(args)}")
        args.append(size)
        with db_errors():
            rows = await self._pool.fetch(
                f"SELECT * FROM volume.snapshots WHERE {' AND '.join(where)} ORDER BY id"
                f" LIMIT ${len(args)}",
                *args,
            )
        return [_snapshot(r) for r in rows]

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
        return None if r is None else _snapshot(r)

    async def delete_snapshot(self, snap: Snapshot) -> None:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("DELETE FROM volume.snapshots WHERE id = $1", uuid.UUID(snap.id))
                await self._event(conn, "snapshot_deleted", snap.volume_id, snap.id)
