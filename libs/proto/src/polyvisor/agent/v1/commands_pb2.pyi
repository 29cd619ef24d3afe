import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.network.v1 import bindings_pb2 as _bindings_pb2
from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentCommand(_message.Message):
    __slots__ = ("command_id", "server_id", "generation", "request_id", "host", "issued_at", "deadline", "spawn", "destroy", "power_on", "power_off", "reboot", "refresh_console", "open_console", "snapshot", "rebuild", "pause", "unpause", "suspend", "resume", "resize", "confirm_resize", "revert_resize", "attach_port", "detach_port", "live_migrate", "abort_migration", "attach_volume", "detach_volume")
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_FIELD_NUMBER: _ClassVar[int]
    SPAWN_FIELD_NUMBER: _ClassVar[int]
    DESTROY_FIELD_NUMBER: _ClassVar[int]
    POWER_ON_FIELD_NUMBER: _ClassVar[int]
    POWER_OFF_FIELD_NUMBER: _ClassVar[int]
    REBOOT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_CONSOLE_FIELD_NUMBER: _ClassVar[int]
    OPEN_CONSOLE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    REBUILD_FIELD_NUMBER: _ClassVar[int]
    PAUSE_FIELD_NUMBER: _ClassVar[int]
    UNPAUSE_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_RESIZE_FIELD_NUMBER: _ClassVar[int]
    REVERT_RESIZE_FIELD_NUMBER: _ClassVar[int]
    ATTACH_PORT_FIELD_NUMBER: _ClassVar[int]
    DETACH_PORT_FIELD_NUMBER: _ClassVar[int]
    LIVE_MIGRATE_FIELD_NUMBER: _ClassVar[int]
    ABORT_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    ATTACH_VOLUME_FIELD_NUMBER: _ClassVar[int]
    DETACH_VOLUME_FIELD_NUMBER: _ClassVar[int]
    command_id: str
    server_id: str
    generation: int
    request_id: str
    host: str
    issued_at: _timestamp_pb2.Timestamp
    deadline: _timestamp_pb2.Timestamp
    spawn: SpawnServer
    destroy: DestroyServer
    power_on: PowerOnServer
    power_off: PowerOffServer
    reboot: RebootServer
    refresh_console: RefreshConsole
    open_console: OpenConsole
    snapshot: SnapshotServer
    rebuild: RebuildServer
    pause: PauseServer
    unpause: UnpauseServer
    suspend: SuspendServer
    resume: ResumeServer
    resize: ResizeServer
    confirm_resize: ConfirmResize
    revert_resize: RevertResize
    attach_port: AttachServerPort
    detach_port: DetachServerPort
    live_migrate: LiveMigrateServer
    abort_migration: AbortMigration
    attach_volume: AttachServerVolume
    detach_volume: DetachServerVolume
    def __init__(self, command_id: _Optional[str] = ..., server_id: _Optional[str] = ..., generation: _Optional[int] = ..., request_id: _Optional[str] = ..., host: _Optional[str] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., spawn: _Optional[_Union[SpawnServer, _Mapping]] = ..., destroy: _Optional[_Union[DestroyServer, _Mapping]] = ..., power_on: _Optional[_Union[PowerOnServer, _Mapping]] = ..., power_off: _Optional[_Union[PowerOffServer, _Mapping]] = ..., reboot: _Optional[_Union[RebootServer, _Mapping]] = ..., refresh_console: _Optional[_Union[RefreshConsole, _Mapping]] = ..., open_console: _Optional[_Union[OpenConsole, _Mapping]] = ..., snapshot: _Optional[_Union[SnapshotServer, _Mapping]] = ..., rebuild: _Optional[_Union[RebuildServer, _Mapping]] = ..., pause: _Optional[_Union[PauseServer, _Mapping]] = ..., unpause: _Optional[_Union[UnpauseServer, _Mapping]] = ..., suspend: _Optional[_Union[SuspendServer, _Mapping]] = ..., resume: _Optional[_Union[ResumeServer, _Mapping]] = ..., resize: _Optional[_Union[ResizeServer, _Mapping]] = ..., confirm_resize: _Optional[_Union[ConfirmResize, _Mapping]] = ..., revert_resize: _Optional[_Union[RevertResize, _Mapping]] = ..., attach_port: _Optional[_Union[AttachServerPort, _Mapping]] = ..., detach_port: _Optional[_Union[DetachServerPort, _Mapping]] = ..., live_migrate: _Optional[_Union[LiveMigrateServer, _Mapping]] = ..., abort_migration: _Optional[_Union[AbortMigration, _Mapping]] = ..., attach_volume: _Optional[_Union[AttachServerVolume, _Mapping]] = ..., detach_volume: _Optional[_Union[DetachServerVolume, _Mapping]] = ...) -> None: ...

