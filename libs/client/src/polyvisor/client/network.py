"""The network service: networks, subnets, ports, security groups and their rules.

    async with AsyncClient() as cloud:
        net = await cloud.networks.create("prod", network_type="vlan",
                                          physical_network="physnet1", segmentation_id=120)
        subnet = await cloud.subnets.create("prod-v4", network_id=net.id, cidr="10.0.0.0/24")
        port = await cloud.ports.create(net.id, name="web-1")
        web = await cloud.security_groups.create("web")
        await cloud.security_group_rules.create(web.id, direction="ingress", protocol="tcp",
                                                port_range_min=22)

Methods return the contract's protobuf messages (polyvisor.network.v1). `find` takes a name
or an id. Creates send a request id, so a create retried after a lost answer creates once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from google.protobuf.field_mask_pb2 import FieldMask

from polyvisor.client import enums
from polyvisor.client.errors import AmbiguousName, NotFound
from polyvisor.client.servers import is_uuid
from polyvisor.client.session import Session
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb

__all__ = ["NetworksApi", "PortsApi", "SecurityGroupRulesApi", "SecurityGroupsApi", "SubnetsApi"]

T = TypeVar("T")


async def _find(
    kind: str,
    name_or_id: str,
    get: Callable[[str], Awaitable[T]],
    by_name: Callable[[str], Awaitable[Sequence[T]]],
) -> T:
    if is_uuid(name_or_id):
        try:
            return await get(name_or_id)
        except NotFound:
            pass
    matches = [m for m in await by_name(name_or_id) if m.name == name_or_id]  # type: ignore[attr-defined]
    if not matches:
        raise NotFound(f"no {kind} with name or id {name_or_id!r}")
    if len(matches) > 1:
        ids = ", ".join(m.id for m in matches)  # type: ignore[attr-defined]
        raise AmbiguousName(f"{len(matches)} {kind}s are named {name_or_id!r} ({ids}): use an id")
    return matches[0]


async def _pages(call: Callable[[Any], Awaitable[Any]], req: Any, field: str) -> list[Any]:
    out: list[Any] = []
    while True:
        resp = await call(req)
        out.extend(getattr(resp, field))
        if not resp.next_page_token:
            return out
        req.page_token = resp.next_page_token


class _Api:
    def __init__(self, session: Session) -> None:
        self._s = session

    def _call(self, name: str) -> Callable[[Any], Awaitable[Any]]:
        async def call(req: Any) -> Any:
            return await self._s.call(getattr(self._s.network, name), req)

        return call


class NetworksApi(_Api):
    async def create(
        self,
        name: str,
        *,
        network_type: str | int = "vlan",
        physical_network: str,
        segmentation_id: int = 0,
        shared: bool = False,
        mtu: int = 0,
        admin_state_up: bool = True,
        project_id: str = "",
        request_id: str | None = None,
    ) -> pb.Network:
        net = pb.Network(
            name=name,
            network_type=enums.coerce(enums.NETWORK_TYPE, network_type),
            physical_network=physical_network,
            segmentation_id=segmentation_id,
            shared=shared,
            mtu=mtu,
            admin_state_up=admin_state_up,
            project_id=project_id,
        )
        req = pb.CreateNetworkRequest(request_id=request_id or str(uuid.uuid4()), network=net)
        return (await self._call("CreateNetwork")(req)).network

    async def get(self, network_id: str) -> pb.Network:
        return (await self._call("GetNetwork")(pb.GetNetworkRequest(network_id=network_id))).network

    async def list(self, *, name: str = "", all_projects: bool = False) -> list[pb.Network]:
        req = pb.ListNetworksRequest(name=name, all_projects=all_projects)
        return await _pages(self._call("ListNetworks"), req, "networks")

    async def find(self, name_or_id: str) -> pb.Network:
        return await _find("network", name_or_id, self.get, lambda n: self.list(name=n))

    async def delete(self, network_id: str) -> None:
        await self._call("DeleteNetwork")(pb.DeleteNetworkRequest(network_id=network_id))


class SubnetsApi(_Api):
    async def create(
        self,
        name: str,
        *,
        network_id: str,
        cidr: str,
        gateway_ip: str = "",
        no_gateway: bool = False,
        allocation_pools: Iterable[tuple[str, str]] = (),
        dns_nameservers: Iterable[str] = (),
        host_routes: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        enable_dhcp: bool = True,
        request_id: str | None = None,
    ) -> pb.Subnet:
        routes = host_routes.items() if isinstance(host_routes, Mapping) else host_routes
        subnet = pb.Subnet(
            name=name,
            network_id=network_id,
            cidr=cidr,
            gateway_ip=gateway_ip,
            no_gateway=no_gateway,
            allocation_pools=[pb.AllocationPool(start=a, end=b) for a, b in allocation_pools],
            dns_nameservers=list(dns_nameservers),
            host_routes=[pb.HostRoute(destination=d, nexthop=n) for d, n in routes],
            enable_dhcp=enable_dhcp,
        )
        req = pb.CreateSubnetRequest(request_id=request_id or str(uuid.uuid4()), subnet=subnet)
        return (await self._call("CreateSubnet")(req)).subnet

    async def get(self, subnet_id: str) -> pb.Subnet:
        return (await self._call("GetSubnet")(pb.GetSubnetRequest(subnet_id=subnet_id))).subnet

    async def list(self, *, network_id: str = "", all_projects: bool = False) -> list[pb.Subnet]:
        req = pb.ListSubnetsRequest(network_id=network_id, all_projects=all_projects)
        return await _pages(self._call("ListSubnets"), req, "subnets")

    async def find(self, name_or_id: str) -> pb.Subnet:
        return await _find("subnet", name_or_id, self.get, lambda _: self.list())

    async def delete(self, subnet_id: str) -> None:
        await self._call("DeleteSubnet")(pb.DeleteSubnetRequest(subnet_id=subnet_id))


class PortsApi(_Api):
    async def create(
        self,
        network_id: str,
        *,
        name: str = "",
        fixed_ips: Iterable[Mapping[str, str]] = (),
        mac_address: str = "",
        security_group_ids: Iterable[str] = (),
        port_security_enabled: bool = True,
        allowed_address_pairs: Iterable[Mapping[str, str]] = (),
        device_id: str = "",
        device_owner: str = "",
        request_id: str | None = None,
    ) -> pb.Port:
        """`fixed_ips`: [{"subnet_id": ..., "ip_address": ...}] (either or both)."""
        port = pb.Port(
            network_id=network_id,
            name=name,
            mac_address=mac_address,
            fixed_ips=[pb.FixedIp(**dict(f)) for f in fixed_ips],
            security_group_ids=list(security_group_ids),
            port_security_enabled=port_security_enabled,
            allowed_address_pairs=[pb.AllowedAddressPair(**dict(p)) for p in allowed_address_pairs],
            device_id=device_id,
            device_owner=device_owner,
        )
        req = pb.CreatePortRequest(request_id=request_id or str(uuid.uuid4()), port=port)
        return (await self._call("CreatePort")(req)).port

    async def get(self, port_id: str) -> pb.Port:
        return (await self._call("GetPort")(pb.GetPortRequest(port_id=port_id))).port

    async def list(
        self,
        *,
        network_id: str = "",
        device_id: str = "",
        host: str = "",
        all_projects: bool = False,
    ) -> list[pb.Port]:
        req = pb.ListPortsRequest(
            network_id=network_id, device_id=device_id, host=host, all_projects=all_projects
        )
        return await _pages(self._call("ListPorts"), req, "ports")

    async def find(self, name_or_id: str) -> pb.Port:
        return await _find("port", name_or_id, self.get, lambda _: self.list())

    async def update(self, port_id: str, **changes: Any) -> pb.Port:
        """Change name, device_owner, device_id, security_group_ids, port_security_enabled,
        allowed_address_pairs ([{"ip_address": ..., "mac_address": ...}]), admin_state_up."""
        port = pb.Port(id=port_id)
        for key, value in changes.items():
            if key == "allowed_address_pairs":
                port.allowed_address_pairs.extend(pb.AllowedAddressPair(**dict(p)) for p in value)
            elif key == "security_group_ids":
                port.security_group_ids.extend(value)
            else:
                setattr(port, key, value)
        req = pb.UpdatePortRequest(port=port, update_mask=FieldMask(paths=list(changes)))
        return (await self._call("UpdatePort")(req)).port

    async def delete(self, port_id: str) -> None:
        await self._call("DeletePort")(pb.DeletePortRequest(port_id=port_id))


class SecurityGroupsApi(_Api):
    async def create(
        self, name: str, *, description: str = "", request_id: str | None = None
    ) -> spb.SecurityGroup:
        req = spb.CreateSecurityGroupRequest(
            request_id=request_id or str(uuid.uuid4()),
            security_group=spb.SecurityGroup(name=name, description=description),
        )
        return (await self._call("CreateSecurityGroup")(req)).security_group

    async def get(self, group_id: str) -> spb.SecurityGroup:
        req = spb.GetSecurityGroupRequest(security_group_id=group_id)
        return (await self._call("GetSecurityGroup")(req)).security_group

    async def list(self, *, name: str = "", all_projects: bool = False) -> list[spb.SecurityGroup]:
        req = spb.ListSecurityGroupsRequest(name=name, all_projects=all_projects)
        return await _pages(self._call("ListSecurityGroups"), req, "security_groups")

    async def find(self, name_or_id: str) -> spb.SecurityGroup:
        return await _find("security group", name_or_id, self.get, lambda n: self.list(name=n))

    async def members(self, group_id: str) -> bpb.GetSecurityGroupMembersResponse:
        """The addresses of the group's ports (what remote-group rules match: `members`) and
        each port's share of them (`ports`)."""
        req = bpb.GetSecurityGroupMembersRequest(security_group_id=group_id)
        return await self._call("GetSecurityGroupMembers")(req)

    async def delete(self, group_id: str) -> None:
        await self._call("DeleteSecurityGroup")(
            spb.DeleteSecurityGroupRequest(security_group_id=group_id)
        )


