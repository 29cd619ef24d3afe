"""Reads of the server change log (WatchServers) and its pruning."""

from __future__ import annotations

from typing import Any

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn
from polyvisor.api.store.servers import SERVER_COLUMNS


async def after(
    conn: Conn, project_id: str | None, revision: int, server_id: str, limit: int
) -> list[m.ServerChange]:
    """Changes with a revision above `revision`, oldest first."""
    where = ["revision > $1"]
    args: list[Any] = [revision]
    if project_id is not None:
        args.append(project_id)
        where.append(f"project_id = ${len(args)}")
    if server_id:
        args.append(server_id)
        where.append(f"server_id = ${len(args)}")
    args.append(limit)
    records = await conn.fetch(
        f"SELECT revision, change_type, snapshot FROM server_changes WHERE {' AND '.join(where)} "
        f"ORDER BY revision LIMIT ${len(args)}",
        *args,
    )
    return [
        m.ServerChange(r["revision"], r["change_type"], rows.server(rows.js(r["snapshot"])))
        for r in records
    ]


async def snapshot(
    conn: Conn, project_id: str | None, server_id: str
) -> tuple[list[m.Server], int]:
    """The live servers and the newest revision, read in one snapshot (the caller runs this
    in a REPEATABLE READ transaction)."""
    where = ["state <> 'DELETED'"]
    args: list[Any] = []
    if project_id is not None:
        args.append(project_id)
        where.append(f"project_id = ${len(args)}")
    if server_id:
        args.append(server_id)
        where.append(f"id = ${len(args)}")
    records = await conn.fetch(
        f"SELECT {SERVER_COLUMNS} FROM servers WHERE {' AND '.join(where)} ORDER BY revision",
        *args,
    )
    if project_id is None:
        top = await conn.fetchval("SELECT coalesce(max(revision), 0) FROM server_changes")
    else:
        top = await conn.fetchval(
            "SELECT coalesce(max(revision), 0) FROM server_changes WHERE project_id = $1",
            project_id,
        )
    return [rows.server(r) for r in records], int(top)


async def horizon(conn: Conn, project_id: str | None) -> int:
    """The newest revision pruned from the log (resuming from below it is impossible)."""
    if project_id is None:
        value = await conn.fetchval("SELECT coalesce(max(min_revision), 0) FROM change_horizons")
    else:
        value = await conn.fetchval(
            "SELECT coalesce(min_revision, 0) FROM change_horizons WHERE project_id = $1",
            project_id,
        )
    return int(value or 0)


async def prune(conn: Conn, older_than_s: float) -> int:
    """Drop log entries older than the retention, remembering per project how far."""
    records = await conn.fetch(
        """
        WITH gone AS (
            DELETE FROM server_changes
            WHERE change_time < now() - make_interval(secs => $1)
            RETURNING project_id, revision
        )
        SELECT project_id, max(revision) AS top, count(*) AS n FROM gone GROUP BY project_id
        """,
        older_than_s,
    )
    for r in records:
        await conn.execute(
            """
            INSERT INTO change_horizons (project_id, min_revision) VALUES ($1, $2)
            ON CONFLICT (project_id) DO UPDATE
            SET min_revision = greatest(change_horizons.min_revision, excluded.min_revision)
            """,
            r["project_id"],
            r["top"],
        )
    return sum(int(r["n"]) for r in records)
