"""Projects, users, role assignments and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from polyvisor.api import models as m
from polyvisor.api.store import rows
from polyvisor.api.store.db import Conn

# ----------------------------------------------------------------- projects


async def insert_project(conn: Conn, p: m.Project) -> m.Project | None:
    row = await conn.fetchrow(
        "INSERT INTO projects (id, name, description, enabled) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING *",
        p.id,
        p.name,
        p.description,
        p.enabled,
    )
    return rows.project(row) if row is not None else None


async def get_project(conn: Conn, id_or_name: str) -> m.Project | None:
    row = await conn.fetchrow(
        "SELECT * FROM projects WHERE id = $1 UNION ALL "
        "SELECT * FROM projects WHERE name = $1 AND id <> $1 LIMIT 1",
        id_or_name,
    )
    return rows.project(row) if row is not None else None


async def list_projects(conn: Conn, user_id: str, after: str, limit: int) -> list[m.Project]:
    if user_id:
        records = await conn.fetch(
            "SELECT p.* FROM projects p WHERE p.id > $2 AND EXISTS ("
            " SELECT 1 FROM role_assignments r WHERE r.project_id = p.id AND r.user_id = $1)"
            " ORDER BY p.id LIMIT $3",
            user_id,
            after,
            limit,
        )
    else:
        records = await conn.fetch(
            "SELECT * FROM projects WHERE id > $1 ORDER BY id LIMIT $2", after, limit
        )
    return [rows.project(r) for r in records]


async def delete_project(conn: Conn, project_id: str) -> bool:
    status = await conn.execute("DELETE FROM projects WHERE id = $1", project_id)
    return status.endswith(" 1")


# ----------------------------------------------------------------- users


async def insert_user(conn: Conn, u: m.User, password_hash: str | None) -> m.User | None:
    row = await conn.fetchrow(
        "INSERT INTO users (id, name, email, default_project_id, enabled, password_hash) "
        "VALUES ($1, $2, $3, nullif($4, ''), $5, $6) ON CONFLICT DO NOTHING RETURNING *",
        u.id,
        u.name,
        u.email,
        u.default_project_id,
        u.enabled,
        password_hash,
    )
    return rows.user(row) if row is not None else None


async def get_user(conn: Conn, id_or_name: str) -> m.User | None:
    row = await conn.fetchrow(
        "SELECT * FROM users WHERE id = $1 UNION ALL "
        "SELECT * FROM users WHERE name = $1 AND id <> $1 LIMIT 1",
        id_or_name,
    )
    return rows.user(row) if row is not None else None


async def user_credentials(conn: Conn, name: str) -> tuple[m.User, str | None] | None:
    """The user called `name`, else the one whose id it is (OpenStack clients log in by id)."""
    row = await conn.fetchrow(
        "SELECT * FROM users WHERE name = $1 UNION ALL "
        "SELECT * FROM users WHERE id = $1 AND name <> $1 LIMIT 1",
        name,
    )
    if row is None:
        return None
    return rows.user(row), row["password_hash"]


async def password_hash(conn: Conn, user_id: str) -> str | None:
    return await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)


async def set_password_hash(conn: Conn, user_id: str, value: str) -> bool:
    status = await conn.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, value)
    return status.endswith(" 1")


async def list_users(conn: Conn, project_id: str, after: str, limit: int) -> list[m.User]:
    if project_id:
        records = await conn.fetch(
            "SELECT u.* FROM users u WHERE u.id > $2 AND EXISTS ("
            " SELECT 1 FROM role_assignments r WHERE r.user_id = u.id AND r.project_id = $1)"
            " ORDER BY u.id LIMIT $3",
            project_id,
            after,
            limit,
        )
    else:
        records = await conn.fetch(
            "SELECT * FROM users WHERE id > $1 ORDER BY id LIMIT $2", after, limit
        )
    return [rows.user(r) for r in records]


async def delete_user(conn: Conn, user_id: str) -> bool:
    status = await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    return status.endswith(" 1")


# ----------------------------------------------------------------- roles


async def grant(conn: Conn, user_id: str, project_id: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO role_assignments (user_id, project_id, role) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING",
        user_id,
        project_id,
        role,
    )


async def revoke(conn: Conn, user_id: str, project_id: str, role: str) -> bool:
    status = await conn.execute(
        "DELETE FROM role_assignments WHERE user_id = $1 AND project_id = $2 AND role = $3",
        user_id,
        project_id,
        role,
    )
    return status.endswith(" 1")


async def roles_on(conn: Conn, user_id: str, project_id: str) -> set[str]:
    records = await conn.fetch(
        "SELECT role FROM role_assignments WHERE user_id = $1 AND project_id = $2",
        user_id,
        project_id,
    )
    return {r["role"] for r in records}


async def is_cloud_admin(conn: Conn, user_id: str) -> bool:
    """The admin role on any project makes a user a cloud administrator."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM role_assignments WHERE user_id = $1 AND role = 'admin')",
            user_id,
        )
    )


