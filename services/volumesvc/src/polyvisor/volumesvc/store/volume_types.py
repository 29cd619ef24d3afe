"""Volume types: the backend, hypervisors and multi-attach a volume of the type gets."""

from __future__ import annotations

import json
import uuid

from polyvisor.common.db import db_errors
from polyvisor.common.errors import FailedPrecondition, NotFound
from polyvisor.volumesvc.model import VolumeType
from polyvisor.volumesvc.store.rows import Queries, as_uuid, type_of


class TypeQueries(Queries):
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
        return type_of(r)

    async def list_types(self) -> list[VolumeType]:
        with db_errors():
            rows = await self._pool.fetch("SELECT * FROM volume.volume_types ORDER BY name")
        return [type_of(r) for r in rows]

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
        return None if r is None else type_of(r)

    async def delete_type(self, type_id: str) -> None:
        tid = as_uuid(type_id, "volume_type")
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
