import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NetworkType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NETWORK_TYPE_UNSPECIFIED: _ClassVar[NetworkType]
    NETWORK_TYPE_FLAT: _ClassVar[NetworkType]
    NETWORK_TYPE_VLAN: _ClassVar[NetworkType]

class IpVersion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IP_VERSION_UNSPECIFIED: _ClassVar[IpVersion]
    IP_VERSION_4: _ClassVar[IpVersion]
    IP_VERSION_6: _ClassVar[IpVersion]

class VifType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIF_TYPE_UNSPECIFIED: _ClassVar[VifType]
    VIF_TYPE_UNBOUND: _ClassVar[VifType]
    VIF_TYPE_BRIDGE: _ClassVar[VifType]
    VIF_TYPE_VMWARE_PORTGROUP: _ClassVar[VifType]

class BindingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BINDING_STATE_UNSPECIFIED: _ClassVar[BindingState]
    BINDING_STATE_UNBOUND: _ClassVar[BindingState]
    BINDING_STATE_PENDING: _ClassVar[BindingState]
    BINDING_STATE_ACTIVE: _ClassVar[BindingState]
    BINDING_STATE_FAILED: _ClassVar[BindingState]
NETWORK_TYPE_UNSPECIFIED: NetworkType
NETWORK_TYPE_FLAT: NetworkType
NETWORK_TYPE_VLAN: NetworkType
IP_VERSION_UNSPECIFIED: IpVersion
IP_VERSION_4: IpVersion
IP_VERSION_6: IpVersion
VIF_TYPE_UNSPECIFIED: VifType
VIF_TYPE_UNBOUND: VifType
VIF_TYPE_BRIDGE: VifType
VIF_TYPE_VMWARE_PORTGROUP: VifType
BINDING_STATE_UNSPECIFIED: BindingState
BINDING_STATE_UNBOUND: BindingState
BINDING_STATE_PENDING: BindingState
BINDING_STATE_ACTIVE: BindingState
BINDING_STATE_FAILED: BindingState