class SpawnImage(_message.Message):
    __slots__ = ("image_id", "disk_format", "vmware_disktype", "vmware_adaptertype", "hw_disk_bus", "architecture", "vm_mode", "os_type", "vmware_ostype", "sha256", "size", "virtual_size", "hw_vif_model")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    VMWARE_ADAPTERTYPE_FIELD_NUMBER: _ClassVar[int]
    HW_DISK_BUS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VM_MODE_FIELD_NUMBER: _ClassVar[int]
    OS_TYPE_FIELD_NUMBER: _ClassVar[int]
    VMWARE_OSTYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    VIRTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    HW_VIF_MODEL_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    disk_format: _disk_pb2.DiskFormat
    vmware_disktype: _disk_pb2.VmwareDiskType
    vmware_adaptertype: _disk_pb2.VmwareAdapterType
    hw_disk_bus: _disk_pb2.DiskBus
    architecture: str
    vm_mode: str
    os_type: str
    vmware_ostype: str
    sha256: str
    size: int
    virtual_size: int
    hw_vif_model: str
    def __init__(self, image_id: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ..., vmware_adaptertype: _Optional[_Union[_disk_pb2.VmwareAdapterType, str]] = ..., hw_disk_bus: _Optional[_Union[_disk_pb2.DiskBus, str]] = ..., architecture: _Optional[str] = ..., vm_mode: _Optional[str] = ..., os_type: _Optional[str] = ..., vmware_ostype: _Optional[str] = ..., sha256: _Optional[str] = ..., size: _Optional[int] = ..., virtual_size: _Optional[int] = ..., hw_vif_model: _Optional[str] = ...) -> None: ...

class SpawnServer(_message.Message):
    __slots__ = ("name", "hostname", "resources", "flavor_id", "extra_specs", "image", "public_keys", "user_data", "metadata", "project_id", "user_id", "availability_zone", "console_type", "attempt", "ports", "root_volume", "powered_off")
    class ExtraSpecsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_ID_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    USER_DATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    ROOT_VOLUME_FIELD_NUMBER: _ClassVar[int]
    POWERED_OFF_FIELD_NUMBER: _ClassVar[int]
    name: str
    hostname: str
    resources: _resources_pb2.Resources
    flavor_id: str
    extra_specs: _containers.ScalarMap[str, str]
    image: SpawnImage
    public_keys: _containers.RepeatedScalarFieldContainer[str]
    user_data: bytes
    metadata: _containers.ScalarMap[str, str]
    project_id: str
    user_id: str
    availability_zone: str
    console_type: _hypervisor_pb2.ConsoleType
    attempt: int
    ports: _containers.RepeatedCompositeFieldContainer[_bindings_pb2.PortBindingSpec]
    root_volume: VolumeConnection
    powered_off: bool
    def __init__(self, name: _Optional[str] = ..., hostname: _Optional[str] = ..., resources: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., flavor_id: _Optional[str] = ..., extra_specs: _Optional[_Mapping[str, str]] = ..., image: _Optional[_Union[SpawnImage, _Mapping]] = ..., public_keys: _Optional[_Iterable[str]] = ..., user_data: _Optional[bytes] = ..., metadata: _Optional[_Mapping[str, str]] = ..., project_id: _Optional[str] = ..., user_id: _Optional[str] = ..., availability_zone: _Optional[str] = ..., console_type: _Optional[_Union[_hypervisor_pb2.ConsoleType, str]] = ..., attempt: _Optional[int] = ..., ports: _Optional[_Iterable[_Union[_bindings_pb2.PortBindingSpec, _Mapping]]] = ..., root_volume: _Optional[_Union[VolumeConnection, _Mapping]] = ..., powered_off: _Optional[bool] = ...) -> None: ...

