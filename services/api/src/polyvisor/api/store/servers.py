"""Servers, and the change log every write to them appends to.

Every write goes through `insert` or `save`, which (in the caller's transaction, in one
statement, so one round trip: a storm of creates writes each server several times):
1. take the revision lock (an advisory transaction lock held until commit), so that
   revisions commit in the order they are drawn from `server_revision_seq`: a reader that
   has seen revision N will never later find a smaller one committed (Watch relies on it;
   revisions are then increasing per project and across projects alike);
2. write the row with its new revision;
3. append the server as it now is to `server_changes`;
4. NOTIFY `api_server_changes` with "<project id> <server id>" (delivered on commit, to every
   replica: it wakes watchers and invalidates read caches).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.lifecycle.model import Change
from polyvisor.api.spawnspec import Nic, SpawnSpec
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn
from polyvisor.api.store.rows import SERVER_COLUMNS, SHOWN_COLUMNS

CHANGES_CHANNEL = "api_server_changes"
_REVISION_LOCK_CLASS = 7301
_REQUEST_LOCK_CLASS = 7302  # one create's request id (project, request id)


@dataclass(frozen=True, slots=True)
class NewServer:
    id: str
    project_id: str
    user_id: str
    name: str
    image_id: str
    flavor: m.Flavor
    request_id: str
    request_index: int
    key_name: str
    metadata: dict[str, str]
    availability_zone: str
    user_data: bytes | None
    spawn: SpawnSpec
    task_deadline: datetime
    server_group_id: str = ""


# The revision drawn under the lock: the lock is taken in the FROM before nextval is called.
_REVISION = (
    "rev AS (SELECT nextval('server_revision_seq') AS n "
    "FROM (SELECT pg_advisory_xact_lock({lock}, 0)) AS l)"
)


def _logged(kind: str, channel: str) -> str:
    """The rest of a write: the change log entry of the row `s` (the CTE the write returns,
    all of its columns) and the NOTIFY, returning the server."""
    return f"""
        , logged AS (
            INSERT INTO server_changes (revision, project_id, server_id, change_type, snapshot)
            SELECT s.revision, s.project_id, s.id, {kind}::text,
                   to_jsonb(s) - 'spawn' - 'user_data'
            FROM s)
        SELECT {SERVER_COLUMNS}, pg_notify({channel}, s.project_id || ' ' || s.id) AS notified
        FROM s
        """


async def insert(conn: Conn, new: Sequence[NewServer]) -> list[m.Server] | None:
    """Insert BUILDING servers; None when the request id was already used (the caller rolls
    back and returns the first call's servers). Must run in a transaction.

    The request's own lock is taken first, then the check: a duplicate never reaches the
    revision lock and so never waits, holding it, on the first call's rows (another write's
    transaction may hold those while it waits for the revision lock: a deadlock)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        _REQUEST_LOCK_CLASS,
        f"{new[0].project_id} {new[0].request_id}",
    )
    # A new statement: its snapshot sees what the lock's last holder committed.
    sql = "SELECT EXISTS (SELECT 1 FROM servers WHERE project_id = $1 AND request_id = $2)"
    if await conn.fetchval(sql, new[0].project_id, new[0].request_id):
        return None  # the caller reads the first call's servers, once, after its rollback
    out: list[m.Server] = []
    for s in new:
        row = await conn.fetchrow(
            f"""
            WITH {_REVISION.format(lock="$20")}, s AS (
            INSERT INTO servers (
                id, project_id, user_id, name, image_id, flavor, vcpus, ram_mb, state, task,
                task_deadline, power_state, desired_power_state, key_name, has_user_data,
                metadata, availability_zone, request_id, request_index, revision, attempts,
                spawn, user_data, server_group_id, generation)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, 'BUILDING', 'SCHEDULING', $9,
                    'NOSTATE', 'RUNNING', $10, $11, $12::jsonb, $13, $14, $15,
                    (SELECT n FROM rev), 0, $17::jsonb, $18, $19, 1)
            ON CONFLICT (project_id, request_id, request_index) DO NOTHING
            RETURNING *)
            {_logged("$16", "$21")}
            """,
            s.id,
            s.project_id,
            s.user_id,
            s.name,
            s.image_id,
            rows.flavor_json(s.flavor),
            s.flavor.vcpus,
            s.flavor.ram_mb,
            s.task_deadline,
            s.key_name,
            s.user_data is not None and len(s.user_data) > 0,
            dict(s.metadata),
            s.availability_zone,
            s.request_id,
            s.request_index,
            "CREATED",
            s.spawn.to_json(),
            s.user_data,
            s.server_group_id,
            _REVISION_LOCK_CLASS,
            CHANGES_CHANNEL,
        )
        if row is None:
            return None
        out.append(rows.server(row))
    return out


async def find_by_request(conn: Conn, project_id: str, request_id: str) -> list[m.Server]:
    records = await conn.fetch(
        f"SELECT {SERVER_COLUMNS} FROM servers WHERE project_id = $1 AND request_id = $2 "
        "ORDER BY request_index",
        project_id,
        request_id,
    )
    return [rows.server(r) for r in records]


