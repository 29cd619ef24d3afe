"""polyvisor.image.v1.Image -> the api's ImageInfo."""

from __future__ import annotations

from polyvisor.api import image_checks
from polyvisor.api import models as m
from polyvisor.api.convert.enums import (
    DISK_BUS,
    DISK_FORMAT,
    HYPERVISOR_TYPE,
    IMAGE_STATUS,
    VMWARE_ADAPTER_TYPE,
    VMWARE_DISK_TYPE,
)
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import disk_pb2

_RENDITION_ACTIVE = images_pb2.RENDITION_STATUS_ACTIVE


def image_info(img: images_pb2.Image) -> m.ImageInfo:
    def name(enum_map, value: int) -> str:  # type: ignore[no-untyped-def]
        return enum_map.to_name.get(value, "")

    return m.ImageInfo(
        id=img.id,
        name=img.name,
        status=name(IMAGE_STATUS, img.status) or "UNSPECIFIED",
        owner=img.owner,
        disk_format=name(DISK_FORMAT, img.disk_format),
        min_ram=img.min_ram,
        min_disk=img.min_disk,
        size=img.size,
        virtual_size=img.virtual_size,
        hypervisor_type=name(HYPERVISOR_TYPE, img.hypervisor_type),
        architecture=img.architecture,
        vm_mode=img.vm_mode,
        vmware_disktype=name(VMWARE_DISK_TYPE, img.vmware_disktype),
        vmware_adaptertype=name(VMWARE_ADAPTER_TYPE, img.vmware_adaptertype),
        hw_disk_bus=name(DISK_BUS, img.hw_disk_bus),
        os_type=img.os_type,
        vmware_ostype=img.vmware_ostype,
        hypervisor_version_requires=img.properties.get("img_hv_requested_version", ""),
        hw_vif_model=img.properties.get("hw_vif_model", ""),
        renditions=tuple(
            (
                name(DISK_FORMAT, r.disk_format),
                name(VMWARE_DISK_TYPE, r.vmware_disktype),
                r.sha256,
                r.size,
            )
            for r in img.renditions
            if r.status == _RENDITION_ACTIVE
        ),
    )


# Properties every snapshot image carries (set by the api; a user's own are kept beside them).
SNAPSHOT_PROPERTIES = (
    "image_type",
    "instance_uuid",
    "base_image_ref",
    "source_hypervisor_type",
    "snapshot_host",
)


def snapshot_draft(
    name: str, server: m.Server, base: m.ImageInfo | None, properties: dict[str, str]
) -> images_pb2.Image:
    """The image a snapshot of `server` becomes (QUEUED until its host uploads the disk).

    It is not pinned to a hypervisor type (it boots on any, through renditions); what it was
    taken from is in its properties, and `snapshot_host` names the one agent that may upload
    it. The boot facts of the image the server was built from carry over."""
    hv = server.hypervisor_type
    props = {k: v for k, v in properties.items() if k not in SNAPSHOT_PROPERTIES}
    props.update(
        image_type="snapshot",
        instance_uuid=server.id,
        base_image_ref=server.image_id,
        source_hypervisor_type=hv.lower(),
        snapshot_host=server.host,
    )
    draft = images_pb2.Image(
        name=name,
        disk_format=DISK_FORMAT.value(image_checks.SNAPSHOT_FORMAT.get(hv, "QCOW2")),
        container_format=disk_pb2.CONTAINER_FORMAT_BARE,
        properties=props,
        min_disk=max(server.flavor.disk_gb, base.min_disk if base else 0),
    )
    if base is not None:
        draft.min_ram = base.min_ram
        draft.architecture = base.architecture
        draft.vm_mode = base.vm_mode
        draft.os_type = base.os_type
        draft.vmware_ostype = base.vmware_ostype
        if base.hw_disk_bus:
            draft.hw_disk_bus = DISK_BUS.value(base.hw_disk_bus)
        if base.vmware_adaptertype:
            draft.vmware_adaptertype = VMWARE_ADAPTER_TYPE.value(base.vmware_adaptertype)
    return draft
