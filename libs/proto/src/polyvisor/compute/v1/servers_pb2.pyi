import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import fault_pb2 as _fault_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import network_pb2 as _network_pb2
from polyvisor.types.v1 import resources_pb2 as _resources_pb2
from polyvisor.types.v1 import server_status_pb2 as _server_status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RebootType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REBOOT_TYPE_UNSPECIFIED: _ClassVar[RebootType]
    REBOOT_TYPE_SOFT: _ClassVar[RebootType]
    REBOOT_TYPE_HARD: _ClassVar[RebootType]

class ServerChangeType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_CHANGE_TYPE_UNSPECIFIED: _ClassVar[ServerChangeType]
    SERVER_CHANGE_TYPE_CREATED: _ClassVar[ServerChangeType]
    SERVER_CHANGE_TYPE_UPDATED: _ClassVar[ServerChangeType]
    SERVER_CHANGE_TYPE_DELETED: _ClassVar[ServerChangeType]
    SERVER_CHANGE_TYPE_SYNCED: _ClassVar[ServerChangeType]
REBOOT_TYPE_UNSPECIFIED: RebootType
REBOOT_TYPE_SOFT: RebootType
REBOOT_TYPE_HARD: RebootType
SERVER_CHANGE_TYPE_UNSPECIFIED: ServerChangeType
SERVER_CHANGE_TYPE_CREATED: ServerChangeType
SERVER_CHANGE_TYPE_UPDATED: ServerChangeType
SERVER_CHANGE_TYPE_DELETED: ServerChangeType
SERVER_CHANGE_TYPE_SYNCED: ServerChangeType

