"""Two real Linux guests booted through the public API on a stack of their own, as `./dev up`
starts it (api, scheduler, imagesvc, networksvc, the KVM agent with TCG, the vCenter agents on
vcsim), then everything deleted and the machine checked clean.

The guests run the image `./dev up` registers ("linux": Debian's cloud kernel, busybox): DHCP,
their ``meta_data.json`` from 169.254.169.254, then their user data. Each port is in a group
of its own; A's user data pings B until it answers, then sends from another IP and from
another MAC. What each guest printed is read with GetServerConsoleOutput.

- each guest's lease is the address GetServer shows, its metadata names itself;
- A's pings go unanswered until B's group gets an ingress ICMP rule from A's group (made
  through the NetworkService, applied live), then are answered; the spoofed IP and MAC are
  dropped, A's own address passes again;
- a VMware server on the same network has a NIC on the network's port group with its port's
  MAC, guestinfo carries its network configuration, and GetServer lists its address;
- deleting every server and network leaves no bridge, tap, namespace, dnsmasq, nftables table
  or chain, and no port group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy.dev.kvm import nft_table
from deploy.dev.layout import Layout
from polyvisor.agent_kvm.net.names import bridge_name, dhcp_namespace, tap_name
from polyvisor.agent_vmware.guestinfo import decode
from polyvisor.agent_vmware.net.switches import port_group_name
from polyvisor.client.aio import AsyncClient
from tests.e2e import stack as stack_mod
from tests.e2e.netstate import host_leftovers, nft_chains, vcsim_port_groups, vcsim_vm
from tests.e2e.stack import Stack
from tests.fixtures import guest_image

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

CIDR = "10.42.0.0/24"  # the demo network's subnet (one flat network per physical network)
SPOOF_IP = "10.42.0.250"
SPOOF_MAC = "fa:16:3e:66:66:66"
PING = "ping -c 1 -W 1 {peer} >/dev/null 2>&1"
WAIT = 300.0  # seconds a guest may take for each step under a loaded machine (TCG)


def pinger(peer: str, own_ip: str) -> bytes:
    """A's user data: ping B until it answers; then from another IP, its own again, another
    MAC (three tries each; 1 if one was answered)."""
    ping = PING.format(peer=peer)
    return "\n".join(
        [
            "n=0",
            f"while [ $n -lt 900 ]; do if {ping}; then echo PING-OK; break; fi; "
            "echo PING-FAIL; n=$((n+1)); done",
            "try() { ok=0; for i in 1 2 3; do if "
            + ping
            + '; then ok=1; break; fi; done; echo "$1 $ok"; }',
            f"ip addr flush dev eth0; ip addr add {SPOOF_IP}/24 dev eth0",
            "try SPOOF-IP",
            f"ip addr flush dev eth0; ip addr add {own_ip}/24 dev eth0",
            "try RESTORED",
            f"ip link set eth0 down; ip link set eth0 address {SPOOF_MAC}; ip link set eth0 up",
            "try SPOOF-MAC",
            "",
        ]
    ).encode()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    try:
        guest_image.guest_image()
    except guest_image.GuestUnavailable as exc:
        if os.geteuid() != 0:
            pytest.skip(str(exc))
        raise  # as root apt-get builds the guest: its absence is a failure
    home = Path(tempfile.mkdtemp(prefix="polyvisor-e2e-net-"))
    home.chmod(0o755)
    env = {"POLYVISOR_DEV_VIRT_TYPE": "qemu"}
    s = stack_mod.start(home, env)
    if s.not_running():  # a free port taken meanwhile on a busy machine: up again restarts it
        s = stack_mod.start(home, env)
    try:
        yield s
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(delete_everything(s))
        with contextlib.suppress(Exception):
            stack_mod.destroy_libvirt_domains(s.libvirt_uri, s.created)
        stack_mod.stop(home)
        table = nft_table(Layout(home))
        for family in ("bridge", "inet"):
            subprocess.run(["nft", "delete", "table", family, table], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@contextlib.asynccontextmanager
async def cloud(s: Stack) -> AsyncIterator[AsyncClient]:
    admin = s.admin
    async with AsyncClient(
        api_url=s.api, image_url=s.image, network_url=str(s.endpoints["networksvc"]["grpc"]),
        username=admin["username"], password=admin["password"], project=admin["project"],
        use_config_file=False, timeout=120, poll_interval=2.0,
    ) as c:  # fmt: skip
        yield c


async def delete_everything(s: Stack) -> None:
    """Every server, port and network of the stack, through the API."""
    async with cloud(s) as c:
        for server in await c.servers.list(all_projects=True):
            await c.servers.delete(server.id)
        for server in await c.servers.list(all_projects=True):
            await c.servers.wait_until_deleted(server.id, wait_timeout=WAIT)
        for port in await c.ports.list(all_projects=True):
            if not port.device_owner.startswith("network:"):
                await c.ports.delete(port.id)
        for net in await c.networks.list(all_projects=True):
            for subnet_id in net.subnet_ids:
                await c.subnets.delete(subnet_id)
            await c.networks.delete(net.id)


async def console_lines(c: AsyncClient, server_id: str) -> list[str]:
    text = await c.servers.console_output(server_id)
    return [line.strip().replace("\r", "") for line in text.splitlines()]


async def wait_line(
    c: AsyncClient,
    server_id: str,
    prefix: str,
    count: int = 1,
    timeout: float = WAIT,  # noqa: ASYNC109
) -> list[str]:
    """The console lines starting with ``prefix`` once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        lines = await console_lines(c, server_id)
        found = [line for line in lines if line.startswith(prefix)]
        if len(found) >= count:
            return found
        await asyncio.sleep(2)
    tail = "\n".join(lines[-30:])
    raise AssertionError(f"{server_id}: no {count}x {prefix!r}; console ends:\n{tail}")


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    """What the tests of this module hand on to the next."""
    return {}


