"""What the dev stack's KVM agent gets for this machine: the virt type that boots the Linux
image here, and nftables tables of its own."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from deploy.dev.layout import Layout

__all__ = ["nft_table", "virt_type"]


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
