"""Networks and their subnets (a network delete takes its network:* ports with it)."""

from __future__ import annotations

import ipaddress
import uuid

from polyvisor.common.db import db_errors
from polyvisor.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from polyvisor.networksvc.model import (
    Network,
    NetworkType,
    Subnet,
)
from polyvisor.networksvc.store.ports import PortQueries
from polyvisor.networksvc.store.rows import (
    NETWORK_SELECT,
    SUBNET_SELECT,
    NetworkDraft,
    SubnetDraft,
    as_uuid,
    network_of,
    subnet_of,
    visible,
)


class NetworkQueries(PortQueries):
    # ------------------------------------------------------------------ networks

    async def network_by_request(self, project_id: str, request_id: str) -> Network | None:
        with db_errors():
            row = await self._pool.fetchrow(
                NETWORK_SELECT + " WHERE n.project_id = $1 AND n.request_id = $2",
                project_id,
                request_id,
            )
        return network_of(row) if row else None

    async def segment_owner(
        self, physical_network: str, network_type: NetworkType, segmentation_id: int
    ) -> str | None:
        """The id of the network using that segment, if any."""
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT id FROM network.networks WHERE physical_network = $1 "
                "AND network_type = $2 AND segmentation_id = $3",
                physical_network,
                network_type.value,
                segmentation_id,
            )
        return str(row["id"]) if row else None

    async def insert_network(self, d: NetworkDraft) -> Network:
        net_id = uuid.uuid4()
        try:
            with db_errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    seg = d.segmentation_id
                    if d.network_type is NetworkType.VLAN and not seg:
                        assert d.vlan_range is not None
                        # Serialise automatic allocation per physical network.
                        await conn.execute(
                            "SELECT pg_advisory_xact_lock(hashtext('network.vlan:' || $1))",
                            d.physical_network,
                        )
                        seg = await conn.fetchval(
                            "SELECT g FROM generate_series($1::int, $2::int) g WHERE NOT EXISTS "
                            "(SELECT 1 FROM network.networks n WHERE n.network_type = 'vlan' "
                            " AND n.physical_network = $3 AND n.segmentation_id = g) "
                            "ORDER BY g LIMIT 1",
                            d.vlan_range[0],
                            d.vlan_range[1],
                            d.physical_network,
                        )
                        if seg is None:
                            raise ResourceExhausted(
                                f"physical network {d.physical_network} has no free VLAN id in "
                                f"{d.vlan_range[0]}-{d.vlan_range[1]}"
                            )
                    await conn.execute(
                        "INSERT INTO network.networks (id, name, project_id, network_type, "
                        "physical_network, segmentation_id, shared, admin_state_up, mtu, "
                        "request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        net_id,
                        d.name,
                        d.project_id,
                        d.network_type.value,
                        d.physical_network,
                        seg,
                        d.shared,
                        d.admin_state_up,
                        d.mtu,
                        d.request_id,
                    )
        except AlreadyExists as e:
            if e.details.get("constraint") == "networks_request_id" and d.request_id:
                found = await self.network_by_request(d.project_id, d.request_id)
                if found is not None:
                    return found
            if e.details.get("constraint") in ("networks_vlan", "networks_flat"):
                what = (
                    f"VLAN {d.segmentation_id}"
                    if d.network_type is NetworkType.VLAN
                    else "the flat segment"
                )
                raise AlreadyExists(
                    f"{what} of physical network {d.physical_network} is in use by another network",
                    {"physical_network": d.physical_network},
                ) from e
            raise
        got = await self.get_network(str(net_id))
        assert got is not None
        return got

    async def get_network(self, network_id: str) -> Network | None:
        nid = as_uuid(network_id)
        if nid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(NETWORK_SELECT + " WHERE n.id = $1", nid)
        return network_of(row) if row else None

    async def list_networks(
        self, project_id: str | None, *, name: str, after: str, limit: int
    ) -> list[Network]:
        """project_id None: every network; else the project's and the shared ones."""
        where = ["n.id > $1"]
        args: list[object] = [as_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(visible("n", f"${len(args)}", shared=True))
        if name:
            args.append(name)
            where.append(f"n.name = ${len(args)}")
        args.append(limit)
        sql = NETWORK_SELECT + f" WHERE {' AND '.join(where)} ORDER BY n.id LIMIT ${len(args)}"
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
        return [network_of(r) for r in rows]

    async def delete_network(self, network_id: str) -> None:
        """Delete it with its subnets and its network:* ports; refused while other ports use it."""
        nid = uuid.UUID(network_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT id FROM network.networks WHERE id = $1 FOR UPDATE", nid
                )
                if row is None:
                    raise NotFound(f"network {network_id} not found", {"network_id": network_id})
                busy = await conn.fetch(
                    "SELECT id, device_owner, device_id FROM network.ports WHERE network_id = $1 "
                    "AND device_owner NOT LIKE 'network:%' ORDER BY created_at LIMIT 3",
                    nid,
                )
                if busy:
                    count = await conn.fetchval(
                        "SELECT count(*) FROM network.ports WHERE network_id = $1 "
                        "AND device_owner NOT LIKE 'network:%'",
                        nid,
                    )
                    first = busy[0]
                    used_by = f" (used by {first['device_id']})" if first["device_id"] else ""
                    raise FailedPrecondition(
                        f"network {network_id} has {count} port(s) in use, e.g. port "
                        f"{first['id']}{used_by}: delete them first",
                        {"network_id": network_id, "ports": count},
                    )
                service_ports = await conn.fetch(
                    "SELECT id FROM network.ports WHERE network_id = $1", nid
                )
                for p in service_ports:
                    await self._delete_port_in(conn, str(p["id"]))
                await conn.execute("DELETE FROM network.networks WHERE id = $1", nid)

    # ------------------------------------------------------------------ subnets

    async def subnet_by_request(self, project_id: str, request_id: str) -> Subnet | None:
        with db_errors():
            row = await self._pool.fetchrow(
                SUBNET_SELECT + " WHERE s.project_id = $1 AND s.request_id = $2",
                project_id,
                request_id,
            )
        return subnet_of(row) if row else None

    async def insert_subnet(self, d: SubnetDraft) -> Subnet:
        sid = uuid.uuid4()
        plan = d.plan
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                # The network row lock serialises subnet creation per network, so the
                # overlap check below cannot race another create.
                if not await conn.fetchval(
                    "SELECT true FROM network.networks WHERE id = $1 FOR UPDATE",
                    uuid.UUID(d.network_id),
                ):
                    raise NotFound(f"network {d.network_id} not found")
                overlap = await conn.fetchrow(
                    "SELECT id, cidr::text AS cidr FROM network.subnets "
                    "WHERE network_id = $1 AND cidr && $2::cidr LIMIT 1",
                    uuid.UUID(d.network_id),
                    plan.cidr,
                )
                if overlap is not None:
                    raise InvalidArgument(
                        f"cidr {plan.cidr} overlaps subnet {overlap['id']} ({overlap['cidr']}) "
                        f"of network {d.network_id}",
                        {"subnet_id": str(overlap["id"])},
                    )
                await conn.execute(
                    "INSERT INTO network.subnets (id, name, project_id, network_id, ip_version, "
                    "cidr, gateway_ip, enable_dhcp, dns_nameservers, host_routes, "
                    "allocation_pools, ipam_mode, request_id) VALUES ($1, $2, $3, $4, $5, "
                    "$6::cidr, $7::inet, $8, $9, $10::jsonb, $11::jsonb, $12, $13)",
                    sid,
                    d.name,
                    d.project_id,
                    uuid.UUID(d.network_id),
                    plan.ip_version,
                    plan.cidr,
                    plan.gateway_ip or None,
                    d.enable_dhcp,
                    list(plan.dns_nameservers),
                    [
                        {"destination": r.destination, "nexthop": r.nexthop}
                        for r in plan.host_routes
                    ],
                    [{"start": p.start, "end": p.end} for p in plan.allocation_pools],
                    "materialised" if plan.materialised else "sparse",
                    d.request_id,
                )
                if plan.materialised:
                    for p in plan.allocation_pools:
                        size = int(ipaddress.ip_address(p.end)) - int(ipaddress.ip_address(p.start))
                        await conn.execute(
                            "INSERT INTO network.ip_addresses (subnet_id, ip_address, in_pool) "
                            "SELECT $1, $2::inet + g, true FROM generate_series(0::bigint, $3) g",
                            sid,
                            p.start,
                            size,
                        )
        if plan.materialised:
            # Statistics for the rows just laid out, so that plans joining them (member sets)
            # use the port_id index rather than scanning the subnet's free addresses.
            with db_errors():
                await self._pool.execute("ANALYZE network.ip_addresses")
        got = await self.get_subnet(str(sid))
        assert got is not None
        return got

    async def get_subnet(self, subnet_id: str) -> Subnet | None:
        sid = as_uuid(subnet_id)
        if sid is None:
            return None
        with db_errors():
            row = await self._pool.fetchrow(SUBNET_SELECT + " WHERE s.id = $1", sid)
        return subnet_of(row) if row else None

    async def network_subnets(self, network_id: str) -> list[Subnet]:
        with db_errors():
            rows = await self._pool.fetch(
                SUBNET_SELECT + " WHERE s.network_id = $1 ORDER BY s.created_at, s.id",
                uuid.UUID(network_id),
            )
        return [subnet_of(r) for r in rows]

    async def list_subnets(
        self, project_id: str | None, *, network_id: str, after: str, limit: int
    ) -> list[Subnet]:
        where = ["s.id > $1"]
        args: list[object] = [as_uuid(after) or uuid.UUID(int=0)]
        if project_id is not None:
            args.append(project_id)
            where.append(
                f"(s.project_id = ${len(args)} OR EXISTS (SELECT 1 FROM network.networks n "
                f"WHERE n.id = s.network_id AND (n.shared OR n.project_id = ${len(args)})))"
            )
        if network_id:
            nid = as_uuid(network_id)
            if nid is None:
                return []
            args.append(nid)
            where.append(f"s.network_id = ${len(args)}")
        args.append(limit)
        sql = SUBNET_SELECT + f" WHERE {' AND '.join(where)} ORDER BY s.id LIMIT ${len(args)}"
        with db_errors():
            rows = await self._pool.fetch(sql, *args)
        return [subnet_of(r) for r in rows]

    async def delete_subnet(self, subnet_id: str) -> None:
        sid = uuid.UUID(subnet_id)
        with db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                if not await conn.fetchval(
                    "SELECT true FROM network.subnets WHERE id = $1 FOR UPDATE", sid
                ):
                    raise NotFound(f"subnet {subnet_id} not found")
                used = await conn.fetchval(
                    "SELECT count(*) FROM network.ip_addresses "
                    "WHERE subnet_id = $1 AND port_id IS NOT NULL",
                    sid,
                )
                if used:
                    raise FailedPrecondition(
                        f"subnet {subnet_id} has {used} address(es) in use by ports",
                        {"subnet_id": subnet_id, "in_use": used},
                    )
                await conn.execute("DELETE FROM network.subnets WHERE id = $1", sid)

    async def subnet_usage(self, subnet_id: str) -> tuple[int, int]:
        """(addresses in use, free pool addresses known as rows)."""
        with db_errors():
            row = await self._pool.fetchrow(
                "SELECT count(*) FILTER (WHERE port_id IS NOT NULL) AS used, "
                "count(*) FILTER (WHERE port_id IS NULL AND in_pool) AS free "
                "FROM network.ip_addresses WHERE subnet_id = $1",
                uuid.UUID(subnet_id),
            )
        return row["used"], row["free"]
