"""The KVM agent process with a network data plane: a spawn command for a server whose port
the api bound to this host plugs the port (bridge, DHCP, rules), gives the domain its NIC and
reports the binding ACTIVE; destroy takes it all away again."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from polyvisor.agent_kvm.net.names import bridge_name, dhcp_namespace, tap_name
from polyvisor.agent_kvm.net.plane import NetworkPlane
from polyvisor.agentkit.commands import EventKind
from polyvisor.common.auth import API_IDENTITY
from polyvisor.common.lifespan import serve
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.networksvc.app import lifespan
from polyvisor.networksvc.config import NetworkSettings
from tests.agent_kvm.kvm_support import Keys, KvmAgent, virsh
from tests.network.guests import run
from tests.support.services import free_port, wait_serving

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridges and namespaces need root"),
]


@pytest.fixture(scope="module")
async def networksvc(pg_url: str, nats_url: str, keys: Keys) -> AsyncIterator[str]:
    port = free_port()
    settings = NetworkSettings(
        database_url=pg_url, nats_url=nats_url, grpc_host="127.0.0.1", grpc_port=port,
        metrics_host="127.0.0.1", metrics_port=0, server_id=f"network-{uuid.uuid4().hex[:6]}",
        token_public_key=keys.public_path, physical_networks="", shutdown_grace_s=1.0,
        outbox_poll_s=0.2,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, lifespan, stop, handle_signals=False))
    try:
        await wait_serving(f"127.0.0.1:{port}", timeout=30)
        yield f"127.0.0.1:{port}"
    finally:
        stop.set()
        await task


def md(keys: Keys, **claims: object) -> tuple[tuple[str, str], ...]:
    token, _ = keys.signer.issue(**claims)  # type: ignore[arg-type]
    return (("authorization", f"Bearer {token}"),)


async def test_a_spawned_server_gets_its_bound_port_and_destroy_removes_the_plumbing(
    kvm_agent: KvmAgent, boot_image: tuple[str, str], networksvc: str, keys: Keys
) -> None:
    image_id, sha = boot_image
    agent = kvm_agent
    physnet = f"phys{uuid.uuid4().hex[:8]}"
    admin = md(keys, user_id="admin", project_id="admin", roles=("admin", "member"))
    api = md(keys, user_id=API_IDENTITY, project_id="", roles=(), kind="service")
    sid = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(networksvc) as ch:
        stub = svc_grpc.NetworkServiceStub(ch)
        net = (
            await stub.CreateNetwork(
                pb.CreateNetworkRequest(
                    network=pb.Network(
                        name="n", network_type=pb.NETWORK_TYPE_FLAT, physical_network=physnet
                    )
                ),
                metadata=admin,
            )
        ).network
        await stub.CreateSubnet(
            pb.CreateSubnetRequest(subnet=pb.Subnet(network_id=net.id, cidr="10.80.0.0/24")),
            metadata=admin,
        )
        port = (
            await stub.CreatePort(
                pb.CreatePortRequest(port=pb.Port(network_id=net.id)), metadata=admin
            )
        ).port
        await stub.BindPort(
            bpb.BindPortRequest(
                port_id=port.id, host=agent.host, vif_type=pb.VIF_TYPE_BRIDGE, device_id=sid,
                device_owner="compute:kvm",
            ),
            metadata=api,
        )  # fmt: skip
        await agent.start(
            POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS=f"{physnet}:",
            POLYVISOR_NETWORK_ADDRESS=networksvc,
        )
        try:
            await agent.send(sid, 1, "spawn", image_id=image_id, sha256=sha, memory_mb=64)
            ev = await agent.tap.wait_for(
                lambda e: (
                    e.server_id == sid and e.kind in (EventKind.SPAWNED, EventKind.SPAWN_FAILED)
                ),
                timeout=120,
            )
            assert ev.kind == EventKind.SPAWNED, ev
            xml = virsh("dumpxml", f"polyvisor-{sid}")
            assert f"<mac address='{port.mac_address}'/>" in xml
            assert f"<source bridge='{bridge_name(net.id)}'/>" in xml
            assert f"<target dev='{tap_name(port.id)}'/>" in xml
            got = (await stub.GetPort(pb.GetPortRequest(port_id=port.id), metadata=admin)).port
            assert got.binding.state == pb.BINDING_STATE_ACTIVE
            assert got.binding.port_security_enforced
            _, namespaces = await run("ip", "netns", "list")
            assert dhcp_namespace(net.id) in namespaces

            await agent.send(sid, 2, "destroy")
            await agent.tap.wait_for(lambda e: e.server_id == sid and e.kind == EventKind.DESTROYED)
            _, links = await run("ip", "-o", "link", "show")
            assert bridge_name(net.id) not in links and tap_name(port.id) not in links
            _, namespaces = await run("ip", "netns", "list")
            assert dhcp_namespace(net.id) not in namespaces
            await agent.stop()
        finally:
            # whatever a failure left, as the agent's next start would remove it
            plane = NetworkPlane(mappings={}, state_dir=agent.root / "state" / "network")
            await plane.remove_orphans()
