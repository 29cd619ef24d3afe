"""Port bindings and the binding spec an agent plumbs a port from."""

from __future__ import annotations

import ipaddress
import uuid

import asyncpg

from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    NotFound,
)
from polyvisor.networksvc.events import (
    PortEvent,
    PortEventKind,
)
from polyvisor.networksvc.model import (
    BindingState,
    BoundIp,
    Port,
    PortBindingSpec,
    RemoteGroup,
    SecurityGroupRule,
    VifType,
)
from polyvisor.networksvc.store.membership import member_set
from polyvisor.networksvc.store.rows import (
    NETWORK_SELECT,
    RULE_SELECT,
    SUBNET_SELECT,
    Queries,
    network_of,
    port_in,
    rule_of,
    subnet_of,
)


class BindingQueries(Queries):
    # ------------------------------------------------------------------ bindings

    async def set_binding(
        self,
        port_id: str,
        *,
        host: str,
        vif_type: VifType,
        state: BindingState,
        message: str = "",
        enforced: bool = False,
        device_id: str | None = None,
        device_owner: str | None = None,
        kind: PortEventKind,
        only_if_host: str | None = None,
        only_if_revision: int | None = None,
        with_spec: bool = False,
    ) -> tuple[Port, PortBindingSpec | None] | None:
        """Change the binding (and, `with_spec`, resolve the port's binding spec in the same
        transaction); None when a condition (host, revision) no longer holds."""
        pid = uuid.UUID(port_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                old = await conn.fetchrow(
                    "SELECT binding_host, revision FROM network.ports WHERE id = $1 FOR UPDATE",
                    pid,
                )
                if old is None:
                    raise NotFound(f"port {port_id} not found")
                if only_if_host is not None and old["binding_host"] != only_if_host:
                    return None
                if only_if_revision is not None and old["revision"] != only_if_revision:
                    return None
                await conn.execute(
                    "UPDATE network.ports SET binding_host = $2, vif_type = $3, "
                    "binding_state = $4, binding_message = $5, port_security_enforced = $6, "
                    "device_id = coalesce($7, device_id), "
                    "device_owner = coalesce($8, device_owner), "
                    "revision = revision + 1, updated_at = now() WHERE id = $1",
                    pid,
                    host,
                    vif_type.value,
                    state.value,
                    message,
                    enforced,
                    device_id,
                    device_owner,
                )
                port = await port_in(conn, pid)
                await self._emit(conn, [PortEvent(kind, port, host or old["binding_host"])])
                spec = await self._spec_in(conn, port) if with_spec else None
        return port, spec

    async def _spec_in(self, conn: asyncpg.Connection, port: Port) -> PortBindingSpec:
        """What a binding spec resolves, read on `conn`: network, addresses with their
        subnets, rules of the port's groups, members of every group those rules name."""
        nrow = await conn.fetchrow(NETWORK_SELECT + " WHERE n.id = $1", uuid.UUID(port.network_id))
        if nrow is None:
            raise NotFound(f"network {port.network_id} not found")
        subnets = {
            str(r["id"]): subnet_of(r)
            for r in await conn.fetch(
                SUBNET_SELECT + " WHERE s.network_id = $1", uuid.UUID(port.network_id)
            )
        }
        rules: list[SecurityGroupRule] = []
        remotes: list[RemoteGroup] = []
        if port.port_security_enabled and port.security_group_ids:
            rules = [
                rule_of(r)
                for r in await conn.fetch(
                    RULE_SELECT + " WHERE r.security_group_id = ANY($1::uuid[]) "
                    "ORDER BY r.security_group_id, r.created_at, r.id",
                    [uuid.UUID(g) for g in port.security_group_ids],
                )
            ]
            for gid in sorted({r.remote_group_id for r in rules if r.remote_group_id}):
                rev = await conn.fetchval(
                    "SELECT revision FROM network.security_groups WHERE id = $1", uuid.UUID(gid)
                )
                members = await member_set(conn, uuid.UUID(gid))
                remotes.append(RemoteGroup(gid, tuple(members), rev or 0))
        ips = []
        for f in port.fixed_ips:
            s = subnets[f.subnet_id]
            ips.append(
                BoundIp(
                    ip_address=f.ip_address,
                    ip_version=s.ip_version,
                    subnet_id=s.id,
                    cidr=s.cidr,
                    prefix_length=ipaddress.ip_network(s.cidr).prefixlen,
                    gateway_ip=s.gateway_ip,
                    dns_nameservers=s.dns_nameservers,
                    host_routes=s.host_routes,
                    enable_dhcp=s.enable_dhcp,
                )
            )
        return PortBindingSpec(port, network_of(nrow), tuple(ips), tuple(rules), tuple(remotes))

    async def binding_spec(self, port: Port) -> PortBindingSpec:
        """The port's binding spec, from one snapshot."""
        with db_errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                return await self._spec_in(conn, port)