class Server(_message.Message):
    __slots__ = ("id", "name", "project_id", "user_id", "flavor", "image_id", "state", "task", "task_deadline", "power_state", "fault", "host", "hypervisor_type", "esxi_host", "availability_zone", "addresses", "key_name", "has_user_data", "metadata", "console", "create_time", "update_time", "launch_time", "delete_time", "generation", "request_id", "revision", "attempts", "instance_name", "tags", "resize")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TASK_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ESXI_HOST_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    HAS_USER_DATA_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_TIME_FIELD_NUMBER: _ClassVar[int]
    DELETE_TIME_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    project_id: str
    user_id: str
    flavor: ServerFlavor
    image_id: str
    state: _server_status_pb2.ServerState
    task: _server_status_pb2.ServerTask
    task_deadline: _timestamp_pb2.Timestamp
    power_state: _hypervisor_pb2.PowerState
    fault: _fault_pb2.Fault
    host: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    esxi_host: str
    availability_zone: str
    addresses: _containers.RepeatedCompositeFieldContainer[_network_pb2.ServerAddress]
    key_name: str
    has_user_data: bool
    metadata: _containers.ScalarMap[str, str]
    console: _hypervisor_pb2.ConsoleInfo
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    launch_time: _timestamp_pb2.Timestamp
    delete_time: _timestamp_pb2.Timestamp
    generation: int
    request_id: str
    revision: int
    attempts: int
    instance_name: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    resize: ServerResize
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., user_id: _Optional[str] = ..., flavor: _Optional[_Union[ServerFlavor, _Mapping]] = ..., image_id: _Optional[str] = ..., state: _Optional[_Union[_server_status_pb2.ServerState, str]] = ..., task: _Optional[_Union[_server_status_pb2.ServerTask, str]] = ..., task_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., power_state: _Optional[_Union[_hypervisor_pb2.PowerState, str]] = ..., fault: _Optional[_Union[_fault_pb2.Fault, _Mapping]] = ..., host: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., esxi_host: _Optional[str] = ..., availability_zone: _Optional[str] = ..., addresses: _Optional[_Iterable[_Union[_network_pb2.ServerAddress, _Mapping]]] = ..., key_name: _Optional[str] = ..., has_user_data: _Optional[bool] = ..., metadata: _Optional[_Mapping[str, str]] = ..., console: _Optional[_Union[_hypervisor_pb2.ConsoleInfo, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., launch_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., generation: _Optional[int] = ..., request_id: _Optional[str] = ..., revision: _Optional[int] = ..., attempts: _Optional[int] = ..., instance_name: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., resize: _Optional[_Union[ServerResize, _Mapping]] = ...) -> None: ...

class ServerResize(_message.Message):
    __slots__ = ("old_flavor", "source_host", "dest_host", "auto_confirm_time")
    OLD_FLAVOR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_HOST_FIELD_NUMBER: _ClassVar[int]
    DEST_HOST_FIELD_NUMBER: _ClassVar[int]
    AUTO_CONFIRM_TIME_FIELD_NUMBER: _ClassVar[int]
    old_flavor: ServerFlavor
    source_host: str
    dest_host: str
    auto_confirm_time: _timestamp_pb2.Timestamp
    def __init__(self, old_flavor: _Optional[_Union[ServerFlavor, _Mapping]] = ..., source_host: _Optional[str] = ..., dest_host: _Optional[str] = ..., auto_confirm_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ServerFlavor(_message.Message):
    __slots__ = ("id", "name", "resources", "extra_specs")
    class ExtraSpecsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    resources: _resources_pb2.Resources
    extra_specs: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., resources: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., extra_specs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ServerSpec(_message.Message):
    __slots__ = ("name", "image_id", "flavor_id", "key_name", "user_data", "availability_zone", "scheduler_hints", "metadata", "networks", "require_security_groups", "boot_volume_id", "boot_volume_delete_on_termination")
    class SchedulerHintsEntry(_message.Message):
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
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_DATA_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_HINTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    BOOT_VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    BOOT_VOLUME_DELETE_ON_TERMINATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    image_id: str
    flavor_id: str
    key_name: str
    user_data: bytes
    availability_zone: str
    scheduler_hints: _containers.ScalarMap[str, str]
    metadata: _containers.ScalarMap[str, str]
    networks: _containers.RepeatedCompositeFieldContainer[ServerNetwork]
    require_security_groups: bool
    boot_volume_id: str
    boot_volume_delete_on_termination: bool
    def __init__(self, name: _Optional[str] = ..., image_id: _Optional[str] = ..., flavor_id: _Optional[str] = ..., key_name: _Optional[str] = ..., user_data: _Optional[bytes] = ..., availability_zone: _Optional[str] = ..., scheduler_hints: _Optional[_Mapping[str, str]] = ..., metadata: _Optional[_Mapping[str, str]] = ..., networks: _Optional[_Iterable[_Union[ServerNetwork, _Mapping]]] = ..., require_security_groups: _Optional[bool] = ..., boot_volume_id: _Optional[str] = ..., boot_volume_delete_on_termination: _Optional[bool] = ...) -> None: ...

class ServerNetwork(_message.Message):
    __slots__ = ("network_id", "port_id", "fixed_ip")
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    FIXED_IP_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    port_id: str
    fixed_ip: str
    def __init__(self, network_id: _Optional[str] = ..., port_id: _Optional[str] = ..., fixed_ip: _Optional[str] = ...) -> None: ...

class CreateServerRequest(_message.Message):
    __slots__ = ("request_id", "server", "min_count", "max_count")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    MIN_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_COUNT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    server: ServerSpec
    min_count: int
    max_count: int
    def __init__(self, request_id: _Optional[str] = ..., server: _Optional[_Union[ServerSpec, _Mapping]] = ..., min_count: _Optional[int] = ..., max_count: _Optional[int] = ...) -> None: ...

class CreateServerResponse(_message.Message):
    __slots__ = ("servers",)
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[Server]
    def __init__(self, servers: _Optional[_Iterable[_Union[Server, _Mapping]]] = ...) -> None: ...

class GetServerRequest(_message.Message):
    __slots__ = ("server_id",)
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    def __init__(self, server_id: _Optional[str] = ...) -> None: ...

class GetServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ListServersRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state", "host", "hypervisor_type", "name", "project_id", "all_projects", "show_deleted", "tags")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    SHOW_DELETED_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _server_status_pb2.ServerState
    host: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    name: str
    project_id: str
    all_projects: bool
    show_deleted: bool
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_server_status_pb2.ServerState, str]] = ..., host: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., all_projects: _Optional[bool] = ..., show_deleted: _Optional[bool] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class ListServersResponse(_message.Message):
    __slots__ = ("servers", "next_page_token", "revision")
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[Server]
    next_page_token: str
    revision: int
    def __init__(self, servers: _Optional[_Iterable[_Union[Server, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class GetServersRevisionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServersRevisionResponse(_message.Message):
    __slots__ = ("revision",)
    REVISION_FIELD_NUMBER: _ClassVar[int]
    revision: int
    def __init__(self, revision: _Optional[int] = ...) -> None: ...

class UpdateServerRequest(_message.Message):
    __slots__ = ("server", "update_mask", "metadata_patch")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    METADATA_PATCH_FIELD_NUMBER: _ClassVar[int]
    server: Server
    update_mask: _field_mask_pb2.FieldMask
    metadata_patch: MetadataPatch
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., metadata_patch: _Optional[_Union[MetadataPatch, _Mapping]] = ...) -> None: ...

class MetadataPatch(_message.Message):
    __slots__ = ("set", "remove", "replace", "keep")
    class SetEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SET_FIELD_NUMBER: _ClassVar[int]
    REMOVE_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    set: _containers.ScalarMap[str, str]
    remove: _containers.RepeatedScalarFieldContainer[str]
    replace: bool
    keep: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, set: _Optional[_Mapping[str, str]] = ..., remove: _Optional[_Iterable[str]] = ..., replace: _Optional[bool] = ..., keep: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class DeleteServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeleteServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class StartServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class StartServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class StopServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class StopServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class CreateServerImageRequest(_message.Message):
    __slots__ = ("server_id", "name", "request_id", "properties")
    class PropertiesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    name: str
    request_id: str
    properties: _containers.ScalarMap[str, str]
    def __init__(self, server_id: _Optional[str] = ..., name: _Optional[str] = ..., request_id: _Optional[str] = ..., properties: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateServerImageResponse(_message.Message):
    __slots__ = ("server", "image_id")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    server: Server
    image_id: str
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ..., image_id: _Optional[str] = ...) -> None: ...

class RebuildServerRequest(_message.Message):
    __slots__ = ("server_id", "image_id", "request_id", "name", "metadata_patch")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    METADATA_PATCH_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    image_id: str
    request_id: str
    name: str
    metadata_patch: MetadataPatch
    def __init__(self, server_id: _Optional[str] = ..., image_id: _Optional[str] = ..., request_id: _Optional[str] = ..., name: _Optional[str] = ..., metadata_patch: _Optional[_Union[MetadataPatch, _Mapping]] = ...) -> None: ...

class RebuildServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ShelveServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ShelveServerResponse(_message.Message):
    __slots__ = ("server", "image_id")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    server: Server
    image_id: str
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ..., image_id: _Optional[str] = ...) -> None: ...

class UnshelveServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnshelveServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class PauseServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class PauseServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class UnpauseServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UnpauseServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class SuspendServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class SuspendServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ResumeServerRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResumeServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class AddServerPortRequest(_message.Message):
    __slots__ = ("server_id", "network", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    network: ServerNetwork
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., network: _Optional[_Union[ServerNetwork, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class AddServerPortResponse(_message.Message):
    __slots__ = ("server", "port_id")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    server: Server
    port_id: str
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ..., port_id: _Optional[str] = ...) -> None: ...

class RemoveServerPortRequest(_message.Message):
    __slots__ = ("server_id", "port_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    port_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., port_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RemoveServerPortResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class AttachVolumeRequest(_message.Message):
    __slots__ = ("server_id", "volume_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    volume_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., volume_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AttachVolumeResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class DetachVolumeRequest(_message.Message):
    __slots__ = ("server_id", "volume_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    VOLUME_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    volume_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., volume_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DetachVolumeResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class AddServerTagRequest(_message.Message):
    __slots__ = ("server_id", "tag")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    tag: str
    def __init__(self, server_id: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class AddServerTagResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class RemoveServerTagRequest(_message.Message):
    __slots__ = ("server_id", "tag")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    tag: str
    def __init__(self, server_id: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class RemoveServerTagResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class GetServerConsoleOutputRequest(_message.Message):
    __slots__ = ("server_id", "lines")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    lines: int
    def __init__(self, server_id: _Optional[str] = ..., lines: _Optional[int] = ...) -> None: ...

class GetServerConsoleOutputResponse(_message.Message):
    __slots__ = ("output",)
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    output: str
    def __init__(self, output: _Optional[str] = ...) -> None: ...

class RebootServerRequest(_message.Message):
    __slots__ = ("server_id", "type", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    type: RebootType
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., type: _Optional[_Union[RebootType, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RebootServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class GetServerConsoleRequest(_message.Message):
    __slots__ = ("server_id", "type")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    type: _hypervisor_pb2.ConsoleType
    def __init__(self, server_id: _Optional[str] = ..., type: _Optional[_Union[_hypervisor_pb2.ConsoleType, str]] = ...) -> None: ...

class GetServerConsoleResponse(_message.Message):
    __slots__ = ("type", "host", "port", "token", "expire_time", "url", "page_url")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PAGE_URL_FIELD_NUMBER: _ClassVar[int]
    type: _hypervisor_pb2.ConsoleType
    host: str
    port: int
    token: str
    expire_time: _timestamp_pb2.Timestamp
    url: str
    page_url: str
    def __init__(self, type: _Optional[_Union[_hypervisor_pb2.ConsoleType, str]] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., token: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., url: _Optional[str] = ..., page_url: _Optional[str] = ...) -> None: ...

class WatchServersRequest(_message.Message):
    __slots__ = ("project_id", "from_revision", "server_id", "all_projects")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_REVISION_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    from_revision: int
    server_id: str
    all_projects: bool
    def __init__(self, project_id: _Optional[str] = ..., from_revision: _Optional[int] = ..., server_id: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class WatchServersResponse(_message.Message):
    __slots__ = ("revision", "type", "server")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    revision: int
    type: ServerChangeType
    server: Server
    def __init__(self, revision: _Optional[int] = ..., type: _Optional[_Union[ServerChangeType, str]] = ..., server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ResizeServerRequest(_message.Message):
    __slots__ = ("server_id", "flavor_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    flavor_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., flavor_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResizeServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class MigrateServerRequest(_message.Message):
    __slots__ = ("server_id", "host", "live", "request_id", "hypervisor_type")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    host: str
    live: bool
    request_id: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    def __init__(self, server_id: _Optional[str] = ..., host: _Optional[str] = ..., live: _Optional[bool] = ..., request_id: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ...) -> None: ...

class MigrateServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class AbortServerMigrationRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class AbortServerMigrationResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class EvacuateServerRequest(_message.Message):
    __slots__ = ("server_id", "host")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    host: str
    def __init__(self, server_id: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class EvacuateServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ResetServerStateRequest(_message.Message):
    __slots__ = ("server_id", "state", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    state: _server_status_pb2.ServerState
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., state: _Optional[_Union[_server_status_pb2.ServerState, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResetServerStateResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class ConfirmResizeRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ConfirmResizeResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class RevertResizeRequest(_message.Message):
    __slots__ = ("server_id", "request_id")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    request_id: str
    def __init__(self, server_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RevertResizeResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...

class AdoptServerRequest(_message.Message):
    __slots__ = ("hypervisor_id", "vm_ref", "name", "project_id")
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    VM_REF_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    vm_ref: str
    name: str
    project_id: str
    def __init__(self, hypervisor_id: _Optional[str] = ..., vm_ref: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ...) -> None: ...

class AdoptServerResponse(_message.Message):
    __slots__ = ("server",)
    SERVER_FIELD_NUMBER: _ClassVar[int]
    server: Server
    def __init__(self, server: _Optional[_Union[Server, _Mapping]] = ...) -> None: ...
