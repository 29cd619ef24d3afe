from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResourceClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOURCE_CLASS_UNSPECIFIED: _ClassVar[ResourceClass]
    RESOURCE_CLASS_VCPU: _ClassVar[ResourceClass]
    RESOURCE_CLASS_MEMORY_MB: _ClassVar[ResourceClass]
    RESOURCE_CLASS_DISK_GB: _ClassVar[ResourceClass]
RESOURCE_CLASS_UNSPECIFIED: ResourceClass
RESOURCE_CLASS_VCPU: ResourceClass
RESOURCE_CLASS_MEMORY_MB: ResourceClass
RESOURCE_CLASS_DISK_GB: ResourceClass

class Resources(_message.Message):
    __slots__ = ("vcpus", "memory_mb", "disk_gb")
    VCPUS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    DISK_GB_FIELD_NUMBER: _ClassVar[int]
    vcpus: int
    memory_mb: int
    disk_gb: int
    def __init__(self, vcpus: _Optional[int] = ..., memory_mb: _Optional[int] = ..., disk_gb: _Optional[int] = ...) -> None: ...

class Inventory(_message.Message):
    __slots__ = ("resource_class", "total", "reserved", "allocation_ratio", "min_unit", "max_unit", "step_size", "used")
    RESOURCE_CLASS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_RATIO_FIELD_NUMBER: _ClassVar[int]
    MIN_UNIT_FIELD_NUMBER: _ClassVar[int]
    MAX_UNIT_FIELD_NUMBER: _ClassVar[int]
    STEP_SIZE_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    resource_class: ResourceClass
    total: int
    reserved: int
    allocation_ratio: float
    min_unit: int
    max_unit: int
    step_size: int
    used: int
    def __init__(self, resource_class: _Optional[_Union[ResourceClass, str]] = ..., total: _Optional[int] = ..., reserved: _Optional[int] = ..., allocation_ratio: _Optional[float] = ..., min_unit: _Optional[int] = ..., max_unit: _Optional[int] = ..., step_size: _Optional[int] = ..., used: _Optional[int] = ...) -> None: ...
