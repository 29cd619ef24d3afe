import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hypervisor(_message.Message):
    __slots__ = ("id", "hostname", "hypervisor_type", "hypervisor_version", "state", "status", "disabled_reason", "availability_zone", "inventories", "total", "used", "reserved", "running_servers", "cluster_name", "drs_enabled", "esxi_hosts", "supported_instances", "native_disk_formats", "features", "host_ip", "last_report_time", "capabilities")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_SERVERS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    DRS_ENABLED_FIELD_NUMBER: _ClassVar[int]
    ESXI_HOSTS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    NATIVE_DISK_FORMATS_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    LAST_REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    hostname: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    hypervisor_version: str
    state: _hypervisor_pb2.HostState
    status: _hypervisor_pb2.HostStatus
    disabled_reason: str
    availability_zone: str
    inventories: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Inventory]
    total: _resources_pb2.Resources
    used: _resources_pb2.Resources
    reserved: _resources_pb2.Resources
    running_servers: int
    cluster_name: str
    drs_enabled: bool
    esxi_hosts: _containers.RepeatedCompositeFieldContainer[_hypervisor_pb2.EsxiHost]
    supported_instances: _containers.RepeatedCompositeFieldContainer[_hypervisor_pb2.SupportedInstance]
    native_disk_formats: _containers.RepeatedScalarFieldContainer[_disk_pb2.DiskFormat]
    features: _hypervisor_pb2.HypervisorFeatures
    host_ip: str
    last_report_time: _timestamp_pb2.Timestamp
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., hostname: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., hypervisor_version: _Optional[str] = ..., state: _Optional[_Union[_hypervisor_pb2.HostState, str]] = ..., status: _Optional[_Union[_hypervisor_pb2.HostStatus, str]] = ..., disabled_reason: _Optional[str] = ..., availability_zone: _Optional[str] = ..., inventories: _Optional[_Iterable[_Union[_resources_pb2.Inventory, _Mapping]]] = ..., total: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., used: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., reserved: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., running_servers: _Optional[int] = ..., cluster_name: _Optional[str] = ..., drs_enabled: _Optional[bool] = ..., esxi_hosts: _Optional[_Iterable[_Union[_hypervisor_pb2.EsxiHost, _Mapping]]] = ..., supported_instances: _Optional[_Iterable[_Union[_hypervisor_pb2.SupportedInstance, _Mapping]]] = ..., native_disk_formats: _Optional[_Iterable[_Union[_disk_pb2.DiskFormat, str]]] = ..., features: _Optional[_Union[_hypervisor_pb2.HypervisorFeatures, _Mapping]] = ..., host_ip: _Optional[str] = ..., last_report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class ListHypervisorsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "hypervisor_type", "state", "status", "availability_zone")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    state: _hypervisor_pb2.HostState
    status: _hypervisor_pb2.HostStatus
    availability_zone: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., state: _Optional[_Union[_hypervisor_pb2.HostState, str]] = ..., status: _Optional[_Union[_hypervisor_pb2.HostStatus, str]] = ..., availability_zone: _Optional[str] = ...) -> None: ...

