"""Action history (`server_actions`): a row per request made to a server, opened when the
action starts and closed when the server settles (`outcomes.apply`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn

_COLUMNS = (
    "server_id, request_id, project_id, user_id, action, start_time, finish_time, result, fault"
)


def _action(r: Any) -> m.ServerAction:
    return m.ServerAction(
        server_id=r["server_id"],
        request_id=r["request_id"],
        project_id=r["project_id"],
        user_id=r["user_id"],
        action=r["action"],
        start_time=r["start_time"],
        finish_time=r["finish_time"],
        result=r["result"],
        fault=m.Fault.from_json(rows.js(r["fault"])),
    )


async def start(
    conn: Conn,
    server: m.Server,
    action: str,
    request_id: str,
    user_id: str,
    now: datetime,
) -> None:
    """Open the action. One still open on the server was interrupted by this one: it ends in
    ERROR saying so. A request id already recorded (a retry) opens nothing."""
    interrupted = m.Fault("INTERRUPTED", f"interrupted by {action} ({request_id})", time=now)
    await conn.execute(
        "UPDATE server_actions SET finish_time = $2, result = 'ERROR', fault = $3::jsonb "
        "WHERE server_id = $1 AND finish_time IS NULL",
        server.id,
        now,
        rows.dumps(interrupted.to_json()),
    )
    await conn.execute(
        f"INSERT INTO server_actions ({_COLUMNS}) "
        "VALUES ($1, $2, $3, $4, $5, $6, NULL, 'IN_PROGRESS', NULL) "
        "ON CONFLICT (server_id, request_id) DO NOTHING",
        server.id,
        request_id,
        server.project_id,
        user_id,
        action,
        now,
    )


async def finish(conn: Conn, server_id: str, now: datetime, fault: m.Fault | None) -> None:
    """Close the server's open action: SUCCESS, or ERROR with `fault`."""
    await conn.execute(
        "UPDATE server_actions SET finish_time = $2, result = $3, fault = $4::jsonb "
        "WHERE server_id = $1 AND finish_time IS NULL",
        server_id,
        now,
        "SUCCESS" if fault is None else "ERROR",
        None if fault is None else rows.dumps(fault.to_json()),
    )


async def page(conn: Conn, server_id: str, limit: int, offset: int) -> list[m.ServerAction]:
    """The server's actions, newest first."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM server_actions WHERE server_id = $1 "
        "ORDER BY start_time DESC, request_id LIMIT $2 OFFSET $3",
        server_id,
        limit,
        offset,
    )
    return [_action(r) for r in records]


async def get(conn: Conn, server_id: str, request_id: str) -> m.ServerAction | None:
    r = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM server_actions WHERE server_id = $1 AND request_id = $2",
        server_id,
        request_id,
    )
    return None if r is None else _action(r)


async def prune(conn: Conn, retention_s: float) -> int:
    """Remove the history of servers deleted more than `retention_s` ago."""
    status = await conn.execute(
        "DELETE FROM server_actions a USING servers s WHERE a.server_id = s.id "
        "AND s.state = 'DELETED' AND s.delete_time < now() - make_interval(secs => $1)",
        retention_s,
    )
    return int(status.split()[-1])
