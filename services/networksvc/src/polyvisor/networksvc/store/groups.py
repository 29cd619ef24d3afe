"""Security groups and their rules (the project's default group made on first use)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
)
from polyvisor.networksvc.events import (
    GroupEventKind,
    GroupMember,
    SecurityGroupEvent,
)
from polyvisor.networksvc.model import (
    RemoteGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from polyvisor.networksvc.rules import NormalRule
from polyvisor.networksvc.store.membership import (
    group_events,
    lock_groups,
    member_shares,
)
from polyvisor.networksvc.store.rows import (
    RULE_SELECT,
    Queries,
    as_uuid,
    group_of,
    rule_of,
)


class GroupQueries(Queries):
    async def group_members(self, group_id: str) -> tuple[RemoteGroup, list[GroupMember]] | None:
        """The member set and every member port's share of it (one snapshot)."""
        gid = uuid.UUID(group_id)
        with db_errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                rev = await conn.fetchval(
                    "SELECT revision FROM network.security_groups WHERE id = $1", gid
                )
                if rev is None:
                    return None
                shares = await member_shares(conn, gid)
        union = sorted({a for m in shares for a in m.addresses})
        return RemoteGroup(group_id, tuple(union), rev), shares

    async def default_group_id(self, project_id: str) -> str | None:
        with db_errors():
            got = await self._pool.fetchval(
                "SELECT id FROM network.security_groups WHERE project_id = $1 AND is_default",
                project_id,
            )
        return str(got) if got else None

    async def ensure_default_group(self, project_id: str) -> str:
        """The project's default group, created (with its rules) if it does not exist yet:
        egress allowed (IPv4 and IPv6), ingress allowed from members of the group."""
        found = await self.default_group_id(project_id)
        if found:
            return found
        gid = uuid.uuid4()
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                made = await conn.fetchval(
                    "INSERT INTO network.security_groups (id, name, description, project_id, "
                    "is_default) VALUES ($1, 'default', 'Default security group', $2, true) "
                    "ON CONFLICT (project_id) WHERE is_default DO NOTHING RETURNING true",
                    gid,
                    project_id,
                )
                if made:
                    rules = [
                        ("egress", "IPv4", None),
                        ("egress", "IPv6", None),
                        ("ingress", "IPv4", gid),
                        ("ingress", "IPv6", gid),
                    ]
                    await conn.executemany(
                        "INSERT INTO network.security_group_rules (id, security_group_id, "
                        "project_id, direction, ethertype, remote_group_id) "
                        "VALUES ($1, $2, $3, $4, $5, $6)",
                        [(uuid.uuid4(), gid, project_id, d, e, rg) for d, e, rg in rules],
                    )
                    await self._emit(
                        conn,
                        await group_events(conn, [str(gid)], GroupEventKind.CREATED),
                    )
        if made:
            return str(gid)
        found = await self.default_group_id(project_id)
        assert found is not None
        return found

    async def group_by_request(self, project_id: str, request_id: str) -> SecurityGroup | None:
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT * FROM network.security_groups WHERE project_id = $1 AND request_id = $2",
                project_id,
                request_id,
            )
        return await self._with_rules(row) if row else None

    async def insert_group(
        self, name: str, description: str, project_id: str, request_id: str | None
    ) -> SecurityGroup:
        gid = uuid.uuid4()
        try:
            with db_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    await conn.execute(
                        "INSERT INTO network.security_groups (id, name, description, "
                        "project_id, request_id) VALUES ($1, $2, $3, $4, $5)",
                        gid,
                        name,
                        description,
                        project_id,
                        request_id,
                    )
                    await self._emit(
                        conn,
                        await group_events(conn, [str(gid)], GroupEventKind.CREATED),
                    )
        except AlreadyExists:
            if request_id:
                found = await self.group_by_request(project_id, request_id)
                if found is not None:
                    return found
            raise
        got = await self.get_group(str(gid))
        assert got is not None
        return got

    async def _with_rules(self, row: asyncpg.Record) -> SecurityGroup:
        with db_errors():
            rules = await self._pool.fetch(
                RULE_SELECT + " WHERE r.security_group_id = $1 ORDER BY r.created_at, r.id",
                row["id"],
            )
        return group_of(row, [rule_of(r) for r in rules])

    async def get_group(self, group_id: str) -> SecurityGroup | None:
        gid = as_uuid(group_id)
        if gid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT * FROM network.security_groups WHERE id = $1", gid
            )
        return await self._with_rules(row) if row else None

    async def groups_by_ids(self, group_ids: Sequence[str]) -> dict[str, SecurityGroup]:
        ids = [g for g in (as_uuid(x) for x in group_ids) if g is not None]
        with db_errors():
            rows = await self._pool.fetch(
                "SELECT * FROM network.security_groups WHERE id = ANY($1::uuid[])", ids
            )
        return {str(r["id"]): group_of(r) for r in rows}

    async def list_groups(
        self, project_id: str | None, *, name: str, after: str, limit: int
    ) -> list[SecurityGroup]:
        where = ["g.id > $1"]
        args: list[object] = [as_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"g.project_id = ${len(args)}")
        if name:
            args.append(name)
            where.append(f"g.name = ${len(args)}")
        args.append(limit)
        sql = (
            f"SELECT * FROM network.security_groups g WHERE {' AND '.join(where)} "
            f"ORDER BY g.id LIMIT ${len(args)}"
        )
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
            rules = await self._pool.fetch(
                RULE_SELECT + " WHERE r.security_group_id = ANY($1::uuid[]) "
                "ORDER BY r.created_at, r.id",
                [r["id"] for r in rows],
            )
        by_group: dict[str, list[SecurityGroupRule]] = {}
        for r in rules:
            by_group.setdefault(str(r["security_group_id"]), []).append(rule_of(r))
        return [group_of(r, by_group.get(str(r["id"]), ())) for r in rows]

    async def delete_group(self, group_id: str) -> None:
        gid = uuid.UUID(group_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT project_id, revision FROM network.security_groups "
                    "WHERE id = $1 FOR UPDATE",
                    gid,
                )
                if row is None:
                    raise NotFound(f"security group {group_id} not found")
                ports = await conn.fetchval(
                    "SELECT count(*) FROM network.port_security_groups "
                    "WHERE security_group_id = $1",
                    gid,
                )
                if ports:
                    raise FailedPrecondition(
                        f"security group {group_id} is in use by {ports} port(s)",
                        {"security_group_id": group_id, "ports": ports},
                    )
                referrer = await conn.fetchval(
                    "SELECT security_group_id FROM network.security_group_rules "
                    "WHERE remote_group_id = $1 AND security_group_id <> $1 LIMIT 1",
                    gid,
                )
                if referrer:
                    raise FailedPrecondition(
                        f"security group {group_id} is the remote group of a rule of "
                        f"security group {referrer}: delete that rule first",
                        {"security_group_id": group_id, "referrer": str(referrer)},
                    )
                await conn.execute("DELETE FROM network.security_groups WHERE id = $1", gid)
                await self._emit(
                    conn,
                    [
                        SecurityGroupEvent(
                            kind=GroupEventKind.DELETED,
                            security_group_id=group_id,
                            project_id=row["project_id"],
                            revision=row["revision"] + 1,
                        )
                    ],
                )

    async def insert_rule(
        self, group_id: str, project_id: str, rule: NormalRule, description: str
    ) -> SecurityGroupRule:
        rid = uuid.uuid4()
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await lock_groups(conn, [group_id])
                try:
                    async with conn.transaction():
                        await conn.execute(
                            "INSERT INTO network.security_group_rules (id, security_group_id, "
                            "project_id, direction, ethertype, protocol, port_range_min, "
                            "port_range_max, remote_ip_prefix, remote_group_id, description) "
                            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::cidr, $10, $11)",
                            rid,
                            uuid.UUID(group_id),
                            project_id,
                            rule.direction.value,
                            rule.ethertype,
                            rule.protocol,
                            rule.port_range_min,
                            rule.port_range_max,
                            rule.remote_ip_prefix or None,
                            uuid.UUID(rule.remote_group_id) if rule.remote_group_id else None,
                            description,
                        )
                except asyncpg.UniqueViolationError:
                    raise AlreadyExists(
                        f"security group {group_id} already has this rule",
                        {"security_group_id": group_id},
                    ) from None
                await self._emit(
                    conn,
                    await group_events(conn, [group_id], GroupEventKind.RULES_CHANGED),
                )
                row = await conn.fetchrow(RULE_SELECT + " WHERE r.id = $1", rid)
        return rule_of(row)

    async def get_rule(self, rule_id: str) -> SecurityGroupRule | None:
        rid = as_uuid(rule_id)
        if rid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(RULE_SELECT + " WHERE r.id = $1", rid)
        return rule_of(row) if row else None

    async def list_rules(self, project_id: str | None, group_id: str) -> list[SecurityGroupRule]:
        where = ["true"]
        args: list[object] = []
        if project_id is not None:
            args.append(project_id)
            where.append(f"r.project_id = ${len(args)}")
        if group_id:
            gid = as_uuid(group_id)
            if gid is None:
                return []
            args.append(gid)
            where.append(f"r.security_group_id = ${len(args)}")
        with db_errors():
            rows = await self._pool.fetch(
                RULE_SELECT + f" WHERE {' AND '.join(where)} "
                "ORDER BY r.security_group_id, r.created_at, r.id",
                *args,
            )
        return [rule_of(r) for r in rows]

    async def delete_rule(self, rule_id: str) -> None:
        rid = uuid.UUID(rule_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                gid = await conn.fetchval(
                    "DELETE FROM network.security_group_rules WHERE id = $1 "
                    "RETURNING security_group_id",
                    rid,
                )
                if gid is None:
                    raise NotFound(f"security group rule {rule_id} not found")
                await self._emit(
                    conn,
                    await group_events(conn, [str(gid)], GroupEventKind.RULES_CHANGED),
                )