async def list_assignments(
    conn: Conn, user_id: str, project_id: str, after: str, limit: int
) -> list[m.RoleAssignment]:
    where = ["(user_id || '/' || project_id || '/' || role) > $1"]
    args: list[Any] = [after]
    if user_id:
        args.append(user_id)
        where.append(f"user_id = ${len(args)}")
    if project_id:
        args.append(project_id)
        where.append(f"project_id = ${len(args)}")
    args.append(limit)
    records = await conn.fetch(
        f"SELECT user_id, project_id, role FROM role_assignments WHERE {' AND '.join(where)} "
        f"ORDER BY user_id || '/' || project_id || '/' || role LIMIT ${len(args)}",
        *args,
    )
    return [m.RoleAssignment(r["user_id"], r["project_id"], r["role"]) for r in records]


# ----------------------------------------------------------------- API keys


async def insert_api_key(conn: Conn, key: m.ApiKey, digest: str) -> m.ApiKey | None:
    row = await conn.fetchrow(
        "INSERT INTO api_keys (id, name, user_id, project_id, prefix, secret_digest, kind, "
        "expire_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *",
        key.id,
        key.name,
        key.user_id,
        key.project_id,
        key.prefix,
        digest,
        key.kind,
        key.expire_time,
    )
    return rows.api_key(row) if row is not None else None


async def api_key_by_digest(conn: Conn, digest: str) -> m.ApiKey | None:
    row = await conn.fetchrow("SELECT * FROM api_keys WHERE secret_digest = $1", digest)
    return rows.api_key(row) if row is not None else None


async def touch_api_key(conn: Conn, key_id: str, when: datetime) -> None:
    await conn.execute(
        "UPDATE api_keys SET last_used_time = $2 WHERE id = $1 "
        "AND (last_used_time IS NULL OR last_used_time < $2::timestamptz - interval '1 minute')",
        key_id,
        when,
    )


async def list_api_keys(conn: Conn, user_id: str, after: str, limit: int) -> list[m.ApiKey]:
    records = await conn.fetch(
        "SELECT * FROM api_keys WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        user_id,
        after,
        limit,
    )
    return [rows.api_key(r) for r in records]


async def delete_api_key(conn: Conn, key_id: str, user_id: str | None) -> bool:
    if user_id is None:
        status = await conn.execute("DELETE FROM api_keys WHERE id = $1", key_id)
    else:
        status = await conn.execute(
            "DELETE FROM api_keys WHERE id = $1 AND user_id = $2", key_id, user_id
        )
    return status.endswith(" 1")


# ----------------------------------------------------------------- bootstrap


async def mark_bootstrapped(conn: Conn, name: str) -> bool:
    """True the first time `name` is marked (the caller then does the one-time work)."""
    row = await conn.fetchrow(
        "INSERT INTO bootstrap_done (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING name",
        name,
    )
    return row is not None
