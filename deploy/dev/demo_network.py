"""The demo network `./dev up` makes: a shared flat network on the physical network every dev
agent maps (the KVM host: a bridge without uplink; each vCenter cluster: vSwitch0), with an
IPv4 subnet, so the README's servers boot with addresses. Made as the bootstrap admin through
the public APIs, idempotent (request ids): a second `./dev up` finds it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from deploy.dev.infrastructure import StackError
from deploy.dev.services import BIND_HOST
from polyvisor.identity.v1 import identity_pb2, identity_requests_pb2, identity_service_pb2_grpc
from polyvisor.network.v1 import network_service_pb2_grpc, networks_pb2

PHYSICAL_NETWORK = "physnet1"
NAME = "demo"
CIDR = "10.42.0.0/24"


def ensure(api_address: str, network_address: str, user: str, password: str, project: str) -> str:
    """The demo network's id (made on first call)."""
    with grpc.insecure_channel(api_address) as ch:
        token = (
            identity_service_pb2_grpc.IdentityServiceStub(ch)
            .Authenticate(
                identity_requests_pb2.AuthenticateRequest(
                    password=identity_pb2.PasswordCredentials(
                        username=user, password=password, project=project
                    )
                ),
                timeout=30,
            )
            .token
        )
    md = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(network_address) as ch:
        stub = network_service_pb2_grpc.NetworkServiceStub(ch)
        net = stub.CreateNetwork(
            networks_pb2.CreateNetworkRequest(
                request_id="dev-demo-network",
                network=networks_pb2.Network(
                    name=NAME,
                    network_type=networks_pb2.NETWORK_TYPE_FLAT,
                    physical_network=PHYSICAL_NETWORK,
                    shared=True,
                ),
            ),
            metadata=md,
            timeout=30,
        ).network
        if not net.subnet_ids:
            stub.CreateSubnet(
                networks_pb2.CreateSubnetRequest(
                    request_id="dev-demo-subnet",
                    subnet=networks_pb2.Subnet(
                        name=f"{NAME}-v4", network_id=net.id, cidr=CIDR, ip_version=4
                    ),
                ),
                metadata=md,
                timeout=30,
            )
        return str(net.id)


def up(ports: dict[str, int], creds: Any, say: Callable[[str], None]) -> None:
    """`./dev up`'s step: the demo network, once the api and network service serve."""
    try:
        net_id = ensure(
            f"{BIND_HOST}:{ports['api']}",
            f"{BIND_HOST}:{ports['networksvc']}",
            creds.admin_user,
            creds.admin_password,
            creds.admin_project,
        )
    except grpc.RpcError as e:
        raise StackError(f"could not make the demo network: {e.details()}") from e
    say(f"demo network {NAME} ({CIDR}): {net_id}")
