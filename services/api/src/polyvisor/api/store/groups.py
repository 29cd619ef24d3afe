"""Server groups (affinity / anti-affinity) of a project."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from polyvisor.api.store.db import Conn


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    project_id: str
    name: str
    policy: str
    create_time: datetime
    members: tuple[str, ...] = ()


async def insert(conn: Conn, g: Group, request_id: str) -> Group:
    """Insert, or return the group an earlier call with the same request id created."""
    row = await conn.fetchrow(
        "INSERT INTO server_groups (id, project_id, name, policy, request_id) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (project_id, request_id) DO NOTHING "
        "RETURNING *",
        g.id,
        g.project_id,
        g.name,
        g.policy,
        request_id,
    )
    if row is None:
        row = await conn.fetchrow(
            "SELECT * FROM server_groups WHERE project_id = $1 AND request_id = $2",
            g.project_id,
            request_id,
        )
    return await _with_members(conn, row)


async def _with_members(conn: Conn, row) -> Group:  # type: ignore[no-untyped-def]
    members = await conn.fetch(
        "SELECT id FROM servers WHERE server_group_id = $1 AND state <> 'DELETED' ORDER BY id",
        row["id"],
    )
    return Group(
        row["id"],
        row["project_id"],
        row["name"],
        row["policy"],
        row["create_time"],
        tuple(r["id"] for r in members),
    )


async def get(conn: Conn, group_id: str, project_id: str | None) -> Group | None:
    if project_id is None:
        row = await conn.fetchrow("SELECT * FROM server_groups WHERE id = $1", group_id)
    else:
        row = await conn.fetchrow(
            "SELECT * FROM server_groups WHERE id = $1 AND project_id = $2", group_id, project_id
        )
    return await _with_members(conn, row) if row is not None else None


async def list_page(conn: Conn, project_id: str | None, after: str, limit: int) -> list[Group]:
    if project_id is None:
        records = await conn.fetch(
            "SELECT * FROM server_groups WHERE id > $1 ORDER BY id LIMIT $2", after, limit
        )
    else:
        records = await conn.fetch(
            "SELECT * FROM server_groups WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            project_id,
            after,
            limit,
        )
    return [await _with_members(conn, r) for r in records]


async def delete(conn: Conn, group_id: str, project_id: str | None) -> bool:
    if project_id is None:
        status = await conn.execute("DELETE FROM server_groups WHERE id = $1", group_id)
    else:
        status = await conn.execute(
            "DELETE FROM server_groups WHERE id = $1 AND project_id = $2", group_id, project_id
        )
    return status.endswith(" 1")
