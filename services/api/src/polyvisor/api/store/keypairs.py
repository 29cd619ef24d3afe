"""Keypairs: owned by one user within one project."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn


async def insert(conn: Conn, k: m.Keypair) -> m.Keypair | None:
    row = await conn.fetchrow(
        "INSERT INTO keypairs (project_id, user_id, name, fingerprint, public_key, type) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING *",
        k.project_id,
        k.user_id,
        k.name,
        k.fingerprint,
        k.public_key,
        k.type,
    )
    return rows.keypair(row) if row is not None else None


async def get(conn: Conn, project_id: str, user_id: str, name: str) -> m.Keypair | None:
    row = await conn.fetchrow(
        "SELECT * FROM keypairs WHERE project_id = $1 AND user_id = $2 AND name = $3",
        project_id,
        user_id,
        name,
    )
    return rows.keypair(row) if row is not None else None


async def list_page(
    conn: Conn, project_id: str, user_id: str, after: str, limit: int
) -> list[m.Keypair]:
    records = await conn.fetch(
        "SELECT * FROM keypairs WHERE project_id = $1 AND user_id = $2 AND name > $3 "
        "ORDER BY name LIMIT $4",
        project_id,
        user_id,
        after,
        limit,
    )
    return [rows.keypair(r) for r in records]


async def delete(conn: Conn, project_id: str, user_id: str, name: str) -> bool:
    status = await conn.execute(
        "DELETE FROM keypairs WHERE project_id = $1 AND user_id = $2 AND name = $3",
        project_id,
        user_id,
        name,
    )
    return status.endswith(" 1")
