from polyvisor.volume.v1 import volumes_pb2 as _volumes_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateVolumeRequest(_message.Message):
    __slots__ = ("volume", "request_id")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    request_id: str
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateVolumeResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ...) -> None: ...

class GetVolumeRequest(_message.Message):
    __slots__ = ("volume_id",)
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    def __init__(self, volume_id: _Optional[str] = ...) -> None: ...

class GetVolumeResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ...) -> None: ...

class ListVolumesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "all_projects", "server_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    all_projects: bool
    server_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., all_projects: _Optional[bool] = ..., server_id: _Optional[str] = ...) -> None: ...

class ListVolumesResponse(_message.Message):
    __slots__ = ("volumes", "next_page_token")
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    volumes: _containers.RepeatedCompositeFieldContainer[_volumes_pb2.Volume]
    next_page_token: str
    def __init__(self, volumes: _Optional[_Iterable[_Union[_volumes_pb2.Volume, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteVolumeRequest(_message.Message):
    __slots__ = ("volume_id",)
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    def __init__(self, volume_id: _Optional[str] = ...) -> None: ...

class DeleteVolumeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExtendVolumeRequest(_message.Message):
    __slots__ = ("volume_id", "new_size_gb")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_SIZE_GB_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    new_size_gb: int
    def __init__(self, volume_id: _Optional[str] = ..., new_size_gb: _Optional[int] = ...) -> None: ...

class ExtendVolumeResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ...) -> None: ...

class UpdateVolumeRequest(_message.Message):
    __slots__ = ("volume_id", "name", "description")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    name: str
    description: str
    def __init__(self, volume_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class UpdateVolumeResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ...) -> None: ...

class CreateSnapshotRequest(_message.Message):
    __slots__ = ("snapshot", "force", "request_id")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot: _volumes_pb2.Snapshot
    force: bool
    request_id: str
    def __init__(self, snapshot: _Optional[_Union[_volumes_pb2.Snapshot, _Mapping]] = ..., force: _Optional[bool] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: _volumes_pb2.Snapshot
    def __init__(self, snapshot: _Optional[_Union[_volumes_pb2.Snapshot, _Mapping]] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("snapshot_id",)
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    def __init__(self, snapshot_id: _Optional[str] = ...) -> None: ...

class GetSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: _volumes_pb2.Snapshot
    def __init__(self, snapshot: _Optional[_Union[_volumes_pb2.Snapshot, _Mapping]] = ...) -> None: ...

class ListSnapshotsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "all_projects", "volume_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    all_projects: bool
    volume_id: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., all_projects: _Optional[bool] = ..., volume_id: _Optional[str] = ...) -> None: ...

class ListSnapshotsResponse(_message.Message):
    __slots__ = ("snapshots", "next_page_token")
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[_volumes_pb2.Snapshot]
    next_page_token: str
    def __init__(self, snapshots: _Optional[_Iterable[_Union[_volumes_pb2.Snapshot, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSnapshotRequest(_message.Message):
    __slots__ = ("snapshot_id",)
    SNAPSHOT_ID_FIELD_NUMBER: _ClassVar[int]
    snapshot_id: str
    def __init__(self, snapshot_id: _Optional[str] = ...) -> None: ...

class DeleteSnapshotResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateVolumeTypeRequest(_message.Message):
    __slots__ = ("volume_type",)
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    volume_type: _volumes_pb2.VolumeType
    def __init__(self, volume_type: _Optional[_Union[_volumes_pb2.VolumeType, _Mapping]] = ...) -> None: ...

class CreateVolumeTypeResponse(_message.Message):
    __slots__ = ("volume_type",)
    VOLUME_TYPE_FIELD_NUMBER: _ClassVar[int]
    volume_type: _volumes_pb2.VolumeType
    def __init__(self, volume_type: _Optional[_Union[_volumes_pb2.VolumeType, _Mapping]] = ...) -> None: ...

class ListVolumeTypesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListVolumeTypesResponse(_message.Message):
    __slots__ = ("volume_types",)
    VOLUME_TYPES_FIELD_NUMBER: _ClassVar[int]
    volume_types: _containers.RepeatedCompositeFieldContainer[_volumes_pb2.VolumeType]
    def __init__(self, volume_types: _Optional[_Iterable[_Union[_volumes_pb2.VolumeType, _Mapping]]] = ...) -> None: ...

class DeleteVolumeTypeRequest(_message.Message):
    __slots__ = ("volume_type_id",)
    VOLUME_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    volume_type_id: str
    def __init__(self, volume_type_id: _Optional[str] = ...) -> None: ...

class DeleteVolumeTypeResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetVolumeQuotaRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class GetVolumeQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: _volumes_pb2.VolumeQuota
    def __init__(self, quota: _Optional[_Union[_volumes_pb2.VolumeQuota, _Mapping]] = ...) -> None: ...

class UpdateVolumeQuotaRequest(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: _volumes_pb2.VolumeQuota
    def __init__(self, quota: _Optional[_Union[_volumes_pb2.VolumeQuota, _Mapping]] = ...) -> None: ...

class UpdateVolumeQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: _volumes_pb2.VolumeQuota
    def __init__(self, quota: _Optional[_Union[_volumes_pb2.VolumeQuota, _Mapping]] = ...) -> None: ...

class ReserveVolumeRequest(_message.Message):
    __slots__ = ("volume_id", "server_id", "project_id", "host", "hypervisor_type", "root", "delete_on_termination")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ROOT_FIELD_NUMBER: _ClassVar[int]
    DELETE_ON_TERMINATION_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    server_id: str
    project_id: str
    host: str
    hypervisor_type: str
    root: bool
    delete_on_termination: bool
    def __init__(self, volume_id: _Optional[str] = ..., server_id: _Optional[str] = ..., project_id: _Optional[str] = ..., host: _Optional[str] = ..., hypervisor_type: _Optional[str] = ..., root: _Optional[bool] = ..., delete_on_termination: _Optional[bool] = ...) -> None: ...

class ReserveVolumeResponse(_message.Message):
    __slots__ = ("volume", "connection", "backend_kind")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    BACKEND_KIND_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    connection: _volumes_pb2.Connection
    backend_kind: str
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ..., connection: _Optional[_Union[_volumes_pb2.Connection, _Mapping]] = ..., backend_kind: _Optional[str] = ...) -> None: ...

class CompleteAttachmentRequest(_message.Message):
    __slots__ = ("volume_id", "server_id")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    server_id: str
    def __init__(self, volume_id: _Optional[str] = ..., server_id: _Optional[str] = ...) -> None: ...

class CompleteAttachmentResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ...) -> None: ...

class BeginDetachRequest(_message.Message):
    __slots__ = ("volume_id", "server_id", "server_deleted")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_DELETED_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    server_id: str
    server_deleted: bool
    def __init__(self, volume_id: _Optional[str] = ..., server_id: _Optional[str] = ..., server_deleted: _Optional[bool] = ...) -> None: ...

class BeginDetachResponse(_message.Message):
    __slots__ = ("volume", "connection")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    connection: _volumes_pb2.Connection
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ..., connection: _Optional[_Union[_volumes_pb2.Connection, _Mapping]] = ...) -> None: ...

class RemoveAttachmentRequest(_message.Message):
    __slots__ = ("volume_id", "server_id")
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    server_id: str
    def __init__(self, volume_id: _Optional[str] = ..., server_id: _Optional[str] = ...) -> None: ...

class RemoveAttachmentResponse(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: _volumes_pb2.Volume
    def __init__(self, volume: _Optional[_Union[_volumes_pb2.Volume, _Mapping]] = ...) -> None: ...
