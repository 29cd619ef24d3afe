import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.network.v1 import bindings_pb2 as _bindings_pb2
from polyvisor.network.v1 import networks_pb2 as _networks_pb2
from polyvisor.network.v1 import security_groups_pb2 as _security_groups_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PortEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORT_EVENT_KIND_UNSPECIFIED: _ClassVar[PortEventKind]
    PORT_EVENT_KIND_CREATED: _ClassVar[PortEventKind]
    PORT_EVENT_KIND_UPDATED: _ClassVar[PortEventKind]
    PORT_EVENT_KIND_BOUND: _ClassVar[PortEventKind]
    PORT_EVENT_KIND_UNBOUND: _ClassVar[PortEventKind]
    PORT_EVENT_KIND_BINDING_STATE: _ClassVar[PortEventKind]
    PORT_EVENT_KIND_DELETED: _ClassVar[PortEventKind]

class SecurityGroupEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SECURITY_GROUP_EVENT_KIND_UNSPECIFIED: _ClassVar[SecurityGroupEventKind]
    SECURITY_GROUP_EVENT_KIND_CREATED: _ClassVar[SecurityGroupEventKind]
    SECURITY_GROUP_EVENT_KIND_RULES_CHANGED: _ClassVar[SecurityGroupEventKind]
    SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED: _ClassVar[SecurityGroupEventKind]
    SECURITY_GROUP_EVENT_KIND_DELETED: _ClassVar[SecurityGroupEventKind]
PORT_EVENT_KIND_UNSPECIFIED: PortEventKind
PORT_EVENT_KIND_CREATED: PortEventKind
PORT_EVENT_KIND_UPDATED: PortEventKind
PORT_EVENT_KIND_BOUND: PortEventKind
PORT_EVENT_KIND_UNBOUND: PortEventKind
PORT_EVENT_KIND_BINDING_STATE: PortEventKind
PORT_EVENT_KIND_DELETED: PortEventKind
SECURITY_GROUP_EVENT_KIND_UNSPECIFIED: SecurityGroupEventKind
SECURITY_GROUP_EVENT_KIND_CREATED: SecurityGroupEventKind
SECURITY_GROUP_EVENT_KIND_RULES_CHANGED: SecurityGroupEventKind
SECURITY_GROUP_EVENT_KIND_MEMBERS_CHANGED: SecurityGroupEventKind
SECURITY_GROUP_EVENT_KIND_DELETED: SecurityGroupEventKind

class PortEvent(_message.Message):
    __slots__ = ("event_id", "kind", "port", "host", "occurred_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: PortEventKind
    port: _networks_pb2.Port
    host: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[_Union[PortEventKind, str]] = ..., port: _Optional[_Union[_networks_pb2.Port, _Mapping]] = ..., host: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SecurityGroupEvent(_message.Message):
    __slots__ = ("event_id", "kind", "security_group_id", "project_id", "revision", "rules", "members", "occurred_at", "member")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    MEMBER_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: SecurityGroupEventKind
    security_group_id: str
    project_id: str
    revision: int
    rules: _containers.RepeatedCompositeFieldContainer[_security_groups_pb2.SecurityGroupRule]
    members: _bindings_pb2.RemoteGroup
    occurred_at: _timestamp_pb2.Timestamp
    member: _bindings_pb2.GroupMember
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[_Union[SecurityGroupEventKind, str]] = ..., security_group_id: _Optional[str] = ..., project_id: _Optional[str] = ..., revision: _Optional[int] = ..., rules: _Optional[_Iterable[_Union[_security_groups_pb2.SecurityGroupRule, _Mapping]]] = ..., members: _Optional[_Union[_bindings_pb2.RemoteGroup, _Mapping]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., member: _Optional[_Union[_bindings_pb2.GroupMember, _Mapping]] = ...) -> None: ...
