"""Protobuf <-> domain. Enum numbers a client sends that this service does not know are
refused here, naming the field and the values allowed."""

from __future__ import annotations

from typing import Any

from polyvisor.common.convert import ts
from polyvisor.common.errors import InvalidArgument
from polyvisor.events.v1 import image_events_pb2 as ev_pb
from polyvisor.image.v1 import images_pb2 as pb
from polyvisor.imagesvc.catalogue import ImageDraft
from polyvisor.imagesvc.events import EventKind, ImageEvent
from polyvisor.imagesvc.model import (
    Image,
    ImageStatus,
    Rendition,
    RenditionStatus,
    Visibility,
)
from polyvisor.imagesvc.store.rows import ImageFilters
from polyvisor.types.v1 import disk_pb2, hypervisor_pb2

__all__ = [
    "disk_format_from_pb",
    "draft_from_pb",
    "event_to_pb",
    "filters_from_pb",
    "image_to_pb",
    "rendition_to_pb",
    "update_from_pb",
    "vmware_disktype_from_pb",
]

_DISK_FORMAT = {
    disk_pb2.DISK_FORMAT_RAW: "raw",
    disk_pb2.DISK_FORMAT_QCOW2: "qcow2",
    disk_pb2.DISK_FORMAT_VMDK: "vmdk",
    disk_pb2.DISK_FORMAT_ISO: "iso",
}
_CONTAINER_FORMAT = {disk_pb2.CONTAINER_FORMAT_BARE: "bare"}
_VMWARE_DISKTYPE = {
    disk_pb2.VMWARE_DISK_TYPE_SPARSE: "sparse",
    disk_pb2.VMWARE_DISK_TYPE_STREAM_OPTIMIZED: "streamOptimized",
    disk_pb2.VMWARE_DISK_TYPE_PREALLOCATED: "preallocated",
}
_VMWARE_ADAPTER = {
    disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC: "lsiLogic",
    disk_pb2.VMWARE_ADAPTER_TYPE_BUS_LOGIC: "busLogic",
    disk_pb2.VMWARE_ADAPTER_TYPE_IDE: "ide",
    disk_pb2.VMWARE_ADAPTER_TYPE_PARA_VIRTUAL: "paraVirtual",
    disk_pb2.VMWARE_ADAPTER_TYPE_LSI_LOGIC_SAS: "lsiLogicsas",
}
_DISK_BUS = {
    disk_pb2.DISK_BUS_VIRTIO: "virtio",
    disk_pb2.DISK_BUS_SCSI: "scsi",
    disk_pb2.DISK_BUS_IDE: "ide",
    disk_pb2.DISK_BUS_SATA: "sata",
    disk_pb2.DISK_BUS_USB: "usb",
}
_HYPERVISOR = {
    hypervisor_pb2.HYPERVISOR_TYPE_KVM: "kvm",
    hypervisor_pb2.HYPERVISOR_TYPE_QEMU: "qemu",
    hypervisor_pb2.HYPERVISOR_TYPE_VMWARE: "vmware",
    hypervisor_pb2.HYPERVISOR_TYPE_XEN: "xen",
    hypervisor_pb2.HYPERVISOR_TYPE_LXC: "lxc",
    hypervisor_pb2.HYPERVISOR_TYPE_HYPERV: "hyperv",
}
_VISIBILITY = {
    pb.VISIBILITY_PRIVATE: Visibility.PRIVATE,
    pb.VISIBILITY_PUBLIC: Visibility.PUBLIC,
    pb.VISIBILITY_SHARED: Visibility.SHARED,
}
_IMAGE_STATUS = {
    pb.IMAGE_STATUS_QUEUED: ImageStatus.QUEUED,
    pb.IMAGE_STATUS_SAVING: ImageStatus.SAVING,
    pb.IMAGE_STATUS_ACTIVE: ImageStatus.ACTIVE,
    pb.IMAGE_STATUS_KILLED: ImageStatus.KILLED,
    pb.IMAGE_STATUS_DELETED: ImageStatus.DELETED,
}
_RENDITION_STATUS = {
    RenditionStatus.PENDING: pb.RENDITION_STATUS_PENDING,
    RenditionStatus.CONVERTING: pb.RENDITION_STATUS_CONVERTING,
    RenditionStatus.ACTIVE: pb.RENDITION_STATUS_ACTIVE,
    RenditionStatus.FAILED: pb.RENDITION_STATUS_FAILED,
}
_EVENT_KIND = {
    EventKind.CREATED: ev_pb.IMAGE_EVENT_KIND_CREATED,
    EventKind.ACTIVATED: ev_pb.IMAGE_EVENT_KIND_ACTIVATED,
    EventKind.KILLED: ev_pb.IMAGE_EVENT_KIND_KILLED,
    EventKind.UPDATED: ev_pb.IMAGE_EVENT_KIND_UPDATED,
    EventKind.DELETED: ev_pb.IMAGE_EVENT_KIND_DELETED,
    EventKind.RENDITION_READY: ev_pb.IMAGE_EVENT_KIND_RENDITION_READY,
    EventKind.RENDITION_FAILED: ev_pb.IMAGE_EVENT_KIND_RENDITION_FAILED,
}

