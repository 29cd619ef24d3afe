"""The KVM data plane on this host: bridge, dnsmasq in its namespace, nftables, metadata,
driven through ``NetworkPlane`` with typed binding specs; the guests are network namespaces
behind veths named like the ports' taps (the real-guest test boots Linux under QEMU)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from polyvisor.agent_kvm.net.metadata import InstanceMeta
from polyvisor.agent_kvm.net.model import BoundIp, Direction, PortBinding, RemoteGroup, Rule
from polyvisor.agent_kvm.net.names import bridge_name, dhcp_namespace, dhcp_veth
from polyvisor.agent_kvm.net.plane import NetworkPlane
from tests.fixtures.guest_image import GuestUnavailable, guest_image
from tests.network.guests import NsGuest, run

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridges and namespaces need root")

PHYSNET = "physnet-test"


def binding(
    network_id: str, port_id: str, mac: str, ip: str, group: str, *, rules: tuple[Rule, ...] = (),
    remote: tuple[RemoteGroup, ...] = (), device_id: str = "", revision: int = 1,
) -> PortBinding:  # fmt: skip
    return PortBinding(
        port_id=port_id,
        network_id=network_id,
        mac_address=mac,
        physical_network=PHYSNET,
        mtu=1500,
        ips=(BoundIp(ip, 4, "subnet-1", "10.77.0.0/24", 24, gateway_ip="10.77.0.1"),),
        security_group_ids=(group,),
        rules=rules,
        remote_groups=remote,
        device_id=device_id or port_id,
        revision=revision,
    )


def egress_all(group: str) -> Rule:
    return Rule(Direction.EGRESS, 4, security_group_id=group)


@pytest.fixture
def busybox() -> Path:
    try:
        return guest_image().busybox
    except GuestUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(str(exc))
        raise  # as root apt-get builds the guest: its absence is a failure


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # dnsmasq reads its files as nobody: not under pytest's 0700 tmp directories
    root = Path(tempfile.mkdtemp(prefix="polyvisor-net-", dir="/var/tmp"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def plane(state_dir: Path) -> AsyncIterator[NetworkPlane]:
    metas: dict[str, InstanceMeta] = {}

    async def lookup(server_id: str) -> InstanceMeta | None:
        return metas.get(server_id)

    p = NetworkPlane(
        mappings={PHYSNET: ""}, state_dir=state_dir, instance_meta=lookup, table=unique_table()
    )
    p.test_metas = metas  # type: ignore[attr-defined]
    try:
        yield p
    finally:
        await p.teardown()


def unique_table() -> str:
    """Tests on one machine each keep their own nftables tables."""
    return f"pvtest{uuid.uuid4().hex[:8]}"


async def links() -> str:
    return (await run("ip", "-o", "link", "show"))[1]


async def test_two_guests_dhcp_metadata_groups_and_spoofing(
    plane: NetworkPlane, busybox: Path, tmp_path: Path
) -> None:
    net = str(uuid.uuid4())
    ga, gb = str(uuid.uuid4()), str(uuid.uuid4())
    pa, pb = str(uuid.uuid4()), str(uuid.uuid4())
    sa, sb = str(uuid.uuid4()), str(uuid.uuid4())
    ip_a, ip_b = "10.77.0.11", "10.77.0.12"
    a = binding(net, pa, "fa:16:3e:00:77:0a", ip_a, ga, rules=(egress_all(ga),), device_id=sa)
    b = binding(net, pb, "fa:16:3e:00:77:0b", ip_b, gb, rules=(egress_all(gb),), device_id=sb)
    plane.test_metas[sa] = InstanceMeta(uuid=sa, name="a", hostname="a")  # type: ignore[attr-defined]
    plane.test_metas[sb] = InstanceMeta(uuid=sb, name="b", hostname="b")  # type: ignore[attr-defined]
    vif_a = await plane.plug(a)
    await plane.plug(b)
    assert vif_a.bridge == bridge_name(net)
    guests: list[NsGuest] = []
    try:
        for bnd in (a, b):
            guests.append(
                await NsGuest.create(busybox, bnd.port_id, vif_a.bridge, bnd.mac_address, tmp_path)
            )
        ga_, gb_ = guests
        assert await ga_.dhcp() == ip_a
        assert await gb_.dhcp() == ip_b
        # The host has no address on the tenant's segment, not even IPv6 link-local: not on
        # the bridge, not on the DHCP namespace's veth (guests cannot reach the host there).
        for dev in (vif_a.bridge, dhcp_veth(net)):
            assert (await run("ip", "-o", "addr", "show", "dev", dev))[1] == "", dev

        _, body = await ga_.sh("wget -qO- http://169.254.169.254/openstack/latest/meta_data.json")
        assert json.loads(body)["uuid"] == sa
        _, body = await gb_.sh("wget -qO- http://169.254.169.254/openstack/latest/meta_data.json")
        assert json.loads(body)["uuid"] == sb
        _, body = await ga_.sh(
            "wget -qO- http://169.254.169.254/openstack/latest/network_data.json"
        )
        nd = json.loads(body)
        assert nd["networks"][0]["ip_address"] == ip_a
        assert nd["links"][0]["ethernet_mac_address"] == "fa:16:3e:00:77:0a"

        # B's group allows no ingress: A cannot reach B (nor B reach A)
        assert not await ga_.ping(ip_b)
        # an ingress rule for ICMP from A's group, live
        allow = Rule(Direction.INGRESS, 4, "icmp", remote_group_id=ga, security_group_id=gb)
        assert await plane.apply_group(gb, 2, rules=(egress_all(gb), allow))
        assert await plane.apply_group(ga, 2, members=(ip_a,))
        assert await ga_.ping(ip_b)
        # an older revision of the group changes nothing
        assert not await plane.apply_group(gb, 1, rules=(egress_all(gb),))
        assert await ga_.ping(ip_b)
        # replies only: B still cannot start a flow to A (A's group allows no ingress)
        assert not await gb_.ping(ip_a)

        # A takes another IP: dropped
        await ga_.sh("ip addr flush dev eth0; ip addr add 10.77.0.99/24 dev eth0")
        assert not await ga_.ping(ip_b)
        await ga_.sh(f"ip addr flush dev eth0; ip addr add {ip_a}/24 dev eth0")
        assert await ga_.ping(ip_b)
        # A takes another MAC: dropped
        await ga_.sh("ip link set eth0 address fa:16:3e:00:77:99")
        assert not await ga_.ping(ip_b)
    finally:
        for g in guests:
            await g.remove()

    await plane.unplug(pa)
    assert bridge_name(net) in await links()  # B still uses the network
    await plane.unplug(pb)
    assert bridge_name(net) not in await links()
    _, namespaces = await run("ip", "netns", "list")
    assert dhcp_namespace(net) not in namespaces
    _, tables = await run("nft", "list", "tables")
    assert plane.table not in tables
    _, procs = await run("ps", "-eo", "args")
    assert net not in procs  # its dnsmasq is gone


async def test_what_a_stopped_agent_left_is_removed_by_the_next_one(
    state_dir: Path,
) -> None:
    net, port = str(uuid.uuid4()), str(uuid.uuid4())
    table = unique_table()
    first = NetworkPlane(mappings={PHYSNET: ""}, state_dir=state_dir, table=table)
    group = str(uuid.uuid4())
    await first.plug(binding(net, port, "fa:16:3e:00:77:0c", "10.77.0.13", group))
    await first.close()  # the agent stops: the plumbing stays for the guests
    second = NetworkPlane(mappings={PHYSNET: ""}, state_dir=state_dir, table=table)
    try:
        assert bridge_name(net) in await links()
        assert first._networks[net].dhcp.pid() is not None

        # its next run finds no port of that network bound here any more
        assert await second.remove_orphans() == [net]
        assert bridge_name(net) not in await links()
        _, namespaces = await run("ip", "netns", "list")
        assert dhcp_namespace(net) not in namespaces
        _, tables = await run("nft", "list", "tables")
        assert table not in tables
        _, procs = await run("ps", "-eo", "args")
        assert net not in procs
        assert await second.remove_orphans() == []
    finally:
        await second.remove_orphans()
