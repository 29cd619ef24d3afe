from polyvisor.types.v1 import disk_pb2 as _disk_pb2
from polyvisor.types.v1 import hypervisor_pb2 as _hypervisor_pb2
from polyvisor.types.v1 import resources_pb2 as _resources_pb2
from polyvisor.types.v1 import server_group_pb2 as _server_group_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServerGroup(_message.Message):
    __slots__ = ("id", "policy", "members")
    ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    id: str
    policy: _server_group_pb2.ServerGroupPolicy
    members: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., policy: _Optional[_Union[_server_group_pb2.ServerGroupPolicy, str]] = ..., members: _Optional[_Iterable[str]] = ...) -> None: ...

class ImageRequirements(_message.Message):
    __slots__ = ("image_id", "hypervisor_type", "architecture", "vm_mode", "disk_format", "available_disk_formats", "producible_disk_formats", "min_ram", "min_disk", "hypervisor_version_requires", "vmware_disktype")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VM_MODE_FIELD_NUMBER: _ClassVar[int]
    DISK_FORMAT_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_DISK_FORMATS_FIELD_NUMBER: _ClassVar[int]
    PRODUCIBLE_DISK_FORMATS_FIELD_NUMBER: _ClassVar[int]
    MIN_RAM_FIELD_NUMBER: _ClassVar[int]
    MIN_DISK_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_VERSION_REQUIRES_FIELD_NUMBER: _ClassVar[int]
    VMWARE_DISKTYPE_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    hypervisor_type: _hypervisor_pb2.HypervisorType
    architecture: str
    vm_mode: str
    disk_format: _disk_pb2.DiskFormat
    available_disk_formats: _containers.RepeatedScalarFieldContainer[_disk_pb2.DiskFormat]
    producible_disk_formats: _containers.RepeatedScalarFieldContainer[_disk_pb2.DiskFormat]
    min_ram: int
    min_disk: int
    hypervisor_version_requires: str
    vmware_disktype: _disk_pb2.VmwareDiskType
    def __init__(self, image_id: _Optional[str] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., architecture: _Optional[str] = ..., vm_mode: _Optional[str] = ..., disk_format: _Optional[_Union[_disk_pb2.DiskFormat, str]] = ..., available_disk_formats: _Optional[_Iterable[_Union[_disk_pb2.DiskFormat, str]]] = ..., producible_disk_formats: _Optional[_Iterable[_Union[_disk_pb2.DiskFormat, str]]] = ..., min_ram: _Optional[int] = ..., min_disk: _Optional[int] = ..., hypervisor_version_requires: _Optional[str] = ..., vmware_disktype: _Optional[_Union[_disk_pb2.VmwareDiskType, str]] = ...) -> None: ...

class HostRequirements(_message.Message):
    __slots__ = ("key_injection", "user_data", "console_type", "capabilities", "networks", "security_groups")
    KEY_INJECTION_FIELD_NUMBER: _ClassVar[int]
    USER_DATA_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    key_injection: bool
    user_data: bool
    console_type: _hypervisor_pb2.ConsoleType
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    networks: _containers.RepeatedCompositeFieldContainer[RequiredNetwork]
    security_groups: bool
    def __init__(self, key_injection: _Optional[bool] = ..., user_data: _Optional[bool] = ..., console_type: _Optional[_Union[_hypervisor_pb2.ConsoleType, str]] = ..., capabilities: _Optional[_Iterable[str]] = ..., networks: _Optional[_Iterable[_Union[RequiredNetwork, _Mapping]]] = ..., security_groups: _Optional[bool] = ...) -> None: ...

class RequiredNetwork(_message.Message):
    __slots__ = ("name", "physical_network")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    name: str
    physical_network: str
    def __init__(self, name: _Optional[str] = ..., physical_network: _Optional[str] = ...) -> None: ...

class SchedulerHints(_message.Message):
    __slots__ = ("force_host", "same_host", "different_host", "server_group", "hypervisor_type", "ignore_hosts")
    FORCE_HOST_FIELD_NUMBER: _ClassVar[int]
    SAME_HOST_FIELD_NUMBER: _ClassVar[int]
    DIFFERENT_HOST_FIELD_NUMBER: _ClassVar[int]
    SERVER_GROUP_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    IGNORE_HOSTS_FIELD_NUMBER: _ClassVar[int]
    force_host: str
    same_host: _containers.RepeatedScalarFieldContainer[str]
    different_host: _containers.RepeatedScalarFieldContainer[str]
    server_group: ServerGroup
    hypervisor_type: _hypervisor_pb2.HypervisorType
    ignore_hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, force_host: _Optional[str] = ..., same_host: _Optional[_Iterable[str]] = ..., different_host: _Optional[_Iterable[str]] = ..., server_group: _Optional[_Union[ServerGroup, _Mapping]] = ..., hypervisor_type: _Optional[_Union[_hypervisor_pb2.HypervisorType, str]] = ..., ignore_hosts: _Optional[_Iterable[str]] = ...) -> None: ...

class RequestSpec(_message.Message):
    __slots__ = ("request_id", "consumer_ids", "num_instances", "project_id", "user_id", "resources", "image", "availability_zone", "hints", "extra_specs", "requires")
    class ExtraSpecsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CONSUMER_IDS_FIELD_NUMBER: _ClassVar[int]
    NUM_INSTANCES_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    AVAILABILITY_ZONE_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SPECS_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    consumer_ids: _containers.RepeatedScalarFieldContainer[str]
    num_instances: int
    project_id: str
    user_id: str
    resources: _resources_pb2.Resources
    image: ImageRequirements
    availability_zone: str
    hints: SchedulerHints
    extra_specs: _containers.ScalarMap[str, str]
    requires: HostRequirements
    def __init__(self, request_id: _Optional[str] = ..., consumer_ids: _Optional[_Iterable[str]] = ..., num_instances: _Optional[int] = ..., project_id: _Optional[str] = ..., user_id: _Optional[str] = ..., resources: _Optional[_Union[_resources_pb2.Resources, _Mapping]] = ..., image: _Optional[_Union[ImageRequirements, _Mapping]] = ..., availability_zone: _Optional[str] = ..., hints: _Optional[_Union[SchedulerHints, _Mapping]] = ..., extra_specs: _Optional[_Mapping[str, str]] = ..., requires: _Optional[_Union[HostRequirements, _Mapping]] = ...) -> None: ...
