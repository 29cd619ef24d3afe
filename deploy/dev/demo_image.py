"""The Linux image `./dev up` registers: "linux", a public qcow2 that boots Debian's cloud
kernel into busybox (tests/fixtures/guest_image.py, built from Debian packages only: `apt-get
download` + `dpkg-deb -x`). Its /init gets its address by DHCP, prints its metadata, runs its
user data (busybox sh), then idles, so the README's servers can ping each other.

The unpacked packages and the disk are cached (``.polyvisor/guest/``, or
``POLYVISOR_GUEST_CACHE``): only the first `./dev up` builds it; a stack that already has
the image skips the upload too."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deploy.dev.layout import REPO
from deploy.dev.services import BIND_HOST
from tests.fixtures.guest_image import CLOUD_SCRIPT, GuestUnavailable, guest_image

NAME = "linux"


def cache_dir() -> Path:
    return Path(os.environ.get("POLYVISOR_GUEST_CACHE") or REPO / ".polyvisor" / "guest")


def build(cache: Path) -> Path:
    """The qcow2 disk of the cloud guest (built once per kernel and script)."""
    img = guest_image(cache)
    key = hashlib.sha256(CLOUD_SCRIPT.encode() + img.kernel.name.encode()).hexdigest()[:12]
    disk = cache / f"{NAME}-{key}.qcow2"
    if disk.exists():
        return disk
    # stacks starting side by side each build their own, then one rename wins
    raw = img.boot_disk(CLOUD_SCRIPT, cache / f"{NAME}-{key}-{os.getpid()}.raw")
    tmp = disk.with_suffix(f".{os.getpid()}.tmp")
    subprocess.run(
        ["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(tmp)],
        check=True, capture_output=True,
    )  # fmt: skip
    raw.unlink()
    tmp.replace(disk)
    return disk


async def ensure(api: str, image: str, user: str, password: str, project: str) -> str:
    """The image's id (uploaded on first call)."""
    from polyvisor.client.aio import AsyncClient
    from polyvisor.image.v1 import images_pb2

    async with AsyncClient(
        api_url=api, image_url=image, username=user, password=password, project=project,
        use_config_file=False, timeout=120,
    ) as cloud:  # fmt: skip
        for found in await cloud.images.list(name=NAME):
            if found.name == NAME and found.status == images_pb2.IMAGE_STATUS_ACTIVE:
                return str(found.id)
        disk = await asyncio.to_thread(build, cache_dir())
        made = await cloud.images.create_from_file(
            NAME, disk, disk_format="qcow2", visibility="public",
            properties={"architecture": "x86_64", "os_distro": "debian"},
        )  # fmt: skip
        return str(made.id)


def up(ports: dict[str, int], creds: Any, say: Callable[[str], None]) -> None:
    """`./dev up`'s step: the Linux image, once the api and image service serve. A machine
    that cannot build it (no apt) gets a warning, not a failed stack."""
    from polyvisor.client.errors import PolyvisorClientError

    try:
        image_id = asyncio.run(
            ensure(
                f"{BIND_HOST}:{ports['api']}", f"{BIND_HOST}:{ports['imagesvc']}",
                creds.admin_user, creds.admin_password, creds.admin_project,
            )
        )  # fmt: skip
    except (GuestUnavailable, PolyvisorClientError, subprocess.CalledProcessError, OSError) as e:
        say(f"[yellow]no {NAME} image: {e}[/yellow]")
        return
    say(f"image {NAME} (Linux, DHCP, metadata, runs its user data): {image_id}")
