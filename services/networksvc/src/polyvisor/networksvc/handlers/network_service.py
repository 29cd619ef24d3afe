"""polyvisor.network.v1.NetworkService."""

from __future__ import annotations

from typing import Any

from polyvisor.common.interceptors import current_principal
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb
from polyvisor.networksvc.convert import (
    binding_state_from_pb,
    direction_from_pb,
    ethertype_from_pb,
    group_member_to_pb,
    group_to_pb,
    network_from_pb,
    network_to_pb,
    port_changes_from_pb,
    port_from_pb,
    port_to_pb,
    remote_group_to_pb,
    rule_to_pb,
    spec_to_pb,
    subnet_from_pb,
    subnet_to_pb,
    vif_type_from_pb,
)
from polyvisor.networksvc.networks import Networks
from polyvisor.networksvc.ports import Ports
from polyvisor.networksvc.secgroups import SecurityGroups

__all__ = ["SERVICE_NAME", "NetworkServiceHandlers"]

SERVICE_NAME = "polyvisor.network.v1.NetworkService"


def _page(request: Any) -> dict[str, Any]:
    """The paging fields every List request has."""
    return {
        "all_projects": request.all_projects,
        "size": request.page_size,
        "token": request.page_token,
    }


class NetworkServiceHandlers(svc_grpc.NetworkServiceServicer):
    def __init__(self, networks: Networks, ports: Ports, groups: SecurityGroups) -> None:
        self._networks = networks
        self._ports = ports
        self._groups = groups

    # -- networks

    async def CreateNetwork(self, request: pb.CreateNetworkRequest, context: Any) -> Any:
        net = await self._networks.create(
            current_principal(), network_from_pb(request.network), request.request_id
        )
        return pb.CreateNetworkResponse(network=network_to_pb(net))

    async def GetNetwork(self, request: pb.GetNetworkRequest, context: Any) -> Any:
        net = await self._networks.get(current_principal(), request.network_id)
        return pb.GetNetworkResponse(network=network_to_pb(net))

    async def ListNetworks(self, request: pb.ListNetworksRequest, context: Any) -> Any:
        items, token = await self._networks.list(
            current_principal(),
            name=request.name,
            **_page(request),
        )
        return pb.ListNetworksResponse(
            networks=[network_to_pb(n) for n in items], next_page_token=token
        )

    async def DeleteNetwork(self, request: pb.DeleteNetworkRequest, context: Any) -> Any:
        await self._networks.delete(current_principal(), request.network_id)
        return pb.DeleteNetworkResponse()

    # -- subnets

    async def CreateSubnet(self, request: pb.CreateSubnetRequest, context: Any) -> Any:
        subnet = await self._networks.create_subnet(
            current_principal(), subnet_from_pb(request.subnet), request.request_id
        )
        return pb.CreateSubnetResponse(subnet=subnet_to_pb(subnet))

    async def GetSubnet(self, request: pb.GetSubnetRequest, context: Any) -> Any:
        subnet = await self._networks.get_subnet(current_principal(), request.subnet_id)
        return pb.GetSubnetResponse(subnet=subnet_to_pb(subnet))

    async def ListSubnets(self, request: pb.ListSubnetsRequest, context: Any) -> Any:
        items, token = await self._networks.list_subnets(
            current_principal(),
            network_id=request.network_id,
            **_page(request),
        )
        return pb.ListSubnetsResponse(
            subnets=[subnet_to_pb(s) for s in items], next_page_token=token
        )

    async def DeleteSubnet(self, request: pb.DeleteSubnetRequest, context: Any) -> Any:
        await self._networks.delete_subnet(current_principal(), request.subnet_id)
        return pb.DeleteSubnetResponse()

    # -- ports

    async def CreatePort(self, request: pb.CreatePortRequest, context: Any) -> Any:
        port = await self._ports.create(
            current_principal(), port_from_pb(request.port), request.request_id
        )
        return pb.CreatePortResponse(port=port_to_pb(port))

    async def GetPort(self, request: pb.GetPortRequest, context: Any) -> Any:
        port = await self._ports.get(current_principal(), request.port_id)
        return pb.GetPortResponse(port=port_to_pb(port))

    async def ListPorts(self, request: pb.ListPortsRequest, context: Any) -> Any:
        items, token = await self._ports.list(
            current_principal(),
            network_id=request.network_id,
            device_id=request.device_id,
            host=request.host,
            **_page(request),
        )
        return pb.ListPortsResponse(ports=[port_to_pb(p) for p in items], next_page_token=token)

    async def UpdatePort(self, request: pb.UpdatePortRequest, context: Any) -> Any:
        changes = port_changes_from_pb(request.port, list(request.update_mask.paths))
        port = await self._ports.update(current_principal(), request.port.id, changes)
        return pb.UpdatePortResponse(port=port_to_pb(port))

    async def DeletePort(self, request: pb.DeletePortRequest, context: Any) -> Any:
        await self._ports.delete(current_principal(), request.port_id)
        return pb.DeletePortResponse()

    # -- bindings

    async def BindPort(self, request: bpb.BindPortRequest, context: Any) -> Any:
        port, spec = await self._ports.bind(
            current_principal(),
            request.port_id,
            request.host.strip(),
            vif_type_from_pb(request.vif_type),
            request.device_id,
            request.device_owner,
        )
        return bpb.BindPortResponse(port=port_to_pb(port), spec=spec_to_pb(spec))

    async def UnbindPort(self, request: bpb.UnbindPortRequest, context: Any) -> Any:
        port = await self._ports.unbind(current_principal(), request.port_id, request.keep_device)
        return bpb.UnbindPortResponse(port=port_to_pb(port))

    async def GetPortBindingSpec(self, request: bpb.GetPortBindingSpecRequest, context: Any) -> Any:
        spec = await self._ports.spec(current_principal(), request.port_id)
        return bpb.GetPortBindingSpecResponse(spec=spec_to_pb(spec))

    async def SetPortBindingState(
        self, request: bpb.SetPortBindingStateRequest, context: Any
    ) -> Any:
        port = await self._ports.set_state(
            current_principal(),
            request.port_id,
            request.host.strip(),
            binding_state_from_pb(request.state),
            request.message,
            request.port_security_enforced,
            request.revision,
        )
        return bpb.SetPortBindingStateResponse(port=port_to_pb(port))

    # -- security groups

    async def CreateSecurityGroup(
        self, request: spb.CreateSecurityGroupRequest, context: Any
    ) -> Any:
        g = request.security_group
        group = await self._groups.create(
            current_principal(), g.name, g.description, g.project_id, request.request_id
        )
        return spb.CreateSecurityGroupResponse(security_group=group_to_pb(group))

    async def GetSecurityGroup(self, request: spb.GetSecurityGroupRequest, context: Any) -> Any:
        group = await self._groups.get(current_principal(), request.security_group_id)
        return spb.GetSecurityGroupResponse(security_group=group_to_pb(group))

    async def ListSecurityGroups(self, request: spb.ListSecurityGroupsRequest, context: Any) -> Any:
        items, token = await self._groups.list(
            current_principal(),
            name=request.name,
            **_page(request),
        )
        return spb.ListSecurityGroupsResponse(
            security_groups=[group_to_pb(g) for g in items], next_page_token=token
        )

    async def GetSecurityGroupMembers(
        self, request: bpb.GetSecurityGroupMembersRequest, context: Any
    ) -> Any:
        members, shares = await self._groups.members(current_principal(), request.security_group_id)
        return bpb.GetSecurityGroupMembersResponse(
            members=remote_group_to_pb(members), ports=[group_member_to_pb(m) for m in shares]
        )

    async def DeleteSecurityGroup(
        self, request: spb.DeleteSecurityGroupRequest, context: Any
    ) -> Any:
        await self._groups.delete(current_principal(), request.security_group_id)
        return spb.DeleteSecurityGroupResponse()

    async def CreateSecurityGroupRule(
        self, request: spb.CreateSecurityGroupRuleRequest, context: Any
    ) -> Any:
        r = request.security_group_rule
        rule = await self._groups.create_rule(
            current_principal(),
            r.security_group_id,
            direction_from_pb(r.direction),
            ethertype_from_pb(r.ethertype),
            r.protocol,
            r.port_range_min if r.HasField("port_range_min") else None,
            r.port_range_max if r.HasField("port_range_max") else None,
            r.remote_ip_prefix,
            r.remote_group_id,
            r.description,
        )
        return spb.CreateSecurityGroupRuleResponse(security_group_rule=rule_to_pb(rule))

    async def GetSecurityGroupRule(
        self, request: spb.GetSecurityGroupRuleRequest, context: Any
    ) -> Any:
        rule = await self._groups.get_rule(current_principal(), request.security_group_rule_id)
        return spb.GetSecurityGroupRuleResponse(security_group_rule=rule_to_pb(rule))

    async def ListSecurityGroupRules(
        self, request: spb.ListSecurityGroupRulesRequest, context: Any
    ) -> Any:
        rules = await self._groups.list_rules(
            current_principal(), request.security_group_id, request.all_projects
        )
        return spb.ListSecurityGroupRulesResponse(
            security_group_rules=[rule_to_pb(r) for r in rules]
        )

    async def DeleteSecurityGroupRule(
        self, request: spb.DeleteSecurityGroupRuleRequest, context: Any
    ) -> Any:
        await self._groups.delete_rule(current_principal(), request.security_group_rule_id)
        return spb.DeleteSecurityGroupRuleResponse()
