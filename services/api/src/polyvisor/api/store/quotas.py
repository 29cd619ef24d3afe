"""Quota limits and usage. Usage changes only through conditional UPDATEs that run in the
same transaction as the server rows they count, so concurrent creates never overshoot."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn


async def ensure(conn: Conn, project_id: str, defaults: m.QuotaLimits) -> None:
    await conn.execute(
        "INSERT INTO quotas (project_id, instances, vcpus, ram_mb) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (project_id) DO NOTHING",
        project_id,
        defaults.instances,
        defaults.vcpus,
        defaults.ram_mb,
    )


async def get(conn: Conn, project_id: str) -> m.Quota | None:
    row = await conn.fetchrow("SELECT * FROM quotas WHERE project_id = $1", project_id)
    return rows.quota(row) if row is not None else None


async def consume(conn: Conn, project_id: str, instances: int, vcpus: int, ram_mb: int) -> bool:
    """Take usage if every limit allows it; False (nothing taken) otherwise."""
    row = await conn.fetchrow(
        """
        UPDATE quotas SET used_instances = used_instances + $2,
                          used_vcpus = used_vcpus + $3,
                          used_ram_mb = used_ram_mb + $4
        WHERE project_id = $1
          AND (instances < 0 OR used_instances + $2 <= instances)
          AND (vcpus < 0 OR used_vcpus + $3 <= vcpus)
          AND (ram_mb < 0 OR used_ram_mb + $4 <= ram_mb)
        RETURNING project_id
        """,
        project_id,
        instances,
        vcpus,
        ram_mb,
    )
    return row is not None


async def release(conn: Conn, project_id: str, instances: int, vcpus: int, ram_mb: int) -> None:
    await conn.execute(
        """
        UPDATE quotas SET used_instances = greatest(used_instances - $2, 0),
                          used_vcpus = greatest(used_vcpus - $3, 0),
                          used_ram_mb = greatest(used_ram_mb - $4, 0)
        WHERE project_id = $1
        """,
        project_id,
        instances,
        vcpus,
        ram_mb,
    )


async def set_limits(conn: Conn, project_id: str, limits: m.QuotaLimits) -> m.Quota | None:
    row = await conn.fetchrow(
        "UPDATE quotas SET instances = $2, vcpus = $3, ram_mb = $4 WHERE project_id = $1 "
        "RETURNING *",
        project_id,
        limits.instances,
        limits.vcpus,
        limits.ram_mb,
    )
    return rows.quota(row) if row is not None else None
