from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConsoleOutputRequest(_message.Message):
    __slots__ = ("server_id", "lines")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    lines: int
    def __init__(self, server_id: _Optional[str] = ..., lines: _Optional[int] = ...) -> None: ...

class ConsoleOutputReply(_message.Message):
    __slots__ = ("output", "error", "error_kind")
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    output: str
    error: str
    error_kind: str
    def __init__(self, output: _Optional[str] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...

class UnmanagedVmsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UnmanagedVmsReply(_message.Message):
    __slots__ = ("vms", "error", "error_kind")
    class Vm(_message.Message):
        __slots__ = ("ref", "name", "vcpus", "memory_mb", "disk_gb", "power_state")
        REF_FIELD_NUMBER: _ClassVar[int]
        NAME_FIELD_NUMBER: _ClassVar[int]
        VCPUS_FIELD_NUMBER: _ClassVar[int]
        MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
        DISK_GB_FIELD_NUMBER: _ClassVar[int]
        POWER_STATE_FIELD_NUMBER: _ClassVar[int]
        ref: str
        name: str
        vcpus: int
        memory_mb: int
        disk_gb: int
        power_state: _hypervisor_pb2.PowerState
        def __init__(self, ref: _Optional[str] = ..., name: _Optional[str] = ..., vcpus: _Optional[int] = ..., memory_mb: _Optional[int] = ..., disk_gb: _Optional[int] = ..., power_state: _Optional[_Union[_hypervisor_pb2.PowerState, str]] = ...) -> None: ...
    VMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[UnmanagedVmsReply.Vm]
    error: str
    error_kind: str
    def __init__(self, vms: _Optional[_Iterable[_Union[UnmanagedVmsReply.Vm, _Mapping]]] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...

class AdoptVmRequest(_message.Message):
    __slots__ = ("server_id", "ref")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    ref: str
    def __init__(self, server_id: _Optional[str] = ..., ref: _Optional[str] = ...) -> None: ...

class AdoptVmReply(_message.Message):
    __slots__ = ("power_state", "instance_name", "member_host", "error", "error_kind")
    POWER_STATE_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_NAME_FIELD_NUMBER: _ClassVar[int]
    MEMBER_HOST_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    power_state: _hypervisor_pb2.PowerState
    instance_name: str
    member_host: str
    error: str
    error_kind: str
    def __init__(self, power_state: _Optional[_Union[_hypervisor_pb2.PowerState, str]] = ..., instance_name: _Optional[str] = ..., member_host: _Optional[str] = ..., error: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...
