from polyvisor.network.v1 import networks_pb2 as _networks_pb2
from polyvisor.network.v1 import security_groups_pb2 as _security_groups_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BoundIp(_message.Message):
    __slots__ = ("ip_address", "ip_version", "subnet_id", "cidr", "prefix_length", "gateway_ip", "dns_nameservers", "host_routes", "enable_dhcp")
    IP_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IP_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUBNET_ID_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    PREFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_IP_FIELD_NUMBER: _ClassVar[int]
    DNS_NAMESERVERS_FIELD_NUMBER: _ClassVar[int]
    HOST_ROUTES_FIELD_NUMBER: _ClassVar[int]
    ENABLE_DHCP_FIELD_NUMBER: _ClassVar[int]
    ip_address: str
    ip_version: _networks_pb2.IpVersion
    subnet_id: str
    cidr: str
    prefix_length: int
    gateway_ip: str
    dns_nameservers: _containers.RepeatedScalarFieldContainer[str]
    host_routes: _containers.RepeatedCompositeFieldContainer[_networks_pb2.HostRoute]
    enable_dhcp: bool
    def __init__(self, ip_address: _Optional[str] = ..., ip_version: _Optional[_Union[_networks_pb2.IpVersion, str]] = ..., subnet_id: _Optional[str] = ..., cidr: _Optional[str] = ..., prefix_length: _Optional[int] = ..., gateway_ip: _Optional[str] = ..., dns_nameservers: _Optional[_Iterable[str]] = ..., host_routes: _Optional[_Iterable[_Union[_networks_pb2.HostRoute, _Mapping]]] = ..., enable_dhcp: _Optional[bool] = ...) -> None: ...

class RemoteGroup(_message.Message):
    __slots__ = ("security_group_id", "addresses", "revision")
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    security_group_id: str
    addresses: _containers.RepeatedScalarFieldContainer[str]
    revision: int
    def __init__(self, security_group_id: _Optional[str] = ..., addresses: _Optional[_Iterable[str]] = ..., revision: _Optional[int] = ...) -> None: ...

class GroupMember(_message.Message):
    __slots__ = ("port_id", "port_revision", "addresses")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    PORT_REVISION_FIELD_NUMBER: _ClassVar[int]
    ADDRESSES_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    port_revision: int
    addresses: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, port_id: _Optional[str] = ..., port_revision: _Optional[int] = ..., addresses: _Optional[_Iterable[str]] = ...) -> None: ...

