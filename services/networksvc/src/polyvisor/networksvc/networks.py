"""Networks and subnets: provider segments checked and reserved, subnets planned and their
addresses laid out for IPAM."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass

from polyvisor.common.auth import Principal
from polyvisor.common.errors import AlreadyExists, NotFound, PermissionDenied
from polyvisor.common.id_paging import after, next_token, page_size
from polyvisor.networksvc import access
from polyvisor.networksvc.model import AllocationPool, HostRoute, Network, NetworkType, Subnet
from polyvisor.networksvc.store import NetworkDraft, Store, SubnetDraft
from polyvisor.networksvc.validation import VlanRanges, check_name, check_network, plan_subnet

__all__ = ["NetworkInput", "Networks", "SubnetInput"]


@dataclass(frozen=True, slots=True)
class NetworkInput:
    name: str
    project_id: str
    network_type: NetworkType | None
    physical_network: str
    segmentation_id: int
    shared: bool
    admin_state_up: bool
    mtu: int


@dataclass(frozen=True, slots=True)
class SubnetInput:
    name: str
    project_id: str
    network_id: str
    cidr: str
    gateway_ip: str
    no_gateway: bool
    allocation_pools: Sequence[AllocationPool]
    dns_nameservers: Sequence[str]
    host_routes: Sequence[HostRoute]
    enable_dhcp: bool


class Networks:
    def __init__(self, store: Store, vlan_ranges: VlanRanges, default_mtu: int) -> None:
        self._store = store
        self._ranges = vlan_ranges
        self._mtu = default_mtu

    # ------------------------------------------------------------------ networks

    async def create(self, p: Principal | None, n: NetworkInput, request_id: str) -> Network:
        caller = access.require_write(p)
        project = n.project_id or caller.project_id
        if project != caller.project_id and not caller.is_admin:
            raise PermissionDenied("only an admin creates a network for another project")
        if n.shared and not caller.is_admin:
            raise PermissionDenied("only an admin creates a shared network")
        if n.segmentation_id and not caller.is_admin:
            raise PermissionDenied(
                "only an admin chooses a VLAN id; leave segmentation_id 0 to get one from "
                "the physical network's range"
            )
        if n.network_type is NetworkType.FLAT and not caller.is_admin:
            raise PermissionDenied("only an admin creates a flat network")
        check_name(n.name)
        ntype, mtu = check_network(
            n.network_type, n.physical_network, n.segmentation_id, n.mtu or self._mtu, self._ranges
        )
        if request_id:
            found = await self._store.network_by_request(project, request_id)
            if found is not None:
                return found
        if n.segmentation_id:
            owner = await self._store.segment_owner(n.physical_network, ntype, n.segmentation_id)
            if owner is not None:
                raise AlreadyExists(
                    f"VLAN {n.segmentation_id} of physical network {n.physical_network} is in "
                    f"use by network {owner}",
                    {"network_id": owner},
                )
        elif ntype is NetworkType.FLAT:
            owner = await self._store.segment_owner(n.physical_network, ntype, 0)
            if owner is not None:
                raise AlreadyExists(
                    f"physical network {n.physical_network} already has a flat network: {owner}",
                    {"network_id": owner},
                )
        return await self._store.insert_network(
            NetworkDraft(
                name=n.name,
                project_id=project,
                network_type=ntype,
                physical_network=n.physical_network,
                segmentation_id=n.segmentation_id,
                shared=n.shared,
                admin_state_up=n.admin_state_up,
                mtu=mtu,
                request_id=request_id or None,
                vlan_range=self._ranges.get(n.physical_network),
            )
        )

    async def get(self, p: Principal | None, network_id: str) -> Network:
        caller = access.principal(p)
        net = await self._store.get_network(network_id)
        if net is None or not access.can_see_network(caller, net.project_id, net.shared):
            raise NotFound(f"network {network_id} not found", {"network_id": network_id})
        return net

    async def list(
        self, p: Principal | None, *, name: str, all_projects: bool, size: int, token: str
    ) -> tuple[list[Network], str]:
        caller = access.principal(p)
        project = access.scope(caller, all_projects)
        limit = page_size(size)
        items = await self._store.list_networks(project, name=name, after=after(token), limit=limit)
        return items, next_token(items, limit)

    async def delete(self, p: Principal | None, network_id: str) -> None:
        caller = access.require_write(p)
        net = await self.get(caller, network_id)
        if net.project_id != caller.project_id and not caller.is_admin:
            raise PermissionDenied(f"only the owner project deletes network {network_id}")
        await self._store.delete_network(net.id)

    # ------------------------------------------------------------------ subnets

    async def create_subnet(self, p: Principal | None, s: SubnetInput, request_id: str) -> Subnet:
        caller = access.require_write(p)
        net = await self.get(caller, s.network_id)
        if net.project_id != caller.project_id and not caller.is_admin:
            raise PermissionDenied(f"only the owner project adds subnets to network {net.id}")
        project = s.project_id or net.project_id
        if project != net.project_id and not caller.is_admin:
            raise PermissionDenied("only an admin creates a subnet for another project")
        check_name(s.name)
        plan = plan_subnet(
            s.cidr,
            gateway_ip=s.gateway_ip,
            no_gateway=s.no_gateway,
            pools=s.allocation_pools,
            dns_nameservers=s.dns_nameservers,
            host_routes=s.host_routes,
        )
        if request_id:
            found = await self._store.subnet_by_request(project, request_id)
            if found is not None:
                return found
        return await self._store.insert_subnet(
            SubnetDraft(
                name=s.name,
                project_id=project,
                network_id=net.id,
                plan=plan,
                enable_dhcp=s.enable_dhcp,
                request_id=request_id or None,
            )
        )

    async def get_subnet(self, p: Principal | None, subnet_id: str) -> Subnet:
        caller = access.principal(p)
        subnet = await self._store.get_subnet(subnet_id)
        if subnet is not None and subnet.project_id != caller.project_id:
            net = await self._store.get_network(subnet.network_id)
            if net is None or not access.can_see_network(caller, net.project_id, net.shared):
                subnet = None
        if subnet is None:
            raise NotFound(f"subnet {subnet_id} not found", {"subnet_id": subnet_id})
        return subnet

    async def list_subnets(
        self, p: Principal | None, *, network_id: str, all_projects: bool, size: int, token: str
    ) -> tuple[builtins.list[Subnet], str]:
        caller = access.principal(p)
        project = access.scope(caller, all_projects)
        limit = page_size(size)
        items = await self._store.list_subnets(
            project, network_id=network_id, after=after(token), limit=limit
        )
        return items, next_token(items, limit)

    async def delete_subnet(self, p: Principal | None, subnet_id: str) -> None:
        caller = access.require_write(p)
        subnet = await self.get_subnet(caller, subnet_id)
        if subnet.project_id != caller.project_id and not caller.is_admin:
            raise PermissionDenied(f"only the owner project deletes subnet {subnet_id}")
        await self._store.delete_subnet(subnet.id)
