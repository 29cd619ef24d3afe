import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HostEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_EVENT_KIND_UNSPECIFIED: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_REGISTERED: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_UP: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_DOWN: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_ENABLED: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_DISABLED: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_LEASE_ACQUIRED: _ClassVar[HostEventKind]
    HOST_EVENT_KIND_LEASE_LOST: _ClassVar[HostEventKind]
HOST_EVENT_KIND_UNSPECIFIED: HostEventKind
HOST_EVENT_KIND_REGISTERED: HostEventKind
HOST_EVENT_KIND_UP: HostEventKind
HOST_EVENT_KIND_DOWN: HostEventKind
HOST_EVENT_KIND_ENABLED: HostEventKind
HOST_EVENT_KIND_DISABLED: HostEventKind
HOST_EVENT_KIND_LEASE_ACQUIRED: HostEventKind
HOST_EVENT_KIND_LEASE_LOST: HostEventKind

class HostEvent(_message.Message):
    __slots__ = ("event_id", "host_id", "kind", "hypervisor_type", "reason", "agent_id", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    host_id: str
    kind: HostEventKind
    hypervisor_type: _hypervisor_pb2.HypervisorType
    reason: str
    agent_id: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., host_id: _Optional[str] = ..., kind: _Optional[_Union[HostEventKind, str]] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., reason: _Optional[str] = ..., agent_id: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