async def test_two_linux_guests_dhcp_metadata_security_group_and_spoofing(
    stack: Stack, story: dict[str, Any]
) -> None:
    assert not stack.not_running(), stack.up_output
    async with cloud(stack) as c:
        [image] = [i for i in await c.images.list(name="linux") if i.name == "linux"]
        flavor = await c.flavors.create("net.linux", vcpus=1, ram_mb=256, disk_gb=1)
        [net] = [n for n in await c.networks.list() if n.name == "demo"]
        groups = {}
        for name in ("a", "b"):
            g = await c.security_groups.create(f"guests-{name}")
            if not any(r.direction == 2 for r in g.rules):  # an egress rule
                await c.security_group_rules.create(g.id, direction="egress")
            groups[name] = g
        ports = {
            n: await c.ports.create(net.id, name=f"guest-{n}", security_group_ids=[groups[n].id])
            for n in ("a", "b")
        }
        ips = {n: p.fixed_ips[0].ip_address for n, p in ports.items()}
        story.update(net=net, flavor=flavor, image=image, ports=ports)

        servers = {}
        for name, user_data in (("b", None), ("a", pinger(ips["b"], ips["a"]))):
            server = await c.servers.create(
                f"guest-{name}", image_id=image.id, flavor_id=flavor.id, user_data=user_data,
                networks=[{"port_id": ports[name].id}], hints={"hypervisor_type": "qemu"},
            )  # fmt: skip
            stack.created.add(server.id)
            servers[name] = server
        for name in ("b", "a"):
            servers[name] = await c.servers.wait_until_active(servers[name].id, wait_timeout=WAIT)
        story["servers"] = servers

        # DHCP hands each guest the address GetServer shows; each reads its own metadata
        for name, server in servers.items():
            [address] = server.addresses
            assert (address.network, address.address) == ("demo", ips[name])
            assert address.mac_address == ports[name].mac_address
            lease = (await wait_line(c, server.id, "LEASE "))[0].split()[1]
            assert lease == address.address
            meta = json.loads((await wait_line(c, server.id, "META "))[0].removeprefix("META "))
            assert meta["uuid"] == server.id and meta["name"] == f"guest-{name}"
        other = {"a": servers["b"].id, "b": servers["a"].id}
        for name, server in servers.items():
            assert other[name] not in "".join(
                line for line in await console_lines(c, server.id) if line.startswith("META ")
            )

        # B is up: A's pings go unanswered while B's group has no ingress rule
        failed = len(await wait_line(c, servers["a"].id, "PING-FAIL"))
        await wait_line(c, servers["a"].id, "PING-FAIL", count=failed + 3)
        assert not [line for line in await console_lines(c, servers["a"].id) if line == "PING-OK"]
        await c.security_group_rules.create(
            groups["b"].id, direction="ingress", protocol="icmp", remote_group_id=groups["a"].id
        )
        await wait_line(c, servers["a"].id, "PING-OK")

        # another source IP, then another MAC: dropped; its own address again: answered
        assert (await wait_line(c, servers["a"].id, "SPOOF-IP "))[0] == "SPOOF-IP 0"
        assert (await wait_line(c, servers["a"].id, "RESTORED "))[0] == "RESTORED 1"
        assert (await wait_line(c, servers["a"].id, "SPOOF-MAC "))[0] == "SPOOF-MAC 0"