async def get(conn: Conn, server_id: str, project_id: str | None) -> m.Server | None:
    """The server, if it belongs to `project_id` (None: any project, for admins)."""
    return await _one(conn, server_id, project_id, "")


async def lock(conn: Conn, server_id: str, project_id: str | None = None) -> m.Server | None:
    """Like `get`, with the row locked until the end of the transaction."""
    return await _one(conn, server_id, project_id, " FOR UPDATE")


async def _one(conn: Conn, server_id: str, project_id: str | None, suffix: str) -> m.Server | None:
    where, args = "id = $1", [server_id]
    if project_id is not None:
        where, args = "id = $1 AND project_id = $2", [server_id, project_id]
    row = await conn.fetchrow(f"SELECT {SERVER_COLUMNS} FROM servers WHERE {where}{suffix}", *args)
    return rows.server(row) if row is not None else None


async def save(
    conn: Conn, server: m.Server, change: Change, change_type: str = "UPDATED"
) -> m.Server:
    """Apply `change` to a server locked by this transaction, with a new revision and an
    entry in the change log."""
    sets = ["revision = (SELECT n FROM rev)", "update_time = now()"]
    args: list[Any] = [server.id, _REVISION_LOCK_CLASS, change_type, CHANGES_CHANNEL]
    for column, value in change.items():
        args.append(rows.column_value(column, value))
        cast = "::jsonb" if column in rows.JSONB_COLUMNS else ""
        sets.append(f"{column} = ${len(args)}{cast}")
        if column == "flavor":  # a resize: the columns kept beside the flavor follow it
            args.extend((value.vcpus, value.ram_mb))
            sets.append(f"vcpus = ${len(args) - 1}, ram_mb = ${len(args)}")
    row = await conn.fetchrow(
        f"WITH {_REVISION.format(lock='$2')}, s AS ("
        f"UPDATE servers SET {', '.join(sets)} WHERE id = $1 RETURNING *) {_logged('$3', '$4')}",
        *args,
    )
    if row is None:
        raise LookupError(f"server {server.id} vanished under its lock")
    return rows.server(row)


def _filters_sql(
    project_id: str | None, filters: m.ServerFilters, after: str
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if project_id is not None:
        where.append(f"project_id = {arg(project_id)}")
    if not filters.show_deleted and filters.state != m.State.DELETED:
        where.append("state <> 'DELETED'")
    if filters.state:
        where.append(f"state = {arg(filters.state)}")
    if filters.host:
        where.append(f"host = {arg(filters.host)}")
    if filters.hypervisor_type:
        where.append(f"hypervisor_type = {arg(filters.hypervisor_type)}")
    if filters.name:
        pattern = filters.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(f"name ILIKE {arg('%' + pattern + '%')}")
    if filters.tags:
        where.append(f"tags @> {arg(list(filters.tags))}::text[]")
    if after:
        where.append(f"id > {arg(after)}")
    return where, args


async def list_keys(
    conn: Conn, project_id: str | None, filters: m.ServerFilters, after: str, limit: int
) -> list[tuple[str, int]]:
    """(id, revision) of a page of servers, ordered by id: what a list page needs to decide
    which servers it can answer from a cache of their current revision."""
    where, args = _filters_sql(project_id, filters, after)
    sql = "SELECT id, revision FROM servers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    args.append(limit)
    sql += f" ORDER BY id LIMIT ${len(args)}"
    return [(r[0], r[1]) for r in await conn.fetch(sql, *args)]


async def get_many_shown(conn: Conn, server_ids: list[str]) -> list[Mapping[str, Any]]:
    """The servers' rows as they are shown (rows.SHOWN_COLUMNS; convert.servers turns one into
    its protobuf): what a page reads for the servers not in the read cache, 100 at a time, and
    the domain object would cost as much again."""
    return await conn.fetch(  # type: ignore[no-any-return]
        f"SELECT {SHOWN_COLUMNS} FROM servers WHERE id = ANY($1::text[])", server_ids
    )


async def assigned_to_host(conn: Conn, host: str, after: str, limit: int) -> list[m.Server]:
    records = await conn.fetch(
        f"SELECT {SERVER_COLUMNS} FROM servers WHERE host = $1 AND state <> 'DELETED' "
        "AND id > $2 ORDER BY id LIMIT $3",
        host,
        after,
        limit,
    )
    return [rows.server(r) for r in records]


async def get_with_spawn(
    conn: Conn, server_id: str
) -> tuple[m.Server | None, SpawnSpec | None, bytes | None]:
    """`get` and `spawn_data` in one round trip (the outbox reads both for each build)."""
    row = await conn.fetchrow(
        f"SELECT {SERVER_COLUMNS}, spawn, user_data FROM servers WHERE id = $1", server_id
    )
    if row is None:
        return None, None, None
    spec = SpawnSpec.from_json(dict(rows.js(row["spawn"]))) if row["spawn"] else None
    return rows.server(row), spec, row["user_data"] if spec is not None else None


async def spawn_data(conn: Conn, server_id: str) -> tuple[SpawnSpec | None, bytes | None]:
    row = await conn.fetchrow("SELECT spawn, user_data FROM servers WHERE id = $1", server_id)
    if row is None or not row["spawn"]:
        return None, None
    return SpawnSpec.from_json(dict(rows.js(row["spawn"]))), row["user_data"]


async def overdue_ids(conn: Conn, limit: int) -> list[str]:
    records = await conn.fetch(
        "SELECT id FROM servers WHERE task_deadline IS NOT NULL AND task_deadline < now() "
        "ORDER BY task_deadline LIMIT $1",
        limit,
    )
    return [r["id"] for r in records]


async def lock_if_overdue(conn: Conn, server_id: str) -> m.Server | None:
    row = await conn.fetchrow(
        f"SELECT {SERVER_COLUMNS} FROM servers WHERE id = $1 AND task_deadline < now() "
        "FOR UPDATE SKIP LOCKED",
        server_id,
    )
    return rows.server(row) if row is not None else None


async def group_members(conn: Conn, group_id: str) -> list[str]:
    records = await conn.fetch(
        "SELECT id FROM servers WHERE server_group_id = $1 AND state <> 'DELETED' ORDER BY id",
        group_id,
    )
    return [r["id"] for r in records]


async def count_on_host(conn: Conn, host: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM servers WHERE host = $1 AND state <> 'DELETED'", host
        )
    )