class SecurityGroupRulesApi(_Api):
    async def create(
        self,
        security_group_id: str,
        *,
        direction: str | int,
        ethertype: str | int | None = None,
        protocol: str = "",
        port_range_min: int | None = None,
        port_range_max: int | None = None,
        remote_ip_prefix: str = "",
        remote_group_id: str = "",
        description: str = "",
    ) -> spb.SecurityGroupRule:
        rule = spb.SecurityGroupRule(
            security_group_id=security_group_id,
            direction=enums.coerce(enums.DIRECTION, direction),
            ethertype=enums.coerce(enums.ETHERTYPE, ethertype),
            protocol=protocol,
            port_range_min=port_range_min,
            port_range_max=port_range_max,
            remote_ip_prefix=remote_ip_prefix,
            remote_group_id=remote_group_id,
            description=description,
        )
        req = spb.CreateSecurityGroupRuleRequest(security_group_rule=rule)
        return (await self._call("CreateSecurityGroupRule")(req)).security_group_rule

    async def get(self, rule_id: str) -> spb.SecurityGroupRule:
        req = spb.GetSecurityGroupRuleRequest(security_group_rule_id=rule_id)
        return (await self._call("GetSecurityGroupRule")(req)).security_group_rule

    async def list(
        self, *, security_group_id: str = "", all_projects: bool = False
    ) -> list[spb.SecurityGroupRule]:
        req = spb.ListSecurityGroupRulesRequest(
            security_group_id=security_group_id, all_projects=all_projects
        )
        return list((await self._call("ListSecurityGroupRules")(req)).security_group_rules)

    async def delete(self, rule_id: str) -> None:
        await self._call("DeleteSecurityGroupRule")(
            spb.DeleteSecurityGroupRuleRequest(security_group_rule_id=rule_id)
        )