class DestroyServer(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class PowerOnServer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PowerOffServer(_message.Message):
    __slots__ = ("clean_shutdown_timeout",)
    CLEAN_SHUTDOWN_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    clean_shutdown_timeout: _duration_pb2.Duration
    def __init__(self, clean_shutdown_timeout: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class RebootServer(_message.Message):
    __slots__ = ("hard",)
    HARD_FIELD_NUMBER: _ClassVar[int]
    hard: bool
    def __init__(self, hard: _Optional[bool] = ...) -> None: ...

class RefreshConsole(_message.Message):
    __slots__ = ("type",)
    TYPE_FIELD_NUMBER: _ClassVar[int]
    type: _hypervisor_pb2.ConsoleType
    def __init__(self, type: _Optional[_Union[_hypervisor_pb2.ConsoleType, str]] = ...) -> None: ...

class SnapshotServer(_message.Message):
    __slots__ = ("image_id", "then_destroy")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    THEN_DESTROY_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    then_destroy: bool
    def __init__(self, image_id: _Optional[str] = ..., then_destroy: _Optional[bool] = ...) -> None: ...

class RebuildServer(_message.Message):
    __slots__ = ("image", "disk_gb", "powered_off")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    DISK_GB_FIELD_NUMBER: _ClassVar[int]
    POWERED_OFF_FIELD_NUMBER: _ClassVar[int]
    image: SpawnImage
    disk_gb: int
    powered_off: bool
    def __init__(self, image: _Optional[_Union[SpawnImage, _Mapping]] = ..., disk_gb: _Optional[int] = ..., powered_off: _Optional[bool] = ...) -> None: ...

class OpenConsole(_message.Message):
    __slots__ = ("password", "valid_for_s")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    VALID_FOR_S_FIELD_NUMBER: _ClassVar[int]
    password: str
    valid_for_s: float
    def __init__(self, password: _Optional[str] = ..., valid_for_s: _Optional[float] = ...) -> None: ...

class PauseServer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnpauseServer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SuspendServer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResumeServer(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ResizeServer(_message.Message):
    __slots__ = ("vcpus", "memory_mb", "disk_gb", "dest_host")
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_GB_FIELD_NUMBER: _ClassVar[int]
    DEST_HOST_FIELD_NUMBER: _ClassVar[int]
    vcpus: int
    memory_mb: int
    disk_gb: int
    dest_host: str
    def __init__(self, vcpus: _Optional[int] = ..., memory_mb: _Optional[int] = ..., disk_gb: _Optional[int] = ..., dest_host: _Optional[str] = ...) -> None: ...

class ConfirmResize(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RevertResize(_message.Message):
    __slots__ = ("vcpus", "memory_mb", "disk_gb", "dest_host")
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_GB_FIELD_NUMBER: _ClassVar[int]
    DEST_HOST_FIELD_NUMBER: _ClassVar[int]
    vcpus: int
    memory_mb: int
    disk_gb: int
    dest_host: str
    def __init__(self, vcpus: _Optional[int] = ..., memory_mb: _Optional[int] = ..., disk_gb: _Optional[int] = ..., dest_host: _Optional[str] = ...) -> None: ...

class AttachServerPort(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class DetachServerPort(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class LiveMigrateServer(_message.Message):
    __slots__ = ("dest_host", "dest_uri", "block_migration")
    DEST_HOST_FIELD_NUMBER: _ClassVar[int]
    DEST_URI_FIELD_NUMBER: _ClassVar[int]
    BLOCK_MIGRATION_FIELD_NUMBER: _ClassVar[int]
    dest_host: str
    dest_uri: str
    block_migration: bool
    def __init__(self, dest_host: _Optional[str] = ..., dest_uri: _Optional[str] = ..., block_migration: _Optional[bool] = ...) -> None: ...

class AbortMigration(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VolumeConnection(_message.Message):
    __slots__ = ("volume_id", "kind", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    volume_id: str
    kind: str
    attrs: _containers.ScalarMap[str, str]
    def __init__(self, volume_id: _Optional[str] = ..., kind: _Optional[str] = ..., attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class AttachServerVolume(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: VolumeConnection
    def __init__(self, volume: _Optional[_Union[VolumeConnection, _Mapping]] = ...) -> None: ...

class DetachServerVolume(_message.Message):
    __slots__ = ("volume",)
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    volume: VolumeConnection
    def __init__(self, volume: _Optional[_Union[VolumeConnection, _Mapping]] = ...) -> None: ...