async def test_a_vmware_server_on_the_network_has_its_nic_and_guestinfo(
    stack: Stack, story: dict[str, Any]
) -> None:
    if "net" not in story:
        pytest.fail("the guests were not made: this test needs the one before it in this module")
    net = story["net"]
    async with cloud(stack) as c:
        server = await c.servers.create(
            "guest-vmw", image_id=story["image"].id, flavor_id=story["flavor"].id,
            networks=[{"network_id": net.id}], hints={"hypervisor_type": "vmware"},
        )  # fmt: skip
        stack.created.add(server.id)
        server = await c.servers.wait_until_active(server.id, wait_timeout=WAIT)
        [port] = await c.ports.list(device_id=server.id)
        [address] = server.addresses
        assert address.network == "demo"
        assert ipaddress.ip_address(address.address) in ipaddress.ip_network(CIDR)
        assert (address.address, address.mac_address) == (
            port.fixed_ips[0].ip_address,
            port.mac_address,
        )
        story["vmware_port"] = port

    nics, extra = await asyncio.to_thread(vcsim_vm, stack.endpoints["vcsim"], server.id)
    assert [(n.mac_address, n.address_type, n.port_group) for n in nics] == [
        (port.mac_address, "manual", port_group_name(net.id))
    ]
    meta = json.loads(decode(extra["guestinfo.metadata"], extra["guestinfo.metadata.encoding"]))
    eth0 = meta["network"]["ethernets"]["eth0"]
    assert eth0["addresses"] == [f"{address.address}/24"]
    assert eth0["match"] == {"macaddress": port.mac_address}


async def test_deleting_every_server_and_network_leaves_nothing_behind(
    stack: Stack, story: dict[str, Any]
) -> None:
    if "servers" not in story:
        pytest.fail("the guests were not made: this test needs the one before it in this module")
    table = nft_table(Layout(stack.home))
    net = story["net"]
    port_ids = {p.id for p in story["ports"].values()}
    if "vmware_port" in story:
        port_ids.add(story["vmware_port"].id)
    async with cloud(stack) as c:
        network_ids = {n.id for n in await c.networks.list(all_projects=True)}
    # what the guests' network put on the machine, before
    assert set(host_leftovers(table, {net.id}, port_ids)) >= {
        f"bridge {bridge_name(net.id)}",
        f"netns {dhcp_namespace(net.id)}",
        *(f"tap {tap_name(p.id)}" for p in story["ports"].values()),
        f"nftables table bridge {table}",
        f"nftables table inet {table}",
    }
    assert [c for c in nft_chains(table) if c.endswith("_spoof")]  # per-port chains
    if "vmware_port" in story:
        groups = await asyncio.to_thread(vcsim_port_groups, stack.endpoints["vcsim"])
        assert port_group_name(net.id) in {g for host in groups.values() for g in host}

    await delete_everything(stack)
    async with cloud(stack) as c:
        assert not await c.servers.list(all_projects=True)
        assert not await c.networks.list(all_projects=True)

    deadline = time.monotonic() + 120
    left: list[str] = []
    while time.monotonic() < deadline:
        left = host_leftovers(table, network_ids, port_ids)
        groups = await asyncio.to_thread(vcsim_port_groups, stack.endpoints["vcsim"])
        left += [f"port group {g} on {h}" for h, names in groups.items() for g in names]
        if not left:
            break
        await asyncio.sleep(2)
    assert left == []
    assert nft_chains(table) == []
    domains = stack_mod.libvirt_domains(stack.libvirt_uri) or set()
    assert not [d for d in domains if any(sid in d for sid in stack.created)]
