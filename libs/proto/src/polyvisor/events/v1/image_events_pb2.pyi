import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_EVENT_KIND_UNSPECIFIED: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_CREATED: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_ACTIVATED: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_KILLED: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_UPDATED: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_DELETED: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_RENDITION_READY: _ClassVar[ImageEventKind]
    IMAGE_EVENT_KIND_RENDITION_FAILED: _ClassVar[ImageEventKind]
IMAGE_EVENT_KIND_UNSPECIFIED: ImageEventKind
IMAGE_EVENT_KIND_CREATED: ImageEventKind
IMAGE_EVENT_KIND_ACTIVATED: ImageEventKind
IMAGE_EVENT_KIND_KILLED: ImageEventKind
IMAGE_EVENT_KIND_UPDATED: ImageEventKind
IMAGE_EVENT_KIND_DELETED: ImageEventKind
IMAGE_EVENT_KIND_RENDITION_READY: ImageEventKind
IMAGE_EVENT_KIND_RENDITION_FAILED: ImageEventKind

class ImageEvent(_message.Message):
    __slots__ = ("event_id", "image_id", "kind", "owner", "disk_format", "vmware_disktype", "sha256", "size", "message", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    image_id: str
    kind: ImageEventKind
    owner: str
    disk_format: _disk_pb2.DiskFormat
    vmware_disktype: _disk_pb2.VmwareDiskType
    sha256: str
    size: int
    message: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., image_id: _Optional[str] = ..., kind: _Optional[_Union[ImageEventKind, str]] = ..., owner: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., message: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
