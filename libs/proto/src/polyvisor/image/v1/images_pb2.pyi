import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Visibility(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VISIBILITY_UNSPECIFIED: _ClassVar[Visibility]
    VISIBILITY_PRIVATE: _ClassVar[Visibility]
    VISIBILITY_PUBLIC: _ClassVar[Visibility]
    VISIBILITY_SHARED: _ClassVar[Visibility]

class ImageStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_STATUS_UNSPECIFIED: _ClassVar[ImageStatus]
    IMAGE_STATUS_QUEUED: _ClassVar[ImageStatus]
    IMAGE_STATUS_SAVING: _ClassVar[ImageStatus]
    IMAGE_STATUS_ACTIVE: _ClassVar[ImageStatus]
    IMAGE_STATUS_KILLED: _ClassVar[ImageStatus]
    IMAGE_STATUS_DELETED: _ClassVar[ImageStatus]

class RenditionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RENDITION_STATUS_UNSPECIFIED: _ClassVar[RenditionStatus]
    RENDITION_STATUS_PENDING: _ClassVar[RenditionStatus]
    RENDITION_STATUS_CONVERTING: _ClassVar[RenditionStatus]
    RENDITION_STATUS_ACTIVE: _ClassVar[RenditionStatus]
    RENDITION_STATUS_FAILED: _ClassVar[RenditionStatus]
VISIBILITY_UNSPECIFIED: Visibility
VISIBILITY_PRIVATE: Visibility
VISIBILITY_PUBLIC: Visibility
VISIBILITY_SHARED: Visibility
IMAGE_STATUS_UNSPECIFIED: ImageStatus
IMAGE_STATUS_QUEUED: ImageStatus
IMAGE_STATUS_SAVING: ImageStatus
IMAGE_STATUS_ACTIVE: ImageStatus
IMAGE_STATUS_KILLED: ImageStatus
IMAGE_STATUS_DELETED: ImageStatus
RENDITION_STATUS_UNSPECIFIED: RenditionStatus
RENDITION_STATUS_PENDING: RenditionStatus
RENDITION_STATUS_CONVERTING: RenditionStatus
RENDITION_STATUS_ACTIVE: RenditionStatus
RENDITION_STATUS_FAILED: RenditionStatus

class Image(_message.Message):
    __slots__ = ("id", "name", "owner", "visibility", "shared_with", "status", "status_message", "disk_format", "container_format", "size", "virtual_size", "os_hash_algo", "os_hash_value", "min_ram", "min_disk", "protected", "hypervisor_type", "architecture", "vm_mode", "vmware_disktype", "vmware_adaptertype", "os_type", "hw_disk_bus", "vmware_ostype", "properties", "renditions", "create_time", "update_time", "delete_time")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    SHARED_WITH_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    OS_HASH_ALGO_FIELD_NUMBER: _ClassVar[int]
    OS_HASH_VALUE_FIELD_NUMBER: _ClassVar[int]
    MIN_RAM_FIELD_NUMBER: _ClassVar[int]
    MIN_DISK_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VM_MODE_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    VMWARE_ADAPTERTYPE_FIELD_NUMBER: _ClassVar[int]
    OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    HW_DISK_BUS_FIELD_NUMBER: _ClassVar[int]
    VMWARE_OSTYPE_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    owner: str
    visibility: Visibility
    shared_with: _containers.RepeatedScalarFieldContainer[str]
    status: ImageStatus
    status_message: str
    disk_format: _disk_pb2.DiskFormat
    container_format: _disk_pb2.ContainerFormat
    size: int
    virtual_size: int
    os_hash_algo: str
    os_hash_value: str
    min_ram: int
    min_disk: int
    protected: bool
    hypervisor_type: _hypervisor_pb2.HypervisorType
    architecture: str
    vm_mode: str
    vmware_disktype: _disk_pb2.VmwareDiskType
    vmware_adaptertype: _disk_pb2.VmwareAdapterType
    os_type: str
    hw_disk_bus: _disk_pb2.DiskBus
    vmware_ostype: str
    properties: _containers.ScalarMap[str, str]
    renditions: _containers.RepeatedCompositeFieldContainer[Rendition]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., owner: _Optional[str] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., shared_with: _Optional[_Iterable[str]] = ..., status: _Optional[_Union[ImageStatus, str]] = ..., status_message: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., container_format: _Optional[_Union[_disk_pb2.ContainerFormat, str]] = ..., size: _Optional[int] = ..., virtual_size: _Optional[int] = ..., os_hash_algo: _Optional[str] = ..., os_hash_value: _Optional[str] = ..., min_ram: _Optional[int] = ..., min_disk: _Optional[int] = ..., protected: _Optional[bool] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., architecture: _Optional[str] = ..., vm_mode: _Optional[str] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ..., vmware_adaptertype: _Optional[_Union[_disk_pb2.VmwareAdapterType, str]] = ..., os_type: _Optional[str] = ..., hw_disk_bus: _Optional[_Union[_disk_pb2.DiskBus, str]] = ..., vmware_ostype: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ..., renditions: _Optional[_Iterable[_Union[Rendition, _Mapping]]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Rendition(_message.Message):
    __slots__ = ("disk_format", "vmware_disktype", "status", "size", "virtual_size", "sha256", "status_message", "original", "create_time", "update_time")
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    disk_format: _disk_pb2.DiskFormat
    vmware_disktype: _disk_pb2.VmwareDiskType
    status: RenditionStatus
    size: int
    virtual_size: int
    sha256: str
    status_message: str
    original: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ..., status: _Optional[_Union[RenditionStatus, str]] = ..., size: _Optional[int] = ..., virtual_size: _Optional[int] = ..., sha256: _Optional[str] = ..., status_message: _Optional[str] = ..., original: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateImageRequest(_message.Message):
    __slots__ = ("request_id", "image")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    image: Image
    def __init__(self, request_id: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class CreateImageResponse(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class GetImageRequest(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class GetImageResponse(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class ListImagesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "name", "status", "visibility", "disk_format", "owner", "hypervisor_type", "architecture", "all_projects")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    name: str
    status: ImageStatus
    visibility: Visibility
    disk_format: _disk_pb2.DiskFormat
    owner: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    architecture: str
    all_projects: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[_Union[ImageStatus, str]] = ..., visibility: _Optional[_Union[Visibility, str]] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., owner: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., architecture: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListImagesResponse(_message.Message):
    __slots__ = ("images", "next_page_token")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[Image]
    next_page_token: str
    def __init__(self, images: _Optional[_Iterable[_Union[Image, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateImageRequest(_message.Message):
    __slots__ = ("image", "update_mask")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    image: Image
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateImageResponse(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class DeleteImageRequest(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class DeleteImageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UploadImageHeader(_message.Message):
    __slots__ = ("image_id", "size", "sha256", "failure", "properties")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    size: int
    sha256: str
    failure: str
    properties: _containers.ScalarMap[str, str]
    def __init__(self, image_id: _Optional[str] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., failure: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UploadImageRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadImageHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadImageHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadImageResponse(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class DownloadImageRequest(_message.Message):
    __slots__ = ("image_id", "disk_format", "vmware_disktype", "offset")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    disk_format: _disk_pb2.DiskFormat
    vmware_disktype: _disk_pb2.VmwareDiskType
    offset: int
    def __init__(self, image_id: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadImageMetadata(_message.Message):
    __slots__ = ("image_id", "rendition", "size", "sha256", "offset")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    rendition: Rendition
    size: int
    sha256: str
    offset: int
    def __init__(self, image_id: _Optional[str] = ..., rendition: _Optional[_Union[Rendition, _Mapping]] = ..., size: _Optional[int] = ..., sha256: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class DownloadImageResponse(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: DownloadImageMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[DownloadImageMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class ListRenditionsRequest(_message.Message):
    __slots__ = ("image_id",)
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    def __init__(self, image_id: _Optional[str] = ...) -> None: ...

class ListRenditionsResponse(_message.Message):
    __slots__ = ("renditions",)
    RENDITIONS_FIELD_NUMBER: _ClassVar[int]
    renditions: _containers.RepeatedCompositeFieldContainer[Rendition]
    def __init__(self, renditions: _Optional[_Iterable[_Union[Rendition, _Mapping]]] = ...) -> None: ...

class GetRenditionRequest(_message.Message):
    __slots__ = ("image_id", "disk_format", "vmware_disktype")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    disk_format: _disk_pb2.DiskFormat
    vmware_disktype: _disk_pb2.VmwareDiskType
    def __init__(self, image_id: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ...) -> None: ...

class GetRenditionResponse(_message.Message):
    __slots__ = ("rendition",)
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    rendition: Rendition
    def __init__(self, rendition: _Optional[_Union[Rendition, _Mapping]] = ...) -> None: ...

class CreateRenditionRequest(_message.Message):
    __slots__ = ("image_id", "disk_format", "vmware_disktype")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    disk_format: _disk_pb2.DiskFormat
    vmware_disktype: _disk_pb2.VmwareDiskType
    def __init__(self, image_id: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ...) -> None: ...

class CreateRenditionResponse(_message.Message):
    __slots__ = ("rendition",)
    RENDITION_FIELD_NUMBER: _ClassVar[int]
    rendition: Rendition
    def __init__(self, rendition: _Optional[_Union[Rendition, _Mapping]] = ...) -> None: ...
