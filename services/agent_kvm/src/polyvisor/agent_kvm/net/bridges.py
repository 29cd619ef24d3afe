"""A Linux bridge per network: the network's taps, its DHCP namespace's veth and its uplink.

The uplink is the interface the agent maps the network's physical network to
(``POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS=physnet1:eth1``): the interface itself for a flat
network, its VLAN sub-interface (802.1Q, the network's segmentation id) for a VLAN network.
A physical network mapped to nothing (``physnet1:``) has bridges without uplink: the
network then spans this host only.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from polyvisor.agent_kvm.net.names import bridge_name, vlan_device
from polyvisor.agent_kvm.net.shell import NetError, run

__all__ = ["ensure_bridge", "link_exists", "no_host_address", "remove_bridge", "uplink_device"]

_IPV6_CONF = Path("/proc/sys/net/ipv6/conf")


def no_host_address(device: str) -> None:
    """The host takes no IPv6 address (not even link-local) on a device of a tenant's segment,
    as Neutron's bridges: guests cannot reach the host through it, and no address comes and
    goes with each network (software watching the host's addresses, a browser among them,
    takes each for a network change and aborts what it has in flight). Nothing to do on a
    host without IPv6."""
    with contextlib.suppress(FileNotFoundError):
        (_IPV6_CONF / device / "disable_ipv6").write_text("1\n")


async def link_exists(name: str, namespace: str = "") -> bool:
    argv = ["ip", *(["-n", namespace] if namespace else []), "link", "show", "dev", name]
    code, _ = await run(*argv, check=False)
    return code == 0


def uplink_device(interface: str, network_type: str, vlan: int) -> str:
    """The device the bridge enslaves ("" without uplink)."""
    if not interface:
        return ""
    return vlan_device(interface, vlan) if network_type == "vlan" else interface


async def ensure_bridge(
    network_id: str, *, mtu: int, interface: str, network_type: str, vlan: int
) -> str:
    """Make (or find) the network's bridge, up, with its uplink; its name."""
    br = bridge_name(network_id)
    if not await link_exists(br):
        await run(
            "ip", "link", "add", "name", br, "type", "bridge",
            "forward_delay", "0", "stp_state", "0",
        )  # fmt: skip
    no_host_address(br)
    await run("ip", "link", "set", "dev", br, "mtu", str(mtu), "up")
    uplink = uplink_device(interface, network_type, vlan)
    if uplink:
        if not await link_exists(interface):
            raise NetError(f"the physical interface {interface} does not exist on this host")
        if network_type == "vlan" and not await link_exists(uplink):
            await run(
                "ip", "link", "add", "link", interface, "name", uplink,
                "type", "vlan", "id", str(vlan),
            )  # fmt: skip
        await run("ip", "link", "set", "dev", uplink, "master", br, "up")
    return br


async def remove_bridge(network_id: str, *, interface: str, network_type: str, vlan: int) -> None:
    """Remove the bridge (and a VLAN sub-interface we made); gone already is success."""
    uplink = uplink_device(interface, network_type, vlan)
    if uplink and await link_exists(uplink):
        if network_type == "vlan":
            await run("ip", "link", "del", "dev", uplink, check=False)
        else:
            await run("ip", "link", "set", "dev", uplink, "nomaster", check=False)
    br = bridge_name(network_id)
    if await link_exists(br):
        await run("ip", "link", "del", "dev", br)


async def remove_orphan_bridge(bridge: str) -> None:
    """Remove a bridge of ours nobody knows the network of any more (after a restart): VLAN
    sub-interfaces on it are deleted, other uplinks released."""
    _, out = await run("ip", "-d", "-o", "link", "show", "master", bridge, check=False)
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 3:
            continue
        member = parts[1].strip().split("@", 1)[0]
        if " vlan protocol " in line:
            await run("ip", "link", "del", "dev", member, check=False)
        else:
            await run("ip", "link", "set", "dev", member, "nomaster", check=False)
    if await link_exists(bridge):
        await run("ip", "link", "del", "dev", bridge, check=False)


async def run_quiet_del(device: str) -> None:
    """Delete a device if it exists (a tap libvirt left behind)."""
    if await link_exists(device):
        await run("ip", "link", "del", "dev", device, check=False)
