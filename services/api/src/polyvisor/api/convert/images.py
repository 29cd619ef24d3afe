"""polyvisor.image.v1.Image -> the api's ImageInfo."""

from __future__ import annotations

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
