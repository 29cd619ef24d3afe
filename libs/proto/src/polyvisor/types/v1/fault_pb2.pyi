import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FaultCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAULT_CODE_UNSPECIFIED: _ClassVar[FaultCode]
    FAULT_CODE_NO_VALID_HOST: _ClassVar[FaultCode]
    FAULT_CODE_SPAWN_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_IMAGE_UNAVAILABLE: _ClassVar[FaultCode]
    FAULT_CODE_TIMEOUT: _ClassVar[FaultCode]
    FAULT_CODE_HOST_UNREACHABLE: _ClassVar[FaultCode]
    FAULT_CODE_RESCHEDULE_LIMIT: _ClassVar[FaultCode]
    FAULT_CODE_POWER_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_DESTROY_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_VANISHED: _ClassVar[FaultCode]
    FAULT_CODE_QUOTA_EXCEEDED: _ClassVar[FaultCode]
    FAULT_CODE_INTERNAL: _ClassVar[FaultCode]
    FAULT_CODE_SNAPSHOT_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_REBUILD_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_RESIZE_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_ATTACH_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_DETACH_FAILED: _ClassVar[FaultCode]
    FAULT_CODE_MIGRATION_FAILED: _ClassVar[FaultCode]
FAULT_CODE_UNSPECIFIED: FaultCode
FAULT_CODE_NO_VALID_HOST: FaultCode
FAULT_CODE_SPAWN_FAILED: FaultCode
FAULT_CODE_IMAGE_UNAVAILABLE: FaultCode
FAULT_CODE_TIMEOUT: FaultCode
FAULT_CODE_HOST_UNREACHABLE: FaultCode
FAULT_CODE_RESCHEDULE_LIMIT: FaultCode
FAULT_CODE_POWER_FAILED: FaultCode
FAULT_CODE_DESTROY_FAILED: FaultCode
FAULT_CODE_VANISHED: FaultCode
FAULT_CODE_QUOTA_EXCEEDED: FaultCode
FAULT_CODE_INTERNAL: FaultCode
FAULT_CODE_SNAPSHOT_FAILED: FaultCode
FAULT_CODE_REBUILD_FAILED: FaultCode
FAULT_CODE_RESIZE_FAILED: FaultCode
FAULT_CODE_ATTACH_FAILED: FaultCode
FAULT_CODE_DETACH_FAILED: FaultCode
FAULT_CODE_MIGRATION_FAILED: FaultCode

class Fault(_message.Message):
    __slots__ = ("code", "message", "host", "details", "time", "no_valid_host")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    NO_VALID_HOST_FIELD_NUMBER: _ClassVar[int]
    code: FaultCode
    message: str
    host: str
    details: str
    time: _timestamp_pb2.Timestamp
    no_valid_host: NoValidHost
    def __init__(self, code: _Optional[_Union[FaultCode, str]] = ..., message: _Optional[str] = ..., host: _Optional[str] = ..., details: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., no_valid_host: _Optional[_Union[NoValidHost, _Mapping]] = ...) -> None: ...

class HostRejection(_message.Message):
    __slots__ = ("host", "reason")
    HOST_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    host: str
    reason: str
    def __init__(self, host: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class FilterExplanation(_message.Message):
    __slots__ = ("filter", "hosts_before", "hosts_removed", "examples")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    HOSTS_BEFORE_FIELD_NUMBER: _ClassVar[int]
    HOSTS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    filter: str
    hosts_before: int
    hosts_removed: int
    examples: _containers.RepeatedCompositeFieldContainer[HostRejection]
    def __init__(self, filter: _Optional[str] = ..., hosts_before: _Optional[int] = ..., hosts_removed: _Optional[int] = ..., examples: _Optional[_Iterable[_Union[HostRejection, _Mapping]]] = ...) -> None: ...

class NoValidHost(_message.Message):
    __slots__ = ("total_hosts", "filters", "summary")
    TOTAL_HOSTS_FIELD_NUMBER: _ClassVar[int]
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    total_hosts: int
    filters: _containers.RepeatedCompositeFieldContainer[FilterExplanation]
    summary: str
    def __init__(self, total_hosts: _Optional[int] = ..., filters: _Optional[_Iterable[_Union[FilterExplanation, _Mapping]]] = ..., summary: _Optional[str] = ...) -> None: ...
