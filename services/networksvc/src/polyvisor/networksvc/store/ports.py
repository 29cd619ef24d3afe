"""Ports: create (MAC, addresses, groups), read, update, delete."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    Aborted,
    AlreadyExists,
    NotFound,
    ResourceExhausted,
)
from polyvisor.networksvc.events import (
    NetworkEvent,
    PortEvent,
    PortEventKind,
)
from polyvisor.networksvc.model import (
    Port,
)
from polyvisor.networksvc.store.ipam import allocate_any, claim
from polyvisor.networksvc.store.membership import (
    member_events,
)
from polyvisor.networksvc.store.rows import (
    MAC_TRIES,
    PORT_SELECT,
    SUBNET_SELECT,
    PortDraft,
    Queries,
    as_uuid,
    port_in,
    port_of,
    subnet_of,
)
from polyvisor.networksvc.validation import check_fixed_ip, generate_mac


class PortQueries(Queries):
    # ------------------------------------------------------------------ ports

    async def port_by_request(self, project_id: str, request_id: str) -> Port | None:
        with db_errors():
            row = await self._pool.fetchrow(
                PORT_SELECT + " WHERE p.project_id = $1 AND p.request_id = $2",
                project_id,
                request_id,
            )
        return port_of(row) if row else None

    async def create_port(self, d: PortDraft) -> Port:
        """Insert the port, its addresses and group memberships, and their events, at once."""
        pid = uuid.uuid4()
        try:
            with db_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    await self._create_port_in(conn, pid, d)
        except AlreadyExists as e:
            if e.details.get("constraint") == "ports_request_id" and d.request_id:
                found = await self.port_by_request(d.project_id, d.request_id)
                if found is not None:
                    return found
            raise
        got = await self.get_port(str(pid))
        assert got is not None
        return got

    async def _create_port_in(self, conn: asyncpg.Connection, pid: uuid.UUID, d: PortDraft) -> None:
        nid = uuid.UUID(d.network_id)
        # FOR SHARE: a network (or subnet) delete waits for us, and we for it.
        if not await conn.fetchval(
            "SELECT true FROM network.networks WHERE id = $1 FOR SHARE", nid
        ):
            raise NotFound(f"network {d.network_id} not found", {"network_id": d.network_id})
        rows = await conn.fetch(
            SUBNET_SELECT + " WHERE s.network_id = $1 ORDER BY s.created_at, s.id FOR SHARE",
            nid,
        )
        subnets = [(subnet_of(r), r["ipam_mode"]) for r in rows]
        pairs = [{"ip_address": p.ip_address, "mac_address": p.mac_address}
                 for p in d.allowed_address_pairs]  # fmt: skip
        insert = (
            "INSERT INTO network.ports (id, name, project_id, network_id, mac_address, "
            "device_owner, device_id, port_security_enabled, allowed_address_pairs, "
            "admin_state_up, request_id) VALUES ($1, $2, $3, $4, $5::macaddr, $6, $7, $8, "
            "$9::jsonb, $10, $11) ON CONFLICT (mac_address) DO NOTHING RETURNING true"
        )
        for _ in range(MAC_TRIES if not d.mac_address else 1):
            mac = d.mac_address or generate_mac()
            if await conn.fetchval(
                insert, pid, d.name, d.project_id, nid, mac, d.device_owner, d.device_id,
                d.port_security_enabled, pairs, d.admin_state_up, d.request_id,
            ):  # fmt: skip
                break
        else:
            if d.mac_address:
                raise AlreadyExists(
                    f"MAC address {d.mac_address} is in use by another port",
                    {"mac_address": d.mac_address},
                )
            raise ResourceExhausted("could not generate a free MAC address; try again")

        if d.fixed_ips:
            by_id = {s.id: (s, m) for s, m in subnets}
            for f in d.fixed_ips:
                subnet, mode = by_id[f.subnet_id]
                if f.ip_address:
                    ip = check_fixed_ip(f.ip_address, subnet.cidr, subnet.gateway_ip, subnet.id)
                    if not await claim(conn, subnet, ip, pid):
                        raise AlreadyExists(
                            f"IP address {ip} is already allocated on subnet {subnet.id}",
                            {"subnet_id": subnet.id, "ip_address": ip},
                        )
                elif await allocate_any(conn, subnet, mode, pid) is None:
                    raise ResourceExhausted(
                        f"subnet {subnet.id} has no free address", {"subnet_id": subnet.id}
                    )
        else:
            for version in (4, 6):
                candidates = [(s, m) for s, m in subnets if s.ip_version == version]
                if not candidates:
                    continue
                for subnet, mode in candidates:
                    if await allocate_any(conn, subnet, mode, pid) is not None:
                        break
                else:
                    ids = ", ".join(s.id for s, _ in candidates)
                    raise ResourceExhausted(
                        f"subnet {ids} has no free address"
                        if len(candidates) == 1
                        else f"network {d.network_id} has no free IPv{version} address "
                        f"(subnets {ids} are full)",
                        {"network_id": d.network_id},
                    )
        if d.security_group_ids:
            await conn.executemany(
                "INSERT INTO network.port_security_groups (port_id, security_group_id) "
                "VALUES ($1, $2)",
                [(pid, uuid.UUID(g)) for g in d.security_group_ids],
            )
        port = await port_in(conn, pid)
        events: list[NetworkEvent] = [PortEvent(PortEventKind.CREATED, port, "")]
        events += await member_events(conn, port, ())
        await self._emit(conn, events)

    async def get_port(self, port_id: str) -> Port | None:
        pid = as_uuid(port_id)
        if pid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(PORT_SELECT + " WHERE p.id = $1", pid)
        return port_of(row) if row else None

    async def list_ports(
        self,
        project_id: str | None,
        *,
        network_id: str,
        device_id: str,
        host: str,
        after: str,
        limit: int,
    ) -> list[Port]:
        where = ["p.id > $1"]
        args: list[object] = [as_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(f"p.project_id = ${len(args)}")
        if network_id:
            nid = as_uuid(network_id)
            if nid is None:
                return []
            args.append(nid)
            where.append(f"p.network_id = ${len(args)}")
        if device_id:
            args.append(device_id)
            where.append(f"p.device_id = ${len(args)}")
        if host:
            args.append(host)
            where.append(f"p.binding_host = ${len(args)}")
        args.append(limit)
        sql = PORT_SELECT + f" WHERE {' AND '.join(where)} ORDER BY p.id LIMIT ${len(args)}"
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
        return [port_of(r) for r in rows]

    async def update_port(
        self, port_id: str, changes: dict[str, Any], *, expected_revision: int
    ) -> Port:
        """Apply `changes` (columns, plus "security_group_ids") if the port is still at
        `expected_revision` (else Aborted: it changed since it was validated)."""
        pid = uuid.UUID(port_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                before = await conn.fetchrow(
                    "SELECT revision FROM network.ports WHERE id = $1 FOR UPDATE", pid
                )
                if before is None:
                    raise NotFound(f"port {port_id} not found")
                if before["revision"] != expected_revision:
                    raise Aborted(f"port {port_id} changed meanwhile; try again")
                old = await port_in(conn, pid)
                sets: list[str] = []
                args: list[object] = [pid]
                for col, value in changes.items():
                    if col == "security_group_ids":
                        continue
                    if col == "allowed_address_pairs":
                        value = [{"ip_address": p.ip_address, "mac_address": p.mac_address}
                                 for p in value]  # fmt: skip
                        args.append(value)
                        sets.append(f"{col} = ${len(args)}::jsonb")
                    else:
                        args.append(value)
                        sets.append(f"{col} = ${len(args)}")
                sets.append("revision = revision + 1")
                sets.append("updated_at = now()")
                await conn.execute(
                    f"UPDATE network.ports SET {', '.join(sets)} WHERE id = $1", *args
                )
                if "security_group_ids" in changes:
                    new = set(changes["security_group_ids"])
                    await conn.execute(
                        "DELETE FROM network.port_security_groups WHERE port_id = $1", pid
                    )
                    await conn.executemany(
                        "INSERT INTO network.port_security_groups (port_id, security_group_id) "
                        "VALUES ($1, $2)",
                        [(pid, uuid.UUID(g)) for g in sorted(new)],
                    )
                port = await port_in(conn, pid)
                events: list[NetworkEvent] = [
                    PortEvent(PortEventKind.UPDATED, port, port.binding_host)
                ]
                if {"security_group_ids", "allowed_address_pairs"} & set(changes):
                    events += await member_events(
                        conn,
                        port,
                        old.security_group_ids,
                        changed="allowed_address_pairs" in changes,
                    )
                await self._emit(conn, events)
        return port

    async def delete_port(self, port_id: str) -> None:
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await self._delete_port_in(conn, port_id)

    async def _delete_port_in(self, conn: asyncpg.Connection, port_id: str) -> None:
        pid = uuid.UUID(port_id)
        row = await conn.fetchrow("SELECT id FROM network.ports WHERE id = $1 FOR UPDATE", pid)
        if row is None:
            raise NotFound(f"port {port_id} not found", {"port_id": port_id})
        port = await port_in(conn, pid)
        # ip_addresses.port_id is ON DELETE SET NULL: the addresses become free.
        await conn.execute("DELETE FROM network.ports WHERE id = $1", pid)
        gone = replace(port, revision=port.revision + 1)
        events: list[NetworkEvent] = [PortEvent(PortEventKind.DELETED, gone, port.binding_host)]
        events += await member_events(
            conn, replace(gone, security_group_ids=()), port.security_group_ids
        )
        await self._emit(conn, events)
