import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VolumeStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOLUME_STATUS_UNSPECIFIED: _ClassVar[VolumeStatus]
    VOLUME_STATUS_CREATING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_AVAILABLE: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ATTACHING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_IN_USE: _ClassVar[VolumeStatus]
    VOLUME_STATUS_DETACHING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_EXTENDING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_DELETING: _ClassVar[VolumeStatus]
    VOLUME_STATUS_ERROR: _ClassVar[VolumeStatus]

class SnapshotStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SNAPSHOT_STATUS_UNSPECIFIED: _ClassVar[SnapshotStatus]
    SNAPSHOT_STATUS_CREATING: _ClassVar[SnapshotStatus]
    SNAPSHOT_STATUS_AVAILABLE: _ClassVar[SnapshotStatus]
    SNAPSHOT_STATUS_DELETING: _ClassVar[SnapshotStatus]
    SNAPSHOT_STATUS_ERROR: _ClassVar[SnapshotStatus]
VOLUME_STATUS_UNSPECIFIED: VolumeStatus
VOLUME_STATUS_CREATING: VolumeStatus
VOLUME_STATUS_AVAILABLE: VolumeStatus
VOLUME_STATUS_ATTACHING: VolumeStatus
VOLUME_STATUS_IN_USE: VolumeStatus
VOLUME_STATUS_DETACHING: VolumeStatus
VOLUME_STATUS_EXTENDING: VolumeStatus
VOLUME_STATUS_DELETING: VolumeStatus
VOLUME_STATUS_ERROR: VolumeStatus
SNAPSHOT_STATUS_UNSPECIFIED: SnapshotStatus
SNAPSHOT_STATUS_CREATING: SnapshotStatus
SNAPSHOT_STATUS_AVAILABLE: SnapshotStatus
SNAPSHOT_STATUS_DELETING: SnapshotStatus
SNAPSHOT_STATUS_ERROR: SnapshotStatus

class VolumeType(_message.Message):
    __slots__ = ("id", "name", "backend", "backend_kind", "hypervisor_types", "multiattach", "description", "extra_specs", "is_default")
    class ExtraSpecsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    BACKEND_KIND_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPES_FIELD_NUMBER: _ClassVar[int]
    MULTIATTACH_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    backend: str
    backend_kind: str
    hypervisor_types: _containers.RepeatedScalarFieldContainer[str]
    multiattach: bool
    description: str
    extra_specs: _containers.ScalarMap[str, str]
    is_default: bool
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., backend: _Optional[str] = ..., backend_kind: _Optional[str] = ..., hypervisor_types: _Optional[_Iterable[str]] = ..., multiattach: _Optional[bool] = ..., description: _Optional[str] = ..., extra_specs: _Optional[_Mapping[str, str]] = ..., is_default: _Optional[bool] = ...) -> None: ...

class Attachment(_message.Message):
    __slots__ = ("server_id", "host", "state", "root", "delete_on_termination", "attach_time")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    DELETE_ON_TERMINATION_FIELD_NUMBER: _ClassVar[int]
    ATTACH_TIME_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    host: str
    state: str
    root: bool
    delete_on_termination: bool
    attach_time: _timestamp_pb2.Timestamp
    def __init__(self, server_id: _Optional[str] = ..., host: _Optional[str] = ..., state: _Optional[str] = ..., root: _Optional[bool] = ..., delete_on_termination: _Optional[bool] = ..., attach_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Volume(_message.Message):
    __slots__ = ("id", "name", "project_id", "size_gb", "volume_type", "status", "bootable", "source_image_id", "source_snapshot_id", "description", "attachments", "fault", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BOOTABLE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENTS_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    project_id: str
    size_gb: int
    volume_type: str
    status: VolumeStatus
    bootable: bool
    source_image_id: str
    source_snapshot_id: str
    description: str
    attachments: _containers.RepeatedCompositeFieldContainer[Attachment]
    fault: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., size_gb: _Optional[int] = ..., volume_type: _Optional[str] = ..., status: _Optional[_Union[VolumeStatus, str]] = ..., bootable: _Optional[bool] = ..., source_image_id: _Optional[str] = ..., source_snapshot_id: _Optional[str] = ..., description: _Optional[str] = ..., attachments: _Optional[_Iterable[_Union[Attachment, _Mapping]]] = ..., fault: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("id", "volume_id", "name", "project_id", "size_gb", "status", "description", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    volume_id: str
    name: str
    project_id: str
    size_gb: int
    status: SnapshotStatus
    description: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., volume_id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., size_gb: _Optional[int] = ..., status: _Optional[_Union[SnapshotStatus, str]] = ..., description: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Connection(_message.Message):
    __slots__ = ("kind", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KIND_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    attrs: _containers.ScalarMap[str, str]
    def __init__(self, kind: _Optional[str] = ..., attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VolumeQuota(_message.Message):
    __slots__ = ("project_id", "volumes", "gigabytes", "snapshots", "volumes_used", "gigabytes_used", "snapshots_used")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    GIGABYTES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_USED_FIELD_NUMBER: _ClassVar[int]
    GIGABYTES_USED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOTS_USED_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    volumes: int
    gigabytes: int
    snapshots: int
    volumes_used: int
    gigabytes_used: int
    snapshots_used: int
    def __init__(self, project_id: _Optional[str] = ..., volumes: _Optional[int] = ..., gigabytes: _Optional[int] = ..., snapshots: _Optional[int] = ..., volumes_used: _Optional[int] = ..., gigabytes_used: _Optional[int] = ..., snapshots_used: _Optional[int] = ...) -> None: ...

class VolumeEvent(_message.Message):
    __slots__ = ("kind", "volume", "snapshot_id", "server_id", "time", "sequence")
    KIND_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    kind: str
    volume: Volume
    snapshot_id: str
    server_id: str
    time: _timestamp_pb2.Timestamp
    sequence: int
    def __init__(self, kind: _Optional[str] = ..., volume: _Optional[_Union[Volume, _Mapping]] = ..., snapshot_id: _Optional[str] = ..., server_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ...) -> None: ...
