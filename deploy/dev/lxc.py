"""The dev stack's container host, when ``POLYVISOR_DEV_LXC=1``: a second agent_kvm process
with ``virt_type=lxc`` on ``lxc:///`` (host ``<hostname>-lxc``) and the "busybox" container
image (raw ext4, ``vm_mode=exe``; tests/fixtures/container_image.py, from Debian's
busybox-static).

The container host maps its own physical network (``physnet2``, a bridge without uplink):
two agents on one machine must not plumb the same network (each would run the network's DHCP
server in the same namespace). The README makes a network on it for its container; the
stack makes none, so that a server naming no network still gets the demo network (the only
usable one), which the KVM host and the clusters reach.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.dev.layout import REPO, Layout

__all__ = [
    "AGENT",
    "IMAGE",
    "PHYSICAL_NETWORK",
    "agent_env",
    "enabled",
    "host_id",
    "nft_table",
    "physical_networks",
    "up",
    "wanted",
]

AGENT = "agent_lxc"
IMAGE = "busybox"
PHYSICAL_NETWORK = "physnet2"
URI = "lxc:///"


def enabled() -> bool:
    return os.environ.get("POLYVISOR_DEV_LXC", "") not in ("", "0")


def wanted(libvirt_uri: str) -> bool:
    """A container host in this stack: asked for, and a real libvirtd (the test driver the
    stack falls back to has no LXC)."""
    return enabled() and libvirt_uri.startswith("qemu:///system")


def physical_networks(demo: str, lxc_host: bool) -> str:
    """The network service's physical networks: the container host's too when it runs."""
    return ",".join([demo, PHYSICAL_NETWORK] if lxc_host else [demo])


def host_id() -> str:
    return f"{socket.gethostname()}-lxc"


def nft_table(layout: Layout) -> str:
    from deploy.dev.kvm import nft_table as kvm_table

    return f"{kvm_table(layout)}lxc"


def agent_env(layout: Layout) -> dict[str, str]:
    """What the container host's agent gets on top of every agent's environment."""
    data = layout.data(AGENT)
    return {
        "POLYVISOR_LIBVIRT_URI": URI,
        "POLYVISOR_VIRT_TYPE": "lxc",
        "POLYVISOR_INSTANCES_DIR": str(data / "instances"),
        "POLYVISOR_PHYSICAL_INTERFACE_MAPPINGS": f"{PHYSICAL_NETWORK}:",
        "POLYVISOR_NFT_TABLE": nft_table(layout),
    }


def cache_dir() -> Path:
    return Path(os.environ.get("POLYVISOR_CONTAINER_CACHE") or REPO / ".polyvisor" / "container")


def build() -> Path:
    from tests.fixtures.container_image import CONTAINER_SCRIPT, container_image

    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    disk = cache / f"{IMAGE}.raw"
    if not disk.exists():
        tmp = cache / f"{IMAGE}.{os.getpid()}.tmp"
        container_image(tmp, CONTAINER_SCRIPT)
        tmp.replace(disk)
    return disk


async def _ensure_image(api: str, image: str, user: str, password: str, project: str) -> str:
    from polyvisor.client.aio import AsyncClient
    from polyvisor.image.v1 import images_pb2

    async with AsyncClient(
        api_url=api, image_url=image, username=user, password=password, project=project,
        use_config_file=False, timeout=120,
    ) as cloud:  # fmt: skip
        for found in await cloud.images.list(name=IMAGE):
            if found.name == IMAGE and found.status == images_pb2.IMAGE_STATUS_ACTIVE:
                return str(found.id)
        disk = await asyncio.to_thread(build)
        made = await cloud.images.create_from_file(
            IMAGE, disk, disk_format="raw", visibility="public",
            properties={"architecture": "x86_64", "vm_mode": "exe", "hypervisor_type": "lxc"},
        )  # fmt: skip
        return str(made.id)


def up(ports: dict[str, int], creds: Any, say: Callable[[str], None]) -> None:
    """`./dev up`'s step with POLYVISOR_DEV_LXC=1: the container image. A machine that
    cannot build it (no apt, no mkfs.ext4) gets a warning, not a failed stack."""
    from deploy.dev.services import BIND_HOST
    from polyvisor.client.errors import PolyvisorClientError
    from tests.fixtures.container_image import ContainerImageUnavailable

    api = f"{BIND_HOST}:{ports['api']}"
    login = (creds.admin_user, creds.admin_password, creds.admin_project)
    try:
        image_id = asyncio.run(_ensure_image(api, f"{BIND_HOST}:{ports['imagesvc']}", *login))
    except (ContainerImageUnavailable, PolyvisorClientError, OSError) as e:
        say(f"[yellow]no {IMAGE} image: {e}[/yellow]")
        return
    say(f"image {IMAGE} (container: busybox, runs its user data, vm_mode exe): {image_id}")