#: Image fields whose values are enums, with their mapping (unset = 0 = "").
_ENUM_PROPERTIES: dict[str, dict[int, str]] = {
    "hypervisor_type": _HYPERVISOR,
    "vmware_disktype": _VMWARE_DISKTYPE,
    "vmware_adaptertype": _VMWARE_ADAPTER,
    "hw_disk_bus": _DISK_BUS,
}
_STRING_PROPERTIES = ("architecture", "vm_mode", "os_type", "vmware_ostype")


def _from_enum(field: str, value: int, mapping: dict[int, Any], *, allow_unset: bool = True) -> Any:
    if value == 0 and allow_unset:
        return ""
    try:
        return mapping[value]
    except KeyError:
        allowed = ", ".join(str(v) for v in mapping.values())
        raise InvalidArgument(
            f"{field}: unknown value {value}; allowed values: {allowed}",
            {"property": field, "value": value},
        ) from None


def _inverse(mapping: dict[int, Any], value: Any) -> int:
    for k, v in mapping.items():
        if v == value:
            return k
    return 0


def disk_format_from_pb(value: int) -> str:
    return str(_from_enum("disk_format", value, _DISK_FORMAT))


def vmware_disktype_from_pb(value: int) -> str:
    return str(_from_enum("vmware_disktype", value, _VMWARE_DISKTYPE))


def _visibility(value: int, default: Visibility) -> Visibility:
    if value == 0:
        return default
    result: Visibility = _from_enum("visibility", value, _VISIBILITY)
    return result


def _known_properties(msg: pb.Image) -> dict[str, str]:
    out = {
        name: str(_from_enum(name, getattr(msg, name), m)) for name, m in _ENUM_PROPERTIES.items()
    }
    out.update({name: getattr(msg, name) for name in _STRING_PROPERTIES})
    return out


def draft_from_pb(msg: pb.Image) -> ImageDraft:
    if msg.disk_format == 0:
        raise InvalidArgument(
            "disk_format is required; allowed values: raw, qcow2, vmdk, iso",
            {"property": "disk_format"},
        )
    return ImageDraft(
        id=msg.id,
        name=msg.name,
        disk_format=disk_format_from_pb(msg.disk_format),
        container_format=str(
            _from_enum("container_format", msg.container_format, _CONTAINER_FORMAT)
        )
        or "bare",
        visibility=_visibility(msg.visibility, Visibility.PRIVATE),
        shared_with=tuple(msg.shared_with),
        min_ram=msg.min_ram,
        min_disk=msg.min_disk,
        protected=msg.protected,
        properties=_known_properties(msg),
        extra_properties=dict(msg.properties),
    )


#: Paths of Image a client may not set.
OUTPUT_ONLY = frozenset(
    {
        "id",
        "owner",
        "status",
        "status_message",
        "size",
        "virtual_size",
        "os_hash_algo",
        "os_hash_value",
        "renditions",
        "create_time",
        "update_time",
        "delete_time",
    }
)


