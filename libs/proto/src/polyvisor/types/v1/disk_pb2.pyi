from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DiskFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISK_FORMAT_UNSPECIFIED: _ClassVar[DiskFormat]
    DISK_FORMAT_RAW: _ClassVar[DiskFormat]
    DISK_FORMAT_QCOW2: _ClassVar[DiskFormat]
    DISK_FORMAT_VMDK: _ClassVar[DiskFormat]
    DISK_FORMAT_ISO: _ClassVar[DiskFormat]

class ContainerFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTAINER_FORMAT_UNSPECIFIED: _ClassVar[ContainerFormat]
    CONTAINER_FORMAT_BARE: _ClassVar[ContainerFormat]

class VmwareDiskType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VMWARE_DISK_TYPE_UNSPECIFIED: _ClassVar[VmwareDiskType]
    VMWARE_DISK_TYPE_SPARSE: _ClassVar[VmwareDiskType]
    VMWARE_DISK_TYPE_STREAM_OPTIMIZED: _ClassVar[VmwareDiskType]
    VMWARE_DISK_TYPE_PREALLOCATED: _ClassVar[VmwareDiskType]

class VmwareAdapterType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VMWARE_ADAPTER_TYPE_UNSPECIFIED: _ClassVar[VmwareAdapterType]
    VMWARE_ADAPTER_TYPE_LSI_LOGIC: _ClassVar[VmwareAdapterType]
    VMWARE_ADAPTER_TYPE_BUS_LOGIC: _ClassVar[VmwareAdapterType]
    VMWARE_ADAPTER_TYPE_IDE: _ClassVar[VmwareAdapterType]
    VMWARE_ADAPTER_TYPE_PARA_VIRTUAL: _ClassVar[VmwareAdapterType]
    VMWARE_ADAPTER_TYPE_LSI_LOGIC_SAS: _ClassVar[VmwareAdapterType]

class DiskBus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISK_BUS_UNSPECIFIED: _ClassVar[DiskBus]
    DISK_BUS_VIRTIO: _ClassVar[DiskBus]
    DISK_BUS_SCSI: _ClassVar[DiskBus]
    DISK_BUS_IDE: _ClassVar[DiskBus]
    DISK_BUS_SATA: _ClassVar[DiskBus]
    DISK_BUS_USB: _ClassVar[DiskBus]
DISK_FORMAT_UNSPECIFIED: DiskFormat
DISK_FORMAT_RAW: DiskFormat
DISK_FORMAT_QCOW2: DiskFormat
DISK_FORMAT_VMDK: DiskFormat
DISK_FORMAT_ISO: DiskFormat
CONTAINER_FORMAT_UNSPECIFIED: ContainerFormat
CONTAINER_FORMAT_BARE: ContainerFormat
VMWARE_DISK_TYPE_UNSPECIFIED: VmwareDiskType
VMWARE_DISK_TYPE_SPARSE: VmwareDiskType
VMWARE_DISK_TYPE_STREAM_OPTIMIZED: VmwareDiskType
VMWARE_DISK_TYPE_PREALLOCATED: VmwareDiskType
VMWARE_ADAPTER_TYPE_UNSPECIFIED: VmwareAdapterType
VMWARE_ADAPTER_TYPE_LSI_LOGIC: VmwareAdapterType
VMWARE_ADAPTER_TYPE_BUS_LOGIC: VmwareAdapterType
VMWARE_ADAPTER_TYPE_IDE: VmwareAdapterType
VMWARE_ADAPTER_TYPE_PARA_VIRTUAL: VmwareAdapterType
VMWARE_ADAPTER_TYPE_LSI_LOGIC_SAS: VmwareAdapterType
DISK_BUS_UNSPECIFIED: DiskBus
DISK_BUS_VIRTIO: DiskBus
DISK_BUS_SCSI: DiskBus
DISK_BUS_IDE: DiskBus
DISK_BUS_SATA: DiskBus
DISK_BUS_USB: DiskBus

class Rendition(_message.Message):
    __slots__ = ("disk_format", "vmware_disktype")
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    disk_format: DiskFormat
    vmware_disktype: VmwareDiskType
    def __init__(self, disk_format: _Optional[_Union[DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[VmwareDiskType, str]] = ...) -> None: ...
