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


# --------------------------------------------------------------------------- the list index


async def newest(conn: Conn) -> int:
    """The newest revision committed to the log (0 when it is empty): one index probe."""
    return int(await conn.fetchval("SELECT coalesce(max(revision), 0) FROM server_changes"))


async def live_after(conn: Conn, revision: int, limit: int) -> list[tuple[int, str, str, bool]]:
    """(revision, project, server id, whether the server is live after it) of the changes above
    `revision`, oldest first: what an index of the live servers needs, no snapshot decoded."""
    records = await conn.fetch(
        "SELECT revision, project_id, server_id, snapshot->>'state' <> 'DELETED' "
        "FROM server_changes WHERE revision > $1 ORDER BY revision LIMIT $2",
        revision,
        limit,
    )
    return [(r[0], r[1], r[2], r[3]) for r in records]


async def live_servers(conn: Conn) -> tuple[list[tuple[str, str, int]], int]:
    """(id, project, revision) of every live server, and the revision the log is at: the
    newest of the log, of what was pruned from it and of the servers read (the caller runs
    this in a REPEATABLE READ transaction, so all of it is one snapshot)."""
    records = await conn.fetch(
        "SELECT id, project_id, revision FROM servers WHERE state <> 'DELETED'"
    )
    top = await conn.fetchval(
        "SELECT greatest((SELECT coalesce(max(revision), 0) FROM server_changes), "
        "(SELECT coalesce(max(min_revision), 0) FROM change_horizons))"
    )
    live = [(r[0], r[1], r[2]) for r in records]
    return live, max([int(top), *(r[2] for r in live)])


async def count_live(conn: Conn) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM servers WHERE state <> 'DELETED'"))
