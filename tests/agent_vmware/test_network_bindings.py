"""A port the api bound to a vCenter cluster, plumbed from the real network service: the VM
gets a NIC with the port's MAC on the network's port group, guestinfo carries the port's
address, the binding turns ACTIVE with security groups plainly not enforced, and destroying
the server removes the port group."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from pyVmomi import vim
from vmware_fixtures import Direct, local_image, options_for

from polyvisor.agent_vmware.guestinfo import decode
from polyvisor.agent_vmware.net.client import NetworkClient
from polyvisor.agent_vmware.net.service_source import NetworkServiceBindings
from polyvisor.agent_vmware.net.switches import SwitchMapping, port_group_name
from polyvisor.agent_vmware.ports_driver import PortsVmwareDriver
from polyvisor.agentkit.driver import InstanceSpec
from polyvisor.common.auth import API_IDENTITY, KIND_AGENT, TokenSigner, generate_keypair
from polyvisor.common.lifespan import serve
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import network_service_pb2_grpc as svc_grpc
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.networksvc.app import lifespan
from polyvisor.networksvc.config import NetworkSettings
from tests.fixtures.vcsim import Vcsim
from tests.support.services import free_port, wait_serving

pytestmark = pytest.mark.slow

HOST = f"vc-{uuid.uuid4().hex[:8]}:cluster-1"
PHYSNET = f"phys{uuid.uuid4().hex[:6]}"


class Signed:
    """Agent credentials: a token the network service verifies, naming this agent's host."""

    def __init__(self, signer: TokenSigner, **claims: object) -> None:
        self.signer = signer
        self.claims = claims

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        token, _ = self.signer.issue(**self.claims)  # type: ignore[arg-type]
        return (("authorization", f"Bearer {token}"),)

    def invalidate(self) -> None:
        return None


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> tuple[TokenSigner, Path]:
    private, public = generate_keypair()
    path = tmp_path_factory.mktemp("keys") / "token.pub"
    path.write_bytes(public)
    return TokenSigner(private), path


@pytest.fixture(scope="module")
async def networksvc(
    pg_url: str, nats_url: str, signer: tuple[TokenSigner, Path]
) -> AsyncIterator[str]:
    port = free_port()
    settings = NetworkSettings(
        database_url=pg_url, nats_url=nats_url, grpc_host="127.0.0.1", grpc_port=port,
        metrics_host="127.0.0.1", metrics_port=0, server_id=f"network-{uuid.uuid4().hex[:6]}",
        token_public_key=signer[1], physical_networks="", shutdown_grace_s=1.0,
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


@pytest.fixture
def direct(vcsim: Vcsim) -> Iterator[Direct]:
    assert vcsim.endpoint is not None
    d = Direct(vcsim.endpoint)
    try:
        yield d
    finally:
        d.close()


def std_groups(direct: Direct, name: str) -> list[int]:
    return [
        pg.spec.vlanId
        for host in direct.cluster("DC0_C0").host
        for pg in host.configManager.networkSystem.networkInfo.portgroup or ()
        if pg.spec.name == name
    ]


async def test_a_bound_port_becomes_a_nic_and_guestinfo_and_reports_not_enforced(
    vcsim: Vcsim,
    direct: Direct,
    images: dict[str, Path],
    networksvc: str,
    signer: tuple[TokenSigner, Path],
) -> None:
    sign = signer[0]
    admin = await Signed(
        sign, user_id="admin", project_id="admin", roles=("admin", "member")
    ).metadata()
    api = await Signed(
        sign, user_id=API_IDENTITY, project_id="", roles=(), kind="service"
    ).metadata()
    sid = str(uuid.uuid4())
    folder = f"t-{uuid.uuid4().hex[:10]}"
    assert vcsim.endpoint is not None
    driver = PortsVmwareDriver(
        options_for(
            vcsim.endpoint,
            folder=folder,
            image_cache_folder=f"cache-{folder}",
            host_id=HOST,
            switch_mappings={PHYSNET: SwitchMapping(PHYSNET, "vSwitch0")},
        )
    )
    agent = Signed(
        sign, user_id=f"agent:{HOST}", project_id="", roles=(), kind=KIND_AGENT, host=HOST
    )
    client = NetworkClient(networksvc, agent)
    driver.attach_ports(NetworkServiceBindings(client, HOST, asyncio.get_running_loop()))
    net_name = ""
    async with grpc.aio.insecure_channel(networksvc) as ch:
        stub = svc_grpc.NetworkServiceStub(ch)
        net = (
            await stub.CreateNetwork(
                pb.CreateNetworkRequest(
                    network=pb.Network(
                        name="vc", network_type=pb.NETWORK_TYPE_VLAN, physical_network=PHYSNET,
                        segmentation_id=140,
                    )
                ),
                metadata=admin,
            )
        ).network  # fmt: skip
        net_name = port_group_name(net.id)
        await stub.CreateSubnet(
            pb.CreateSubnetRequest(
                subnet=pb.Subnet(
                    network_id=net.id, cidr="10.81.0.0/24", dns_nameservers=["10.81.0.53"]
                )
            ),
            metadata=admin,
        )
        port = (
            await stub.CreatePort(
                pb.CreatePortRequest(port=pb.Port(network_id=net.id)), metadata=admin
            )
        ).port
        await stub.BindPort(
            bpb.BindPortRequest(
                port_id=port.id, host=HOST, vif_type=pb.VIF_TYPE_VMWARE_PORTGROUP, device_id=sid,
                device_owner="compute:vmware",
            ),
            metadata=api,
        )  # fmt: skip
        try:
            await asyncio.to_thread(driver.start, 30)
            spec = InstanceSpec(
                server_id=sid, name="vc-1", hostname="vc-1", vcpus=1, memory_mb=128, disk_gb=0,
                image=local_image(images["streamOptimized"], "img-bound"),
            )  # fmt: skip
            await asyncio.to_thread(driver.spawn, spec)

            vm = direct.vm_by_tag(sid)
            assert vm is not None
            [nic] = [
                d
                for d in vm.config.hardware.device
                if isinstance(d, vim.vm.device.VirtualEthernetCard)
            ]
            assert (nic.macAddress, nic.addressType) == (port.mac_address, "manual")
            assert nic.backing.deviceName == net_name
            assert set(std_groups(direct, net_name)) == {140}
            extra = direct.extra(vm)
            meta = json.loads(
                decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"])
            )
            eth0 = meta["network"]["ethernets"]["eth0"]
            assert eth0["addresses"] == [f"{port.fixed_ips[0].ip_address}/24"]
            assert eth0["routes"] == [{"to": "0.0.0.0/0", "via": "10.81.0.1"}]
            assert eth0["nameservers"] == {"addresses": ["10.81.0.53"]}
            assert eth0["match"] == {"macaddress": port.mac_address}

            got = (await stub.GetPort(pb.GetPortRequest(port_id=port.id), metadata=admin)).port
            assert got.binding.state == pb.BINDING_STATE_ACTIVE
            assert got.port_security_enabled and not got.binding.port_security_enforced

            await asyncio.to_thread(driver.destroy, sid)
            assert std_groups(direct, net_name) == []
        finally:
            for inst in await asyncio.to_thread(driver.list_instances):
                await asyncio.to_thread(driver.destroy, inst.server_id)
            await asyncio.to_thread(driver.close)
            await client.close()
            for host in direct.cluster("DC0_C0").host:
                try:
                    host.configManager.networkSystem.RemovePortGroup(pgName=net_name)
                except vim.fault.NotFound:
                    pass
