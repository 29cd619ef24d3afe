"""Up-front checks of a create request against its image and flavor, and the choice of the
rendition a host boots. Pure functions over domain dataclasses."""

from __future__ import annotations

from collections.abc import Iterable

from polyvisor.api import models as m
from polyvisor.common.errors import FailedPrecondition, InvalidArgument

GIB = 1024**3

# What each hypervisor type can do when no host of that type has reported its own matrix.
DEFAULT_FEATURES: dict[str, m.HostFeatures] = {
    "KVM": m.HostFeatures(("VNC", "SPICE", "SERIAL"), key_injection=True, user_data=True),
    "QEMU": m.HostFeatures(("VNC", "SPICE", "SERIAL"), key_injection=True, user_data=True),
    "VMWARE": m.HostFeatures(("VNC", "WEBMKS"), key_injection=False, user_data=True),
}
_NO_FEATURES = m.HostFeatures((), key_injection=False, user_data=False)

# Formats each hypervisor type boots without conversion, and what it asks for otherwise.
NATIVE_FORMATS: dict[str, tuple[str, ...]] = {
    "KVM": ("QCOW2", "RAW"),
    "QEMU": ("QCOW2", "RAW"),
    "VMWARE": ("VMDK",),
}
PREFERRED_FORMAT: dict[str, tuple[str, str]] = {
    "KVM": ("QCOW2", ""),
    "QEMU": ("QCOW2", ""),
    "VMWARE": ("VMDK", "STREAM_OPTIMIZED"),
}


def check_image_usable(image: m.ImageInfo) -> None:
    if image.status != "ACTIVE":
        raise FailedPrecondition(
            f"image {image.id} is {image.status}, not ACTIVE",
            {"image_id": image.id, "status": image.status},
        )


def check_flavor_fits_image(flavor: m.Flavor, image: m.ImageInfo) -> None:
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


def features_of(hypervisor_type: str, reported: Iterable[m.HostFeatures] = ()) -> m.HostFeatures:
    """The feature matrix of a hypervisor type: what its hosts report (a feature counts when
    any host has it), else the defaults."""
    reports = list(reported)
    if not reports:
        return DEFAULT_FEATURES.get(hypervisor_type, _NO_FEATURES)
    consoles: list[str] = []
    for r in reports:
        consoles.extend(c for c in r.console_types if c not in consoles)
    return m.HostFeatures(
        console_types=tuple(consoles),
        key_injection=any(r.key_injection for r in reports),
        user_data=any(r.user_data for r in reports),
        power_on=any(r.power_on for r in reports),
        power_off=any(r.power_off for r in reports),
        reboot_soft=any(r.reboot_soft for r in reports),
        reboot_hard=any(r.reboot_hard for r in reports),
    )


def check_pinned_features(
    hypervisor_type: str, features: m.HostFeatures, *, wants_key: bool, wants_user_data: bool
) -> None:
    """An image pinned to a hypervisor type cannot ask for what that type cannot do."""
    if wants_key and not features.key_injection:
        raise InvalidArgument(
            f"the image runs only on {hypervisor_type.lower()} hosts, which cannot inject SSH "
            "keys; boot without key_name or use another image",
            {"field": "server.key_name", "hypervisor_type": hypervisor_type},
        )
    if wants_user_data and not features.user_data:
        raise InvalidArgument(
            f"the image runs only on {hypervisor_type.lower()} hosts, which cannot pass user "
            "data to the guest",
            {"field": "server.user_data", "hypervisor_type": hypervisor_type},
        )


def rendition_for(image: m.ImageInfo, hypervisor_type: str) -> tuple[str, str]:
    """(disk_format, vmware_disktype) of the rendition a host of this type boots: the
    original when it is native there, else the type's preferred format (converted by the
    image service on demand)."""
    natives = NATIVE_FORMATS.get(hypervisor_type, ())
    if image.disk_format in natives:
        if image.disk_format == "VMDK":
            return "VMDK", image.vmware_disktype or "STREAM_OPTIMIZED"
        return image.disk_format, ""
    if image.disk_format == "ISO":
        return "ISO", ""
    return PREFERRED_FORMAT.get(hypervisor_type, (image.disk_format, ""))
