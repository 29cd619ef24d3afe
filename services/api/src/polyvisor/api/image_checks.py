"""Up-front checks of a create request against its image and flavor. Pure functions over
domain dataclasses.

What a host can do (key injection, user data, consoles) and which rendition of the image it
boots are its agent's facts: the scheduler filters on them and names the rendition with the
chosen host. Nothing here guesses them from the hypervisor type."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.common.errors import FailedPrecondition, InvalidArgument

GIB = 1024**3

# The format a host of each type uploads a snapshot in: KVM a standalone qcow2 of the disk,
# VMware the flat extent of the exported disk (the image service makes the other renditions).
SNAPSHOT_FORMAT: dict[str, str] = {"KVM": "QCOW2", "QEMU": "QCOW2", "VMWARE": "RAW"}


def check_image_usable(image: m.ImageInfo) -> None:
    if image.status != "ACTIVE":
        raise FailedPrecondition(
            f"image {image.id} is {image.status}, not ACTIVE",
            {"image_id": image.id, "status": image.status},
        )


def check_flavor_fits_image(flavor: m.Flavor | m.ServerFlavor, image: m.ImageInfo) -> None:
    if image.min_ram and flavor.ram_mb < image.min_ram:
        raise InvalidArgument(
            f"flavor {flavor.name} has {flavor.ram_mb} MB of RAM; image {image.id} needs at "
            f"least {image.min_ram} MB",
            {"field": "server.flavor_id", "min_ram": image.min_ram, "ram_mb": flavor.ram_mb},
        )
    if image.min_disk and flavor.disk_gb < image.min_disk:
        raise InvalidArgument(
            f"flavor {flavor.name} has a {flavor.disk_gb} GB disk; image {image.id} needs at "
            f"least {image.min_disk} GB",
            {"field": "server.flavor_id", "min_disk": image.min_disk, "disk_gb": flavor.disk_gb},
        )
    if flavor.disk_gb and image.virtual_size > flavor.disk_gb * GIB:
        need = -(-image.virtual_size // GIB)
        raise InvalidArgument(
            f"flavor {flavor.name} has a {flavor.disk_gb} GB disk; image {image.id} has a "
            f"virtual size of {need} GB",
            {"field": "server.flavor_id", "virtual_size": image.virtual_size},
        )
