"""A thin test client of polyvisor.network.v1.NetworkService (real gRPC) and the in-process
service fixture's handle. Not a test module."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc

from polyvisor.common.auth import TokenSigner
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb


@dataclass
class Caller:
    """One identity calling the service: every stub method with its token attached."""

    stub: svc_grpc.NetworkServiceStub
    token: str
    project: str
    metadata: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metadata = [("authorization", f"Bearer {self.token}")]

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.stub, name)

        async def call(request: Any) -> Any:
            return await method(request, metadata=self.metadata, timeout=60)

        return call

    async def network(self, **fields: Any) -> pb.Network:
        fields.setdefault("network_type", pb.NETWORK_TYPE_VLAN)
        fields.setdefault("physical_network", "physnet1")
        resp = await self.CreateNetwork(pb.CreateNetworkRequest(network=pb.Network(**fields)))
        return resp.network

    async def subnet(self, network_id: str, cidr: str, **fields: Any) -> pb.Subnet:
        resp = await self.CreateSubnet(
            pb.CreateSubnetRequest(subnet=pb.Subnet(network_id=network_id, cidr=cidr, **fields))
        )
        return resp.subnet

    async def port(self, network_id: str, **fields: Any) -> pb.Port:
        fixed = fields.pop("fixed_ips", [])
        port = pb.Port(network_id=network_id, **fields)
        for f in fixed:
            port.fixed_ips.add(**f)
        return (await self.CreatePort(pb.CreatePortRequest(port=port))).port

    async def group(self, name: str, **fields: Any) -> spb.SecurityGroup:
        resp = await self.CreateSecurityGroup(
            spb.CreateSecurityGroupRequest(security_group=spb.SecurityGroup(name=name, **fields))
        )
        return resp.security_group

    async def rule(self, group_id: str, **fields: Any) -> spb.SecurityGroupRule:
        resp = await self.CreateSecurityGroupRule(
            spb.CreateSecurityGroupRuleRequest(
                security_group_rule=spb.SecurityGroupRule(security_group_id=group_id, **fields)
            )
        )
        return resp.security_group_rule

    async def bind(self, port_id: str, host: str, **fields: Any) -> bpb.BindPortResponse:
        fields.setdefault("vif_type", pb.VIF_TYPE_BRIDGE)
        return await self.BindPort(bpb.BindPortRequest(port_id=port_id, host=host, **fields))


@dataclass
class Service:
    address: str
    channel: grpc.aio.Channel
    signer: TokenSigner
    settings: Any

    def caller(
        self,
        project: str | None = None,
        roles: tuple[str, ...] = ("member",),
        kind: str = "user",
        host: str = "",
        user_id: str = "",
    ) -> Caller:
        project = project or f"p-{uuid.uuid4().hex[:8]}"
        token, _ = self.signer.issue(
            user_id=user_id or f"u-{project}",
            project_id=project,
            roles=roles,
            kind=kind,
            host=host,
        )
        return Caller(svc_grpc.NetworkServiceStub(self.channel), token, project)

    def admin(self, project: str = "admin") -> Caller:
        return self.caller(project, ("admin", "member"))

    def agent(self, host: str) -> Caller:
        return self.caller("", (), kind="agent", host=host)

    def api(self) -> Caller:
        return self.caller("", (), kind="service", user_id="polyvisor-api")


def physnet() -> str:
    """A physical network name of its own (segments are unique per physical network)."""
    return f"phys{uuid.uuid4().hex[:10]}"
