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

class Provider(_message.Message):
    __slots__ = ("id", "hostname", "hypervisor_type", "hypervisor_version", "state", "status", "disabled_reason", "availability_zone", "inventories", "generation", "allocation_count", "supported_instances", "features", "host_ip", "last_report_time", "disk_formats", "cluster", "capabilities")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    LAST_REPORT_TIME_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMATS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
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
    generation: int
    allocation_count: int
    supported_instances: _containers.RepeatedCompositeFieldContainer[_hypervisor_pb2.SupportedInstance]
    features: _hypervisor_pb2.HypervisorFeatures
    host_ip: str
    last_report_time: _timestamp_pb2.Timestamp
    disk_formats: _containers.RepeatedCompositeFieldContainer[_disk_pb2.Rendition]
    cluster: _hypervisor_pb2.ClusterReport
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., hostname: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., hypervisor_version: _Optional[str] = ..., state: _Optional[_Union[_hypervisor_pb2.HostState, str]] = ..., status: _Optional[_Union[_hypervisor_pb2.HostStatus, str]] = ..., disabled_reason: _Optional[str] = ..., availability_zone: _Optional[str] = ..., inventories: _Optional[_Iterable[_Union[_resources_pb2.Inventory, _Mapping]]] = ..., generation: _Optional[int] = ..., allocation_count: _Optional[int] = ..., supported_instances: _Optional[_Iterable[_Union[_hypervisor_pb2.SupportedInstance, _Mapping]]] = ..., features: _Optional[_Union[_hypervisor_pb2.HypervisorFeatures, _Mapping]] = ..., host_ip: _Optional[str] = ..., last_report_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disk_formats: _Optional[_Iterable[_Union[_disk_pb2.Rendition, _Mapping]]] = ..., cluster: _Optional[_Union[_hypervisor_pb2.ClusterReport, _Mapping]] = ..., capabilities: _Optional[_Iterable[str]] = ...) -> None: ...

class Allocation(_message.Message):
    __slots__ = ("consumer_id", "provider_id", "resources", "project_id", "user_id", "create_time")
    CONSUMER_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    consumer_id: str
    provider_id: str
    resources: _resources_pb2.Resources
    project_id: str
    user_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, consumer_id: _Optional[str] = ..., provider_id: _Optional[str] = ..., resources: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., project_id: _Optional[str] = ..., user_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