class Network(_message.Message):
    __slots__ = ("id", "name", "project_id", "network_type", "physical_network", "segmentation_id", "shared", "admin_state_up", "mtu", "subnet_ids", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    SUBNET_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    project_id: str
    network_type: NetworkType
    physical_network: str
    segmentation_id: int
    shared: bool
    admin_state_up: bool
    mtu: int
    subnet_ids: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., network_type: _Optional[_Union[NetworkType, str]] = ..., physical_network: _Optional[str] = ..., segmentation_id: _Optional[int] = ..., shared: _Optional[bool] = ..., admin_state_up: _Optional[bool] = ..., mtu: _Optional[int] = ..., subnet_ids: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AllocationPool(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: str
    end: str
    def __init__(self, start: _Optional[str] = ..., end: _Optional[str] = ...) -> None: ...

class HostRoute(_message.Message):
    __slots__ = ("destination", "nexthop")
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    NEXTHOP_FIELD_NUMBER: _ClassVar[int]
    destination: str
    nexthop: str
    def __init__(self, destination: _Optional[str] = ..., nexthop: _Optional[str] = ...) -> None: ...

class Subnet(_message.Message):
    __slots__ = ("id", "name", "project_id", "network_id", "ip_version", "cidr", "gateway_ip", "no_gateway", "allocation_pools", "dns_nameservers", "host_routes", "enable_dhcp", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_IP_FIELD_NUMBER: _ClassVar[int]
    NO_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_POOLS_FIELD_NUMBER: _ClassVar[int]
    DNS_NAMESERVERS_FIELD_NUMBER: _ClassVar[int]
    HOST_ROUTES_FIELD_NUMBER: _ClassVar[int]
    ENABLE_DHCP_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    project_id: str
    network_id: str
    ip_version: IpVersion
    cidr: str
    gateway_ip: str
    no_gateway: bool
    allocation_pools: _containers.RepeatedCompositeFieldContainer[AllocationPool]
    dns_nameservers: _containers.RepeatedScalarFieldContainer[str]
    host_routes: _containers.RepeatedCompositeFieldContainer[HostRoute]
    enable_dhcp: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., ip_version: _Optional[_Union[IpVersion, str]] = ..., cidr: _Optional[str] = ..., gateway_ip: _Optional[str] = ..., no_gateway: _Optional[bool] = ..., allocation_pools: _Optional[_Iterable[_Union[AllocationPool, _Mapping]]] = ..., dns_nameservers: _Optional[_Iterable[str]] = ..., host_routes: _Optional[_Iterable[_Union[HostRoute, _Mapping]]] = ..., enable_dhcp: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FixedIp(_message.Message):
    __slots__ = ("subnet_id", "ip_address")
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    subnet_id: str
    ip_address: str
    def __init__(self, subnet_id: _Optional[str] = ..., ip_address: _Optional[str] = ...) -> None: ...

class AllowedAddressPair(_message.Message):
    __slots__ = ("ip_address", "mac_address")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    mac_address: str
    def __init__(self, ip_address: _Optional[str] = ..., mac_address: _Optional[str] = ...) -> None: ...

class PortBinding(_message.Message):
    __slots__ = ("host", "vif_type", "state", "message", "port_security_enforced")
    HOST_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PORT_SECURITY_ENFORCED_FIELD_NUMBER: _ClassVar[int]
    host: str
    vif_type: VifType
    state: BindingState
    message: str
    port_security_enforced: bool
    def __init__(self, host: _Optional[str] = ..., vif_type: _Optional[_Union[VifType, str]] = ..., state: _Optional[_Union[BindingState, str]] = ..., message: _Optional[str] = ..., port_security_enforced: _Optional[bool] = ...) -> None: ...

class Port(_message.Message):
    __slots__ = ("id", "name", "project_id", "network_id", "mac_address", "fixed_ips", "device_owner", "device_id", "binding", "security_group_ids", "port_security_enabled", "allowed_address_pairs", "admin_state_up", "revision", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    FIXED_IPS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_OWNER_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    BINDING_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    PORT_SECURITY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ADDRESS_PAIRS_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    project_id: str
    network_id: str
    mac_address: str
    fixed_ips: _containers.RepeatedCompositeFieldContainer[FixedIp]
    device_owner: str
    device_id: str
    binding: PortBinding
    security_group_ids: _containers.RepeatedScalarFieldContainer[str]
    port_security_enabled: bool
    allowed_address_pairs: _containers.RepeatedCompositeFieldContainer[AllowedAddressPair]
    admin_state_up: bool
    revision: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., mac_address: _Optional[str] = ..., fixed_ips: _Optional[_Iterable[_Union[FixedIp, _Mapping]]] = ..., device_owner: _Optional[str] = ..., device_id: _Optional[str] = ..., binding: _Optional[_Union[PortBinding, _Mapping]] = ..., security_group_ids: _Optional[_Iterable[str]] = ..., port_security_enabled: _Optional[bool] = ..., allowed_address_pairs: _Optional[_Iterable[_Union[AllowedAddressPair, _Mapping]]] = ..., admin_state_up: _Optional[bool] = ..., revision: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateNetworkRequest(_message.Message):
    __slots__ = ("request_id", "network")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    network: Network
    def __init__(self, request_id: _Optional[str] = ..., network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class CreateNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: Network
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class GetNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class GetNetworkResponse(_message.Message):
    __slots__ = ("network",)
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    network: Network
    def __init__(self, network: _Optional[_Union[Network, _Mapping]] = ...) -> None: ...

class ListNetworksRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "name", "all_projects")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    name: str
    all_projects: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., name: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListNetworksResponse(_message.Message):
    __slots__ = ("networks", "next_page_token")
    NETWORKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    networks: _containers.RepeatedCompositeFieldContainer[Network]
    next_page_token: str
    def __init__(self, networks: _Optional[_Iterable[_Union[Network, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteNetworkRequest(_message.Message):
    __slots__ = ("network_id",)
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    network_id: str
    def __init__(self, network_id: _Optional[str] = ...) -> None: ...

class DeleteNetworkResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateSubnetRequest(_message.Message):
    __slots__ = ("request_id", "subnet")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    subnet: Subnet
    def __init__(self, request_id: _Optional[str] = ..., subnet: _Optional[_Union[Subnet, _Mapping]] = ...) -> None: ...

class CreateSubnetResponse(_message.Message):
    __slots__ = ("subnet",)
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    subnet: Subnet
    def __init__(self, subnet: _Optional[_Union[Subnet, _Mapping]] = ...) -> None: ...

class GetSubnetRequest(_message.Message):
    __slots__ = ("subnet_id",)
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    subnet_id: str
    def __init__(self, subnet_id: _Optional[str] = ...) -> None: ...

class GetSubnetResponse(_message.Message):
    __slots__ = ("subnet",)
    SUBNET_FIELD_NUMBER: _ClassVar[int]
    subnet: Subnet
    def __init__(self, subnet: _Optional[_Union[Subnet, _Mapping]] = ...) -> None: ...

class ListSubnetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "network_id", "all_projects")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    network_id: str
    all_projects: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., network_id: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListSubnetsResponse(_message.Message):
    __slots__ = ("subnets", "next_page_token")
    SUBNETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    subnets: _containers.RepeatedCompositeFieldContainer[Subnet]
    next_page_token: str
    def __init__(self, subnets: _Optional[_Iterable[_Union[Subnet, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSubnetRequest(_message.Message):
    __slots__ = ("subnet_id",)
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    subnet_id: str
    def __init__(self, subnet_id: _Optional[str] = ...) -> None: ...

class DeleteSubnetResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreatePortRequest(_message.Message):
    __slots__ = ("request_id", "port")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    port: Port
    def __init__(self, request_id: _Optional[str] = ..., port: _Optional[_Union[Port, _Mapping]] = ...) -> None: ...

class CreatePortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: Port
    def __init__(self, port: _Optional[_Union[Port, _Mapping]] = ...) -> None: ...

class GetPortRequest(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class GetPortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: Port
    def __init__(self, port: _Optional[_Union[Port, _Mapping]] = ...) -> None: ...

class ListPortsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "network_id", "device_id", "host", "all_projects")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ALL_PROJECTS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    network_id: str
    device_id: str
    host: str
    all_projects: bool
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., network_id: _Optional[str] = ..., device_id: _Optional[str] = ..., host: _Optional[str] = ..., all_projects: _Optional[bool] = ...) -> None: ...

class ListPortsResponse(_message.Message):
    __slots__ = ("ports", "next_page_token")
    PORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ports: _containers.RepeatedCompositeFieldContainer[Port]
    next_page_token: str
    def __init__(self, ports: _Optional[_Iterable[_Union[Port, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdatePortRequest(_message.Message):
    __slots__ = ("port", "update_mask")
    PORT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    port: Port
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, port: _Optional[_Union[Port, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: Port
    def __init__(self, port: _Optional[_Union[Port, _Mapping]] = ...) -> None: ...

class DeletePortRequest(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class DeletePortResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