class PortBindingSpec(_message.Message):
    __slots__ = ("port_id", "project_id", "network_id", "network_type", "physical_network", "segmentation_id", "mtu", "admin_state_up", "mac_address", "ips", "port_security_enabled", "allowed_address_pairs", "security_group_ids", "rules", "remote_groups", "host", "vif_type", "device_id", "device_owner", "revision")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_ID_FIELD_NUMBER: _ClassVar[int]
    NETWORK_TYPE_FIELD_NUMBER: _ClassVar[int]
    PHYSICAL_NETWORK_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_ID_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    ADMIN_STATE_UP_FIELD_NUMBER: _ClassVar[int]
    MAC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    IPS_FIELD_NUMBER: _ClassVar[int]
    PORT_SECURITY_ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ADDRESS_PAIRS_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUP_IDS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    REMOTE_GROUPS_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_OWNER_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    project_id: str
    network_id: str
    network_type: _networks_pb2.NetworkType
    physical_network: str
    segmentation_id: int
    mtu: int
    admin_state_up: bool
    mac_address: str
    ips: _containers.RepeatedCompositeFieldContainer[BoundIp]
    port_security_enabled: bool
    allowed_address_pairs: _containers.RepeatedCompositeFieldContainer[_networks_pb2.AllowedAddressPair]
    security_group_ids: _containers.RepeatedScalarFieldContainer[str]
    rules: _containers.RepeatedCompositeFieldContainer[_security_groups_pb2.SecurityGroupRule]
    remote_groups: _containers.RepeatedCompositeFieldContainer[RemoteGroup]
    host: str
    vif_type: _networks_pb2.VifType
    device_id: str
    device_owner: str
    revision: int
    def __init__(self, port_id: _Optional[str] = ..., project_id: _Optional[str] = ..., network_id: _Optional[str] = ..., network_type: _Optional[_Union[_networks_pb2.NetworkType, str]] = ..., physical_network: _Optional[str] = ..., segmentation_id: _Optional[int] = ..., mtu: _Optional[int] = ..., admin_state_up: _Optional[bool] = ..., mac_address: _Optional[str] = ..., ips: _Optional[_Iterable[_Union[BoundIp, _Mapping]]] = ..., port_security_enabled: _Optional[bool] = ..., allowed_address_pairs: _Optional[_Iterable[_Union[_networks_pb2.AllowedAddressPair, _Mapping]]] = ..., security_group_ids: _Optional[_Iterable[str]] = ..., rules: _Optional[_Iterable[_Union[_security_groups_pb2.SecurityGroupRule, _Mapping]]] = ..., remote_groups: _Optional[_Iterable[_Union[RemoteGroup, _Mapping]]] = ..., host: _Optional[str] = ..., vif_type: _Optional[_Union[_networks_pb2.VifType, str]] = ..., device_id: _Optional[str] = ..., device_owner: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class BindPortRequest(_message.Message):
    __slots__ = ("port_id", "host", "vif_type", "device_id", "device_owner")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    VIF_TYPE_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_OWNER_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    host: str
    vif_type: _networks_pb2.VifType
    device_id: str
    device_owner: str
    def __init__(self, port_id: _Optional[str] = ..., host: _Optional[str] = ..., vif_type: _Optional[_Union[_networks_pb2.VifType, str]] = ..., device_id: _Optional[str] = ..., device_owner: _Optional[str] = ...) -> None: ...

class BindPortResponse(_message.Message):
    __slots__ = ("port", "spec")
    PORT_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    port: _networks_pb2.Port
    spec: PortBindingSpec
    def __init__(self, port: _Optional[_Union[_networks_pb2.Port, _Mapping]] = ..., spec: _Optional[_Union[PortBindingSpec, _Mapping]] = ...) -> None: ...

class UnbindPortRequest(_message.Message):
    __slots__ = ("port_id", "keep_device")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_DEVICE_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    keep_device: bool
    def __init__(self, port_id: _Optional[str] = ..., keep_device: _Optional[bool] = ...) -> None: ...

class UnbindPortResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: _networks_pb2.Port
    def __init__(self, port: _Optional[_Union[_networks_pb2.Port, _Mapping]] = ...) -> None: ...

class GetPortBindingSpecRequest(_message.Message):
    __slots__ = ("port_id",)
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    def __init__(self, port_id: _Optional[str] = ...) -> None: ...

class GetPortBindingSpecResponse(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: PortBindingSpec
    def __init__(self, spec: _Optional[_Union[PortBindingSpec, _Mapping]] = ...) -> None: ...

class SetPortBindingStateRequest(_message.Message):
    __slots__ = ("port_id", "host", "state", "message", "port_security_enforced", "revision")
    PORT_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PORT_SECURITY_ENFORCED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    port_id: str
    host: str
    state: _networks_pb2.BindingState
    message: str
    port_security_enforced: bool
    revision: int
    def __init__(self, port_id: _Optional[str] = ..., host: _Optional[str] = ..., state: _Optional[_Union[_networks_pb2.BindingState, str]] = ..., message: _Optional[str] = ..., port_security_enforced: _Optional[bool] = ..., revision: _Optional[int] = ...) -> None: ...

class SetPortBindingStateResponse(_message.Message):
    __slots__ = ("port",)
    PORT_FIELD_NUMBER: _ClassVar[int]
    port: _networks_pb2.Port
    def __init__(self, port: _Optional[_Union[_networks_pb2.Port, _Mapping]] = ...) -> None: ...

class GetSecurityGroupMembersRequest(_message.Message):
    __slots__ = ("security_group_id",)
    SECURITY_GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    security_group_id: str
    def __init__(self, security_group_id: _Optional[str] = ...) -> None: ...

class GetSecurityGroupMembersResponse(_message.Message):
    __slots__ = ("members", "ports")
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    PORTS_FIELD_NUMBER: _ClassVar[int]
    members: RemoteGroup
    ports: _containers.RepeatedCompositeFieldContainer[GroupMember]
    def __init__(self, members: _Optional[_Union[RemoteGroup, _Mapping]] = ..., ports: _Optional[_Iterable[_Union[GroupMember, _Mapping]]] = ...) -> None: ...