class ListHypervisorsResponse(_message.Message):
    __slots__ = ("hypervisors", "next_page_token")
    HYPERVISORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hypervisors: _containers.RepeatedCompositeFieldContainer[Hypervisor]
    next_page_token: str
    def __init__(self, hypervisors: _Optional[_Iterable[_Union[Hypervisor, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListAvailabilityZonesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAvailabilityZonesResponse(_message.Message):
    __slots__ = ("availability_zones",)
    AVAILABILITY_ZONES_FIELD_NUMBER: _ClassVar[int]
    availability_zones: _containers.RepeatedCompositeFieldContainer[AvailabilityZone]
    def __init__(self, availability_zones: _Optional[_Iterable[_Union[AvailabilityZone, _Mapping]]] = ...) -> None: ...

class AvailabilityZone(_message.Message):
    __slots__ = ("name", "available")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    available: bool
    def __init__(self, name: _Optional[str] = ..., available: _Optional[bool] = ...) -> None: ...

class GetHypervisorRequest(_message.Message):
    __slots__ = ("hypervisor_id",)
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    def __init__(self, hypervisor_id: _Optional[str] = ...) -> None: ...

class GetHypervisorResponse(_message.Message):
    __slots__ = ("hypervisor",)
    HYPERVISOR_FIELD_NUMBER: _ClassVar[int]
    hypervisor: Hypervisor
    def __init__(self, hypervisor: _Optional[_Union[Hypervisor, _Mapping]] = ...) -> None: ...

class EnableHypervisorRequest(_message.Message):
    __slots__ = ("hypervisor_id",)
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    def __init__(self, hypervisor_id: _Optional[str] = ...) -> None: ...

class EnableHypervisorResponse(_message.Message):
    __slots__ = ("hypervisor",)
    HYPERVISOR_FIELD_NUMBER: _ClassVar[int]
    hypervisor: Hypervisor
    def __init__(self, hypervisor: _Optional[_Union[Hypervisor, _Mapping]] = ...) -> None: ...

class DisableHypervisorRequest(_message.Message):
    __slots__ = ("hypervisor_id", "reason")
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    reason: str
    def __init__(self, hypervisor_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DisableHypervisorResponse(_message.Message):
    __slots__ = ("hypervisor",)
    HYPERVISOR_FIELD_NUMBER: _ClassVar[int]
    hypervisor: Hypervisor
    def __init__(self, hypervisor: _Optional[_Union[Hypervisor, _Mapping]] = ...) -> None: ...

class UnmanagedVm(_message.Message):
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

class ListUnmanagedVmsRequest(_message.Message):
    __slots__ = ("hypervisor_id",)
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    def __init__(self, hypervisor_id: _Optional[str] = ...) -> None: ...

class ListUnmanagedVmsResponse(_message.Message):
    __slots__ = ("vms",)
    VMS_FIELD_NUMBER: _ClassVar[int]
    vms: _containers.RepeatedCompositeFieldContainer[UnmanagedVm]
    def __init__(self, vms: _Optional[_Iterable[_Union[UnmanagedVm, _Mapping]]] = ...) -> None: ...

class DrainHypervisorRequest(_message.Message):
    __slots__ = ("hypervisor_id", "reason")
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    reason: str
    def __init__(self, hypervisor_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DrainedServer(_message.Message):
    __slots__ = ("server_id", "name", "outcome", "detail")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    name: str
    outcome: str
    detail: str
    def __init__(self, server_id: _Optional[str] = ..., name: _Optional[str] = ..., outcome: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class DrainHypervisorResponse(_message.Message):
    __slots__ = ("hypervisor", "servers")
    HYPERVISOR_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    hypervisor: Hypervisor
    servers: _containers.RepeatedCompositeFieldContainer[DrainedServer]
    def __init__(self, hypervisor: _Optional[_Union[Hypervisor, _Mapping]] = ..., servers: _Optional[_Iterable[_Union[DrainedServer, _Mapping]]] = ...) -> None: ...

class EvacuateHypervisorRequest(_message.Message):
    __slots__ = ("hypervisor_id", "reason")
    HYPERVISOR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    hypervisor_id: str
    reason: str
    def __init__(self, hypervisor_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class EvacuatedServer(_message.Message):
    __slots__ = ("server_id", "name", "outcome", "detail")
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    server_id: str
    name: str
    outcome: str
    detail: str
    def __init__(self, server_id: _Optional[str] = ..., name: _Optional[str] = ..., outcome: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class EvacuateHypervisorResponse(_message.Message):
    __slots__ = ("hypervisor", "servers")
    HYPERVISOR_FIELD_NUMBER: _ClassVar[int]
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    hypervisor: Hypervisor
    servers: _containers.RepeatedCompositeFieldContainer[EvacuatedServer]
    def __init__(self, hypervisor: _Optional[_Union[Hypervisor, _Mapping]] = ..., servers: _Optional[_Iterable[_Union[EvacuatedServer, _Mapping]]] = ...) -> None: ...
