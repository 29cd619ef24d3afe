import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import fault_pb2 as _fault_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import network_pb2 as _network_pb2
from polyvisor.types.v1 import server_status_pb2 as _server_status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVER_EVENT_KIND_UNSPECIFIED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_PROGRESS: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_SPAWNED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_SPAWN_FAILED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_POWERED_ON: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_POWERED_OFF: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_REBOOTED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_DESTROYED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_POWER_STATE_CHANGED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_VANISHED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_CONSOLE_UPDATED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_COMMAND_FAILED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_MIGRATED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_ADDRESSES_CHANGED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_UNWANTED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_SNAPSHOTTED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_REBUILT: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_PAUSED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_UNPAUSED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_SUSPENDED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_RESUMED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_RESIZED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_RESIZE_CONFIRMED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_RESIZE_REVERTED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_PORT_ATTACHED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_PORT_DETACHED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_VOLUME_ATTACHED: _ClassVar[ServerEventKind]
    SERVER_EVENT_KIND_VOLUME_DETACHED: _ClassVar[ServerEventKind]
SERVER_EVENT_KIND_UNSPECIFIED: ServerEventKind
SERVER_EVENT_KIND_PROGRESS: ServerEventKind
SERVER_EVENT_KIND_SPAWNED: ServerEventKind
SERVER_EVENT_KIND_SPAWN_FAILED: ServerEventKind
SERVER_EVENT_KIND_POWERED_ON: ServerEventKind
SERVER_EVENT_KIND_POWERED_OFF: ServerEventKind
SERVER_EVENT_KIND_REBOOTED: ServerEventKind
SERVER_EVENT_KIND_DESTROYED: ServerEventKind
SERVER_EVENT_KIND_POWER_STATE_CHANGED: ServerEventKind
SERVER_EVENT_KIND_VANISHED: ServerEventKind
SERVER_EVENT_KIND_CONSOLE_UPDATED: ServerEventKind
SERVER_EVENT_KIND_COMMAND_FAILED: ServerEventKind
SERVER_EVENT_KIND_MIGRATED: ServerEventKind
SERVER_EVENT_KIND_ADDRESSES_CHANGED: ServerEventKind
SERVER_EVENT_KIND_UNWANTED: ServerEventKind
SERVER_EVENT_KIND_SNAPSHOTTED: ServerEventKind
SERVER_EVENT_KIND_REBUILT: ServerEventKind
SERVER_EVENT_KIND_PAUSED: ServerEventKind
SERVER_EVENT_KIND_UNPAUSED: ServerEventKind
SERVER_EVENT_KIND_SUSPENDED: ServerEventKind
SERVER_EVENT_KIND_RESUMED: ServerEventKind
SERVER_EVENT_KIND_RESIZED: ServerEventKind
SERVER_EVENT_KIND_RESIZE_CONFIRMED: ServerEventKind
SERVER_EVENT_KIND_RESIZE_REVERTED: ServerEventKind
SERVER_EVENT_KIND_PORT_ATTACHED: ServerEventKind
SERVER_EVENT_KIND_PORT_DETACHED: ServerEventKind
SERVER_EVENT_KIND_VOLUME_ATTACHED: ServerEventKind
SERVER_EVENT_KIND_VOLUME_DETACHED: ServerEventKind

class ServerEvent(_message.Message):
    __slots__ = ("event_id", "server_id", "generation", "host", "kind", "power_state", "fault", "esxi_host", "console", "occurred_at", "command_id", "request_id", "task", "instance_name", "agent_id", "addresses", "progress", "dest_host")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    FAULT_FIELD_NUMBER: _ClassVar[int]
    ESXI_HOST_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    DEST_HOST_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    server_id: str
    generation: int
    host: str
    kind: ServerEventKind
    power_state: _hypervisor_pb2.PowerState
    fault: _fault_pb2.Fault
    esxi_host: str
    console: _hypervisor_pb2.ConsoleInfo
    occurred_at: _timestamp_pb2.Timestamp
    command_id: str
    request_id: str
    task: _server_status_pb2.ServerTask
    instance_name: str
    agent_id: str
    addresses: _containers.RepeatedCompositeFieldContainer[_network_pb2.ServerAddress]
    progress: int
    dest_host: str
    def __init__(self, event_id: _Optional[str] = ..., server_id: _Optional[str] = ..., generation: _Optional[int] = ..., host: _Optional[str] = ..., kind: _Optional[_Union[ServerEventKind, str]] = ..., power_state: _Optional[_Union[_hypervisor_pb2.PowerState, str]] = ..., fault: _Optional[_Union[_fault_pb2.Fault, _Mapping]] = ..., esxi_host: _Optional[str] = ..., console: _Optional[_Union[_hypervisor_pb2.ConsoleInfo, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., command_id: _Optional[str] = ..., request_id: _Optional[str] = ..., task: _Optional[_Union[_server_status_pb2.ServerTask, str]] = ..., instance_name: _Optional[str] = ..., agent_id: _Optional[str] = ..., addresses: _Optional[_Iterable[_Union[_network_pb2.ServerAddress, _Mapping]]] = ..., progress: _Optional[int] = ..., dest_host: _Optional[str] = ...) -> None: ...
