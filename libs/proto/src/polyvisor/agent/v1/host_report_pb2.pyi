import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONNECTION_STATE_UNSPECIFIED: _ClassVar[ConnectionState]
    CONNECTION_STATE_CONNECTED: _ClassVar[ConnectionState]
    CONNECTION_STATE_DISCONNECTED: _ClassVar[ConnectionState]
CONNECTION_STATE_UNSPECIFIED: ConnectionState
CONNECTION_STATE_CONNECTED: ConnectionState
CONNECTION_STATE_DISCONNECTED: ConnectionState

class HostReport(_message.Message):
    __slots__ = ("host_id", "hostname", "hypervisor_type", "hypervisor_version", "state", "inventories", "supported_instances", "features", "availability_zone", "host_ip", "reported_at", "sequence", "agent_id", "report_interval", "server_count", "incarnation", "disk_formats", "cluster", "capabilities", "physical_networks", "resource_class")
    HOST_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    INVENTORIES_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    HOST_IP_FIELD_NUMBER: _ClassVar[int]
    REPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    SERVER_COUNT_FIELD_NUMBER: _ClassVar[int]
    INCARNATION_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMATS_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORKS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_CLASS_FIELD_NUMBER: _ClassVar[int]
    host_id: str
    hostname: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    hypervisor_version: str
    state: ConnectionState
    inventories: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Inventory]
    supported_instances: _containers.RepeatedCompositeFieldContainer[_hypervisor_pb2.SupportedInstance]
    features: _hypervisor_pb2.HypervisorFeatures
    availability_zone: str
    host_ip: str
    reported_at: _timestamp_pb2.Timestamp
    sequence: int
    agent_id: str
    report_interval: _duration_pb2.Duration
    server_count: int
    incarnation: str
    disk_formats: _containers.RepeatedCompositeFieldContainer[_disk_pb2.Rendition]
    cluster: _hypervisor_pb2.ClusterReport
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    physical_networks: _containers.RepeatedScalarFieldContainer[str]
    resource_class: str
    def __init__(self, host_id: _Optional[str] = ..., hostname: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., hypervisor_version: _Optional[str] = ..., state: _Optional[_Union[ConnectionState, str]] = ..., inventories: _Optional[_Iterable[_Union[_resources_pb2.Inventory, _Mapping]]] = ..., supported_instances: _Optional[_Iterable[_Union[_hypervisor_pb2.SupportedInstance, _Mapping]]] = ..., features: _Optional[_Union[_hypervisor_pb2.HypervisorFeatures, _Mapping]] = ..., availability_zone: _Optional[str] = ..., host_ip: _Optional[str] = ..., reported_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ..., agent_id: _Optional[str] = ..., report_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., server_count: _Optional[int] = ..., incarnation: _Optional[str] = ..., disk_formats: _Optional[_Iterable[_Union[_disk_pb2.Rendition, _Mapping]]] = ..., cluster: _Optional[_Union[_hypervisor_pb2.ClusterReport, _Mapping]] = ..., capabilities: _Optional[_Iterable[str]] = ..., physical_networks: _Optional[_Iterable[str]] = ..., resource_class: _Optional[str] = ...) -> None: ...
