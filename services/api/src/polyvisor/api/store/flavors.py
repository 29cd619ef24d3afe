"""Flavors and their project access lists."""

from __future__ import annotations

from typing import Any

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn


async def insert(conn: Conn, f: m.Flavor) -> m.Flavor | None:
    row = await conn.fetchrow(
        "INSERT INTO flavors (id, name, vcpus, ram_mb, disk_gb, extra_specs, is_public, "
        "description) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8) "
        "ON CONFLICT DO NOTHING RETURNING *",
        f.id,
        f.name,
        f.vcpus,
        f.ram_mb,
        f.disk_gb,
        dict(f.extra_specs),
        f.is_public,
        f.description,
    )
    if row is None:
        return None
    for project_id in f.project_ids:
        await conn.execute(
            "INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            f.id,
            project_id,
        )
    return rows.flavor(row, tuple(sorted(f.project_ids)))


async def _projects_of(conn: Conn, flavor_ids: list[str]) -> dict[str, tuple[str, ...]]:
    if not flavor_ids:
        return {}
    records = await conn.fetch(
        "SELECT flavor_id, project_id FROM flavor_projects WHERE flavor_id = ANY($1::text[]) "
        "ORDER BY project_id",
        flavor_ids,
    )
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r["flavor_id"], []).append(r["project_id"])
    return {k: tuple(v) for k, v in out.items()}


def _visible(project_id: str | None) -> tuple[str, list[Any]]:
    if project_id is None:
        return "TRUE", []
    return (
        "(f.is_public OR EXISTS (SELECT 1 FROM flavor_projects fp "
        "WHERE fp.flavor_id = f.id AND fp.project_id = $1))",
        [project_id],
    )


async def get(conn: Conn, flavor_id: str, project_id: str | None) -> m.Flavor | None:
    """The flavor by id or name, if `project_id` may use it (None: any flavor)."""
    cond, args = _visible(project_id)
    n = len(args)
    row = await conn.fetchrow(
        f"SELECT f.* FROM flavors f WHERE (f.id = ${n + 1} OR f.name = ${n + 1}) AND {cond} "
        f"ORDER BY (f.id = ${n + 1}) DESC LIMIT 1",
        *args,
        flavor_id,
    )
    if row is None:
        return None
    return rows.flavor(row, (await _projects_of(conn, [row["id"]])).get(row["id"], ()))


async def list_page(
    conn: Conn,
    project_id: str | None,
    min_vcpus: int,
    min_ram_mb: int,
    min_disk_gb: int,
    after: str,
    limit: int,
) -> list[m.Flavor]:
    cond, args = _visible(project_id)
    n = len(args)
    records = await conn.fetch(
        f"SELECT f.* FROM flavors f WHERE {cond} AND f.vcpus >= ${n + 1} AND f.ram_mb >= ${n + 2} "
        f"AND f.disk_gb >= ${n + 3} AND f.id > ${n + 4} ORDER BY f.id LIMIT ${n + 5}",
        *args,
        min_vcpus,
        min_ram_mb,
        min_disk_gb,
        after,
        limit,
    )
    projects = await _projects_of(conn, [r["id"] for r in records])
    return [rows.flavor(r, projects.get(r["id"], ())) for r in records]


async def delete(conn: Conn, flavor_id: str) -> bool:
    status = await conn.execute("DELETE FROM flavors WHERE id = $1", flavor_id)
    return status.endswith(" 1")


async def lock(conn: Conn, flavor_id: str) -> m.Flavor | None:
    """The flavor by id or name, its row locked for an update (in a transaction)."""
    row = await conn.fetchrow(
        "SELECT * FROM flavors WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC LIMIT 1 "
        "FOR UPDATE",
        flavor_id,
    )
    if row is None:
        return None
    return rows.flavor(row, (await _projects_of(conn, [row["id"]])).get(row["id"], ()))


async def update(
    conn: Conn,
    flavor_id: str,
    description: str,
    extra_specs: dict[str, str],
    add_projects: list[str],
    remove_projects: list[str],
) -> None:
    """Write what an update decided (the row locked by `lock`, in the same transaction)."""
    await conn.execute(
        "UPDATE flavors SET description = $2, extra_specs = $3::jsonb WHERE id = $1",
        flavor_id,
        description,
        extra_specs,
    )
    if add_projects:
        await conn.executemany(
            "INSERT INTO flavor_projects (flavor_id, project_id) VALUES ($1, $2) "
            "ON CONFLICT DO NOTHING",
            [(flavor_id, p) for p in add_projects],
        )
    if remove_projects:
        await conn.execute(
            "DELETE FROM flavor_projects WHERE flavor_id = $1 AND project_id = ANY($2::text[])",
            flavor_id,
            remove_projects,
        )
