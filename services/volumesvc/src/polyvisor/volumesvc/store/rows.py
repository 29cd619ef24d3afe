"""Rows to model objects, and the base every query class shares: the pool, the event writer
and the volume read it answers with."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable

import asyncpg

from polyvisor.common.errors import NotFound
from polyvisor.volumesvc.model import (
    Attachment,
    Snapshot,
    SnapshotStatus,
    Volume,
    VolumeStatus,
    VolumeType,
)

#: (kind, volume, snapshot_id, server_id) -> (subject, payload)
EventEncoder = Callable[[str, Volume, str, str], tuple[str, bytes]]
#: (volumes, gigabytes, snapshots) of a project without its own row
QuotaDefaults = tuple[int, int, int]

VOLUME_COLS = """v.id, v.name, v.description, v.project_id, v.size_gb, v.status, v.bootable,
    v.source_image_id, v.source_snapshot_id, v.location, v.fault, v.sequence, v.created_at,
    v.updated_at, t.id AS t_id, t.name AS t_name, t.backend AS t_backend,
    t.hypervisor_types AS t_hvs, t.multiattach AS t_multi, t.description AS t_desc,
    t.extra_specs AS t_specs"""


def type_of(r: asyncpg.Record, prefix: str = "") -> VolumeType:
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


def attachment_of(r: asyncpg.Record) -> Attachment:
    return Attachment(
        server_id=r["server_id"],
        host=r["host"],
        hypervisor_type=r["hypervisor_type"],
        state=r["state"],
        root=r["root"],
        delete_on_termination=r["delete_on_termination"],
        created_at=r["created_at"],
    )


def volume_of(r: asyncpg.Record, attachments: Iterable[Attachment] = ()) -> Volume:
    return Volume(
        id=str(r["id"]),
        name=r["name"],
        project_id=r["project_id"],
        size_gb=r["size_gb"],
        type=type_of(r, "t_"),
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


def snapshot_of(r: asyncpg.Record) -> Snapshot:
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


def as_uuid(value: str, kind: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"{kind} {value} not found", {f"{kind}_id": value}) from None


class Queries:
    """The pool every query class runs on, the event writer and the volume read (`Store` is
    all of them)."""

    def __init__(self, pool: asyncpg.Pool, encode: EventEncoder, quotas: QuotaDefaults) -> None:
        self._pool = pool
        self._encode = encode
        self._defaults = quotas

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

    async def _get(self, conn: asyncpg.Connection, volume_id: str) -> Volume | None:
        r = await conn.fetchrow(
            f"SELECT {VOLUME_COLS} FROM volume.volumes v JOIN volume.volume_types t"
            " ON t.id = v.type_id WHERE v.id = $1",
            uuid.UUID(volume_id),
        )
        if r is None:
            return None
        atts = await conn.fetch(
            "SELECT * FROM volume.attachments WHERE volume_id = $1 ORDER BY created_at",
            r["id"],
        )
        return volume_of(r, map(attachment_of, atts))