async def set_spawn_image(conn: Conn, server_id: str, image: m.ImageInfo) -> None:
    """The image the server's next build boots (unshelve: the image it was shelved to)."""
    spec, _ = await spawn_data(conn, server_id)
    if spec is None:
        raise LookupError(f"server {server_id} has no spawn spec")
    await conn.execute(
        "UPDATE servers SET spawn = $2::jsonb WHERE id = $1",
        server_id,
        replace(spec, image=image).to_json(),
    )


async def set_spawn_spec(conn: Conn, server_id: str, spec: SpawnSpec) -> None:
    """The whole spec of the server's next build (an evacuation: image and hints)."""
    await conn.execute(
        "UPDATE servers SET spawn = $2::jsonb WHERE id = $1", server_id, spec.to_json()
    )


async def add_nic(conn: Conn, server_id: str, nic: Nic) -> int:
    """Append a NIC to the server's (a port added); its index."""
    spec, _ = await spawn_data(conn, server_id)
    if spec is None:
        raise LookupError(f"server {server_id} has no spawn spec")
    await _set_nics(conn, server_id, spec, (*spec.nics, nic))
    return len(spec.nics)


async def remove_nic(conn: Conn, server_id: str, index: int) -> None:
    """Mark the server's NIC `index` removed (its port freed); nothing for -1 or a server
    gone."""
    spec, _ = await spawn_data(conn, server_id)
    if spec is None or not 0 <= index < len(spec.nics):
        return
    nics = list(spec.nics)
    nics[index] = replace(nics[index], removed=True)
    await _set_nics(conn, server_id, spec, tuple(nics))


async def _set_nics(conn: Conn, server_id: str, spec: SpawnSpec, nics: tuple[Nic, ...]) -> None:
    await conn.execute(
        "UPDATE servers SET spawn = $2::jsonb WHERE id = $1",
        server_id,
        replace(spec, nics=nics).to_json(),
    )


async def insert_adopted(
    conn: Conn,
    s: NewServer,
    *,
    state: m.State,
    power: m.Power,
    host: str,
    hypervisor_type: str,
    esxi_host: str,
    instance_name: str,
) -> m.Server | None:
    """Insert a server adopted as it runs on `host` (settled: ACTIVE or SHUTOFF, nothing in
    flight); None when its id or request id is taken. Must run in a transaction."""
    row = await conn.fetchrow(
        f"""
        WITH {_REVISION.format(lock="$19")}, s AS (
        INSERT INTO servers (
            id, project_id, user_id, name, image_id, flavor, vcpus, ram_mb, state, task,
            power_state, desired_power_state, metadata, availability_zone, request_id,
            request_index, revision, spawn, host, hypervisor_type, esxi_host, instance_name,
            launch_time, generation)
        VALUES ($1, $2, $3, $4, '', $5::jsonb, $6, $7, $8, 'NONE', $9, $9, $10::jsonb, $11,
                $12, 0, (SELECT n FROM rev), $13::jsonb, $14, $15, $16, $17, now(), 1)
        ON CONFLICT DO NOTHING
        RETURNING *)
        {_logged("$18", "$20")}
        """,
        s.id,
        s.project_id,
        s.user_id,
        s.name,
        rows.flavor_json(s.flavor),
        s.flavor.vcpus,
        s.flavor.ram_mb,
        state.value,
        power.value,
        dict(s.metadata),
        s.availability_zone,
        s.request_id,
        s.spawn.to_json(),
        host,
        hypervisor_type,
        esxi_host,
        instance_name,
        "CREATED",
        _REVISION_LOCK_CLASS,
        CHANGES_CHANNEL,
    )
    return rows.server(row) if row is not None else None
