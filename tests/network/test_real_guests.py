"""Two real Linux guests (QEMU, TCG) on one network, through the KVM agent's data plane.

The network service runs for real (PostgreSQL, NATS, its events); the ports are created by a
project and bound to the host as the api does; the KVM agent's ``NetworkAgent`` (network
service client, event subscriptions) and the libvirt driver spawn the guests, which plugs
their ports. Each guest's /init (busybox) gets its address by DHCP, prints its
``meta_data.json`` from 169.254.169.254, and guest A pings guest B: refused until a rule of
B's group allows ICMP from A's group (created through the API, applied live from its event),
then answered; A sending from another IP, then from another MAC, is dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from polyvisor.agent_kvm.net.names import bridge_name, dhcp_namespace, tap_name
from polyvisor.agentkit.capabilities import capabilities_of
from polyvisor.network.v1 import bindings_pb2 as bpb
from polyvisor.network.v1 import networks_pb2 as pb
from polyvisor.network.v1 import security_groups_pb2 as spb
from tests.fixtures.guest_image import GuestImage, GuestUnavailable, guest_image
from tests.fixtures.libvirt import SYSTEM_URI, LibvirtUnavailable, ensure_libvirtd
from tests.network.conftest import NetworkService
from tests.network.guests import UDHCPC_SCRIPT, Console, KvmHost, instance_spec, kvm_host, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridges, namespaces and VMs need root"),
]

SUBNET = "10.78.0.0/24"
IP_A, IP_B, SPOOF_IP = "10.78.0.21", "10.78.0.22", "10.78.0.99"
SPOOF_MAC = "fa:16:3e:66:66:66"
PING = "ping -c 1 -W 1 {peer} >/dev/null 2>&1"


def guest_script(peer: str = "") -> str:
    lines = [
        "ip link set lo up; ip link set eth0 up",
        "cat > /udhcpc.sh <<'EOS'\n#!/bin/sh\n" + UDHCPC_SCRIPT + "EOS",
        "chmod +x /udhcpc.sh",
        "udhcpc -i eth0 -n -q -f -t 30 -T 2 -O staticroutes -s /udhcpc.sh",
        'echo "META $(wget -qO- http://169.254.169.254/openstack/latest/meta_data.json)"',
    ]
    if not peer:
        return "\n".join([*lines, "sleep 900"])
    ping = PING.format(peer=peer)
    return "\n".join(
        [
            *lines,
            "n=0",
            f"while [ $n -lt 400 ]; do if {ping}; then echo PING-OK; break; fi; "
            "echo PING-FAIL; n=$((n+1)); done",
            "try() { ok=0; for i in 1 2 3; do if "
            + ping
            + '; then ok=1; break; fi; done; echo "$1 $ok"; }',
            f"ip addr flush dev eth0; ip addr add {SPOOF_IP}/24 dev eth0",
            "try SPOOF-IP",
            f"ip addr flush dev eth0; ip addr add {IP_A}/24 dev eth0",
            "try RESTORED",
            f"ip link set eth0 down; ip link set eth0 address {SPOOF_MAC}; ip link set eth0 up",
            "try SPOOF-MAC",
            "sleep 900",
        ]
    )


@pytest.fixture(scope="module")
def guest() -> GuestImage:
    try:
        return guest_image()
    except GuestUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(str(exc))
        raise  # as root apt-get builds the guest: its absence is a failure


@pytest.fixture
def world() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="polyvisor-guests-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def libvirtd() -> str:
    try:
        return ensure_libvirtd(SYSTEM_URI)
    except LibvirtUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(f"libvirtd: {exc}")
        raise  # as root the project's scripts start libvirtd: its absence is a failure


@pytest.fixture
async def kvm(
    network_service: NetworkService, nats_url: str, world: Path, libvirtd: str
) -> AsyncIterator[KvmHost]:
    host = f"kvm-net-{uuid.uuid4().hex[:6]}"
    async with kvm_host(
        network_address=network_service.address,
        agent_token=network_service.agent_token(host),
        nats_url=nats_url,
        libvirt_uri=libvirtd,
        world=world,
        host=host,
    ) as k:
        yield k


async def test_two_guests_dhcp_metadata_security_groups_and_spoofing(
    network_service: NetworkService,
    kvm: KvmHost,
    guest: GuestImage,
    world: Path,
) -> None:
    host, physnet, driver = kvm.host, kvm.physnet, kvm.driver
    admin, api = network_service.admin(), network_service.api()
    project = f"p-{uuid.uuid4().hex[:8]}"
    user = network_service.member(project)

    net = (
        await admin.CreateNetwork(
            pb.CreateNetworkRequest(
                network=pb.Network(
                    name="guests", project_id=project, network_type=pb.NETWORK_TYPE_FLAT,
                    physical_network=physnet,
                )
            )
        )
    ).network  # fmt: skip
    subnet = (
        await user.CreateSubnet(
            pb.CreateSubnetRequest(subnet=pb.Subnet(network_id=net.id, cidr=SUBNET))
        )
    ).subnet
    groups = {}
    for name in ("a", "b"):
        g = (
            await user.CreateSecurityGroup(
                spb.CreateSecurityGroupRequest(security_group=spb.SecurityGroup(name=f"g{name}"))
            )
        ).security_group
        await user.CreateSecurityGroupRule(
            spb.CreateSecurityGroupRuleRequest(
                security_group_rule=spb.SecurityGroupRule(
                    security_group_id=g.id, direction=spb.DIRECTION_EGRESS
                )
            )
        )
        groups[name] = g
    servers = {"a": str(uuid.uuid4()), "b": str(uuid.uuid4())}
    ports = {}
    for name, ip in (("a", IP_A), ("b", IP_B)):
        port = pb.Port(network_id=net.id, security_group_ids=[groups[name].id])
        port.fixed_ips.add(subnet_id=subnet.id, ip_address=ip)
        ports[name] = (await user.CreatePort(pb.CreatePortRequest(port=port))).port
        await api.BindPort(
            bpb.BindPortRequest(
                port_id=ports[name].id, host=host, vif_type=pb.VIF_TYPE_BRIDGE,
                device_id=servers[name], device_owner="compute:kvm",
            )
        )  # fmt: skip

    consoles = {}
    for name, peer in (("b", ""), ("a", IP_B)):
        disk = guest.boot_disk(guest_script(peer), world / f"guest-{name}.raw")
        inst = await asyncio.to_thread(driver.spawn, instance_spec(servers[name], name, disk))
        assert inst.power_state == "RUNNING"
        consoles[name] = Console(driver.instance_dir(servers[name]) / "console.log")

    # the domain has the port's NIC: its MAC, its tap on the network's bridge
    for name in ("a", "b"):
        _, xml = await run("virsh", "-c", SYSTEM_URI, "dumpxml", f"polyvisor-{servers[name]}")
        assert f"<mac address='{ports[name].mac_address}'/>" in xml
        assert f"<source bridge='{bridge_name(net.id)}'/>" in xml
        assert f"<target dev='{tap_name(ports[name].id)}'/>" in xml

    # DHCP: each its own address; metadata: each its own uuid
    for name, ip in (("a", IP_A), ("b", IP_B)):
        await consoles[name].wait(f"LEASE {ip} ")
        (line, *_) = await consoles[name].wait("META ")
        meta = json.loads(line.removeprefix("META "))
        assert meta["uuid"] == servers[name] and meta["name"] == name
    bound = (await user.GetPort(pb.GetPortRequest(port_id=ports["a"].id))).port
    assert bound.binding.state == pb.BINDING_STATE_ACTIVE

    # B's group has no ingress rule: A's pings go unanswered
    await consoles["a"].wait("PING-FAIL", count=2)
    assert not [line for line in consoles["a"].lines() if line.startswith("PING-OK")]
    await user.CreateSecurityGroupRule(
        spb.CreateSecurityGroupRuleRequest(
            security_group_rule=spb.SecurityGroupRule(
                security_group_id=groups["b"].id, direction=spb.DIRECTION_INGRESS,
                protocol="icmp", remote_group_id=groups["a"].id,
            )
        )
    )  # fmt: skip
    await consoles["a"].wait("PING-OK", timeout=120)

    # spoofing: another source IP, then another MAC, are dropped; its own again passes
    assert (await consoles["a"].wait("SPOOF-IP "))[0] == "SPOOF-IP 0"
    assert (await consoles["a"].wait("RESTORED "))[0] == "RESTORED 1"
    assert (await consoles["a"].wait("SPOOF-MAC "))[0] == "SPOOF-MAC 0"

    # a third port attached to the running guest B, then detached (the ports capability)
    port_c = pb.Port(network_id=net.id, security_group_ids=[groups["b"].id])
    port_c = (await user.CreatePort(pb.CreatePortRequest(port=port_c))).port
    await api.BindPort(
        bpb.BindPortRequest(
            port_id=port_c.id, host=host, vif_type=pb.VIF_TYPE_BRIDGE, device_id=servers["b"],
            device_owner="compute:kvm",
        )
    )  # fmt: skip
    assert "ports" in capabilities_of(driver)
    await asyncio.to_thread(driver.attach_port, servers["b"], port_c.id)
    await asyncio.to_thread(driver.attach_port, servers["b"], port_c.id)  # idempotent
    _, xml = await run("virsh", "-c", SYSTEM_URI, "dumpxml", f"polyvisor-{servers['b']}")
    assert xml.count("<interface type='bridge'>") == 2
    assert f"<mac address='{port_c.mac_address}'/>" in xml
    _, on_bridge = await run("ip", "-o", "link", "show", "master", bridge_name(net.id))
    assert tap_name(port_c.id) in on_bridge
    await asyncio.to_thread(driver.detach_port, servers["b"], port_c.id)
    _, xml = await run(
        "virsh", "-c", SYSTEM_URI, "dumpxml", "--inactive", f"polyvisor-{servers['b']}"
    )
    assert port_c.mac_address not in xml
    assert kvm.agent.plane.port(port_c.id) is None
    await api.UnbindPort(bpb.UnbindPortRequest(port_id=port_c.id))
    await user.DeletePort(pb.DeletePortRequest(port_id=port_c.id))

    # deleting both servers and their ports leaves nothing on the host
    for name in ("a", "b"):
        await asyncio.to_thread(driver.destroy, servers[name])
        await api.UnbindPort(bpb.UnbindPortRequest(port_id=ports[name].id))
        await user.DeletePort(pb.DeletePortRequest(port_id=ports[name].id))
    await admin.DeleteSubnet(pb.DeleteSubnetRequest(subnet_id=subnet.id))
    await admin.DeleteNetwork(pb.DeleteNetworkRequest(network_id=net.id))
    _, links = await run("ip", "-o", "link", "show")
    assert bridge_name(net.id) not in links
    assert tap_name(ports["a"].id) not in links and tap_name(ports["b"].id) not in links
    _, namespaces = await run("ip", "netns", "list")
    assert dhcp_namespace(net.id) not in namespaces
    _, tables = await run("nft", "list", "tables")
    assert kvm.agent.plane.table not in tables
    _, procs = await run("ps", "-eo", "args")
    assert net.id not in procs