def update_from_pb(msg: pb.Image, paths: list[str]) -> dict[str, Any]:
    """The changes an update mask names, as domain values (validated by the catalogue)."""
    if not paths:
        raise InvalidArgument('update_mask is required (e.g. paths: ["name"])')
    changes: dict[str, Any] = {}
    for path in paths:
        if path in OUTPUT_ONLY:
            raise InvalidArgument(f"{path} is output only", {"field": path})
        if path in _ENUM_PROPERTIES:
            changes[path] = _from_enum(path, getattr(msg, path), _ENUM_PROPERTIES[path])
        elif path in _STRING_PROPERTIES or path == "name":
            changes[path] = getattr(msg, path)
        elif path == "visibility":
            changes[path] = _from_enum(path, msg.visibility, _VISIBILITY, allow_unset=False)
        elif path == "shared_with":
            changes[path] = tuple(msg.shared_with)
        elif path == "disk_format":
            changes[path] = _from_enum(path, msg.disk_format, _DISK_FORMAT, allow_unset=False)
        elif path == "container_format":
            changes[path] = _from_enum(
                path, msg.container_format, _CONTAINER_FORMAT, allow_unset=False
            )
        elif path in ("min_ram", "min_disk", "protected"):
            changes[path] = getattr(msg, path)
        elif path == "properties":
            changes[path] = dict(msg.properties)
        else:
            raise InvalidArgument(f"update_mask: unknown field {path!r}", {"field": path})
    return changes


def filters_from_pb(req: Any) -> ImageFilters:
    status = ""
    if req.status:
        status = _from_enum("status", req.status, _IMAGE_STATUS).value
    visibility = ""
    if req.visibility:
        visibility = _from_enum("visibility", req.visibility, _VISIBILITY).value
    return ImageFilters(
        name=req.name,
        status=status,
        visibility=visibility,
        disk_format=disk_format_from_pb(req.disk_format),
        owner=req.owner,
        hypervisor_type=str(_from_enum("hypervisor_type", req.hypervisor_type, _HYPERVISOR)),
        architecture=req.architecture,
    )


def rendition_to_pb(r: Rendition) -> pb.Rendition:
    msg = pb.Rendition(
        disk_format=_inverse(_DISK_FORMAT, r.key.disk_format),
        vmware_disktype=_inverse(_VMWARE_DISKTYPE, r.key.vmware_disktype),
        status=_RENDITION_STATUS[r.status],
        size=r.size,
        virtual_size=r.virtual_size,
        sha256=r.sha256,
        status_message=r.status_message,
        original=r.original,
    )
    if r.created_at:
        msg.create_time.CopyFrom(ts(r.created_at))
    if r.updated_at:
        msg.update_time.CopyFrom(ts(r.updated_at))
    return msg


def image_to_pb(image: Image) -> pb.Image:
    p = image.properties
    msg = pb.Image(
        id=image.id,
        name=image.name,
        owner=image.owner,
        visibility=_inverse(_VISIBILITY, image.visibility),
        shared_with=list(image.shared_with),
        status=_inverse(_IMAGE_STATUS, image.status),
        status_message=image.status_message,
        disk_format=_inverse(_DISK_FORMAT, image.disk_format),
        container_format=_inverse(_CONTAINER_FORMAT, image.container_format),
        size=image.size,
        virtual_size=image.virtual_size,
        os_hash_algo=image.os_hash_algo,
        os_hash_value=image.os_hash_value,
        min_ram=image.min_ram,
        min_disk=image.min_disk,
        protected=image.protected,
        hypervisor_type=_inverse(_HYPERVISOR, p.hypervisor_type),
        architecture=p.architecture,
        vm_mode=p.vm_mode,
        vmware_disktype=_inverse(_VMWARE_DISKTYPE, p.vmware_disktype),
        vmware_adaptertype=_inverse(_VMWARE_ADAPTER, p.vmware_adaptertype),
        os_type=p.os_type,
        hw_disk_bus=_inverse(_DISK_BUS, p.hw_disk_bus),
        vmware_ostype=p.vmware_ostype,
        properties=image.extra_properties,
        renditions=[rendition_to_pb(r) for r in image.renditions],
    )
    for field, value in (
        ("create_time", image.created_at),
        ("update_time", image.updated_at),
        ("delete_time", image.deleted_at),
    ):
        if (stamp := ts(value)) is not None:
            getattr(msg, field).CopyFrom(stamp)
    return msg


def event_to_pb(event: ImageEvent) -> ev_pb.ImageEvent:
    msg = ev_pb.ImageEvent(
        event_id=event.event_id,
        image_id=event.image_id,
        kind=_EVENT_KIND[event.kind],
        owner=event.owner,
        disk_format=_inverse(_DISK_FORMAT, event.disk_format),
        vmware_disktype=_inverse(_VMWARE_DISKTYPE, event.vmware_disktype),
        sha256=event.sha256,
        size=event.size,
        message=event.message,
    )
    msg.occurred_at.CopyFrom(ts(event.occurred_at))
    return msg
