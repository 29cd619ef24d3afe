"""Glance v2's JSON for images: the core fields, the typed properties the multi-hypervisor
recipe uses (hypervisor_type, vmware_disktype, vmware_adaptertype, ...) and every other
property, flat beside them as Glance has them."""

from __future__ import annotations

from typing import Any

from polyvisor.image.v1 import images_pb2 as im
from polyvisor.osapi.convert.common import enum_in, enum_out, iso
from polyvisor.osapi.errors import ApiError
from polyvisor.types.v1 import disk_pb2 as dk
from polyvisor.types.v1 import hypervisor_pb2 as hv

__all__ = ["CORE", "ENUM_PROPERTIES", "STRING_PROPERTIES", "image", "image_in", "set_field"]

ENUM_PROPERTIES = {
    "hypervisor_type": hv.HypervisorType.DESCRIPTOR,
    "vmware_disktype": dk.VmwareDiskType.DESCRIPTOR,
    "vmware_adaptertype": dk.VmwareAdapterType.DESCRIPTOR,
    "hw_disk_bus": dk.DiskBus.DESCRIPTOR,
}
STRING_PROPERTIES = ("architecture", "vm_mode", "os_type", "vmware_ostype")
#: What Glance owns itself; every other key of an image is a property.
CORE = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format",
    "container_format", "created_at", "updated_at", "tags", "self", "file", "schema",
    "direct_url", "locations", "stores",
})  # fmt: skip
_STATUS = {im.IMAGE_STATUS_QUEUED: "queued", im.IMAGE_STATUS_SAVING: "saving",
           im.IMAGE_STATUS_ACTIVE: "active", im.IMAGE_STATUS_KILLED: "killed",
           im.IMAGE_STATUS_DELETED: "deleted"}  # fmt: skip
STATUS_IN = {v: k for k, v in _STATUS.items()}
_VISIBILITY = {im.VISIBILITY_PRIVATE: "private", im.VISIBILITY_PUBLIC: "public",
               im.VISIBILITY_SHARED: "shared"}  # fmt: skip
VISIBILITY_IN = {v: k for k, v in _VISIBILITY.items()} | {"community": im.VISIBILITY_PUBLIC}


def image(i: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id,
        "name": i.name or None,
        "status": _STATUS.get(i.status, "queued"),
        "visibility": _VISIBILITY.get(i.visibility, "private"),
        "protected": i.protected,
        "os_hidden": False,
        "checksum": None,
        "os_hash_algo": i.os_hash_algo or None,
        "os_hash_value": i.os_hash_value or None,
        "owner": i.owner or None,
        "size": i.size or None,
        "virtual_size": i.virtual_size or None,
        "min_ram": i.min_ram,
        "min_disk": i.min_disk,
        "disk_format": enum_out(dk.DiskFormat.DESCRIPTOR, i.disk_format),
        "container_format": "bare" if i.container_format or i.disk_format else None,
        "created_at": iso(i.create_time),
        "updated_at": iso(i.update_time) or iso(i.create_time),
        "tags": [],
        "self": f"/v2/images/{i.id}",
        "file": f"/v2/images/{i.id}/file",
        "schema": "/v2/schemas/image",
    }
    for key, desc in ENUM_PROPERTIES.items():
        if value := getattr(i, key):
            out[key] = enum_out(desc, value)
    for key in STRING_PROPERTIES:
        if value := getattr(i, key):
            out[key] = value
    for key, value in i.properties.items():
        out.setdefault(key, value)
    return out


def set_field(msg: Any, key: str, value: Any) -> str:
    """Put one Glance key's value on an Image message; returns the update-mask path it
    touched (`properties` for a free-form property)."""
    if key in ENUM_PROPERTIES:
        setattr(msg, key, enum_in(ENUM_PROPERTIES[key], value, key))
        return key
    if key in STRING_PROPERTIES or key == "name":
        setattr(msg, key, "" if value is None else str(value))
        return key
    if key == "visibility":
        if value not in VISIBILITY_IN:
            raise ApiError(400, f"Invalid visibility value: {value}")
        msg.visibility = VISIBILITY_IN[value]
        return key
    if key == "disk_format":
        msg.disk_format = enum_in(dk.DiskFormat.DESCRIPTOR, value, key)
        return key
    if key == "container_format":
        if value not in (None, "bare"):
            raise ApiError(400, f"Invalid container format {value!r}: only bare is supported")
        msg.container_format = dk.CONTAINER_FORMAT_BARE
        return key
    if key in ("min_ram", "min_disk"):
        try:
            setattr(msg, key, int(value or 0))
        except (TypeError, ValueError):
            raise ApiError(400, f"{key} must be an integer") from None
        return key
    if key == "protected":
        if not isinstance(value, bool):
            raise ApiError(400, "protected must be a boolean")
        msg.protected = value
        return key
    if key in CORE:
        raise ApiError(403, f"Attribute '{key}' is read-only.")
    if value is None:
        msg.properties.pop(key, None)
    else:
        msg.properties[key] = value if isinstance(value, str) else str(value)
    return "properties"


def image_in(body: dict[str, Any]) -> Any:
    """An Image message from a create body (`id`, `tags` and `os_hidden` are accepted and
    left out: ids are the service's, and images carry no tags)."""
    msg = im.Image()
    for key, value in body.items():
        if key in ("id", "tags", "os_hidden") or value is None:
            continue
        set_field(msg, key, value)
    return msg
