"""What the dev stack's KVM agent gets for this machine: the virt type that boots the Linux
image here, nftables tables of its own, and the removal of its network plumbing at `down`."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from deploy.dev.layout import Layout

__all__ = ["nft_table", "remove_network_plumbing", "virt_type"]


def _nested() -> bool:
    """This machine is itself a virtual machine (the CPU says so)."""
    try:
        return " hypervisor " in f" {Path('/proc/cpuinfo').read_text()} ".replace("\n", " ")
    except OSError:
        return False


def virt_type(libvirt_uri: str) -> str:
    """KVM where the host has it, TCG (``qemu``) elsewhere, and TCG inside a virtual machine
    too: under nested KVM a Linux guest (the demo image) hangs before its first line, while
    TCG boots it in seconds. ``POLYVISOR_DEV_VIRT_TYPE=kvm|qemu`` decides instead."""
    chosen = os.environ.get("POLYVISOR_DEV_VIRT_TYPE", "")
    if chosen in ("kvm", "qemu"):
        return chosen
    kvm = libvirt_uri.startswith("qemu") and Path("/dev/kvm").exists()
    return "kvm" if kvm and not _nested() else "qemu"


def nft_table(layout: Layout) -> str:
    """The KVM agent's nftables tables, named after the stack's state directory: stacks side
    by side on one machine (checkouts, end-to-end tests) never replace each other's rules."""
    return "pv" + hashlib.sha256(str(layout.root).encode()).hexdigest()[:10]


def remove_network_plumbing(
    layout: Layout, agent: str = "agent_kvm", table: str | None = None
) -> list[str]:
    """Remove what the stack's KVM agent made for its networks (each network's bridge, DHCP
    namespace and dnsmasq, its metadata address; the nftables tables): the agent leaves them
    in place when it stops, for the guests, and a stack that is down has none. Its state
    directory says which; the networks removed. Call it once the agent has stopped."""
    state = layout.data(agent) / "state" / "network"
    if not (state / "dhcp").is_dir():
        return []
    from polyvisor.agent_kvm.net.plane import NetworkPlane

    plane = NetworkPlane(mappings={}, state_dir=state, table=table or nft_table(layout))
    return asyncio.run(plane.remove_orphans())
