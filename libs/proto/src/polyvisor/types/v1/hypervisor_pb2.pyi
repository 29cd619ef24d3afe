from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HypervisorType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HYPERVISOR_TYPE_UNSPECIFIED: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_KVM: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_QEMU: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_VMWARE: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_XEN: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_LXC: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_HYPERV: _ClassVar[HypervisorType]
    HYPERVISOR_TYPE_BAREMETAL: _ClassVar[HypervisorType]

class PowerState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    POWER_STATE_UNSPECIFIED: _ClassVar[PowerState]
    POWER_STATE_NOSTATE: _ClassVar[PowerState]
    POWER_STATE_RUNNING: _ClassVar[PowerState]
    POWER_STATE_PAUSED: _ClassVar[PowerState]
    POWER_STATE_SHUTDOWN: _ClassVar[PowerState]
    POWER_STATE_CRASHED: _ClassVar[PowerState]
    POWER_STATE_SUSPENDED: _ClassVar[PowerState]
    POWER_STATE_UNKNOWN: _ClassVar[PowerState]

class HostState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_STATE_UNSPECIFIED: _ClassVar[HostState]
    HOST_STATE_UP: _ClassVar[HostState]
    HOST_STATE_DOWN: _ClassVar[HostState]

class HostStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HOST_STATUS_UNSPECIFIED: _ClassVar[HostStatus]
    HOST_STATUS_ENABLED: _ClassVar[HostStatus]
    HOST_STATUS_DISABLED: _ClassVar[HostStatus]

class EsxiConnectionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ESXI_CONNECTION_STATE_UNSPECIFIED: _ClassVar[EsxiConnectionState]
    ESXI_CONNECTION_STATE_CONNECTED: _ClassVar[EsxiConnectionState]
    ESXI_CONNECTION_STATE_DISCONNECTED: _ClassVar[EsxiConnectionState]
    ESXI_CONNECTION_STATE_NOT_RESPONDING: _ClassVar[EsxiConnectionState]

class ConsoleType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSOLE_TYPE_UNSPECIFIED: _ClassVar[ConsoleType]
    CONSOLE_TYPE_VNC: _ClassVar[ConsoleType]
    CONSOLE_TYPE_SPICE: _ClassVar[ConsoleType]
    CONSOLE_TYPE_SERIAL: _ClassVar[ConsoleType]
    CONSOLE_TYPE_WEBMKS: _ClassVar[ConsoleType]
HYPERVISOR_TYPE_UNSPECIFIED: HypervisorType
HYPERVISOR_TYPE_KVM: HypervisorType
HYPERVISOR_TYPE_QEMU: HypervisorType
HYPERVISOR_TYPE_VMWARE: HypervisorType
HYPERVISOR_TYPE_XEN: HypervisorType
HYPERVISOR_TYPE_LXC: HypervisorType
HYPERVISOR_TYPE_HYPERV: HypervisorType
HYPERVISOR_TYPE_BAREMETAL: HypervisorType
POWER_STATE_UNSPECIFIED: PowerState
POWER_STATE_NOSTATE: PowerState
POWER_STATE_RUNNING: PowerState
POWER_STATE_PAUSED: PowerState
POWER_STATE_SHUTDOWN: PowerState
POWER_STATE_CRASHED: PowerState
POWER_STATE_SUSPENDED: PowerState
POWER_STATE_UNKNOWN: PowerState
HOST_STATE_UNSPECIFIED: HostState
HOST_STATE_UP: HostState
HOST_STATE_DOWN: HostState
HOST_STATUS_UNSPECIFIED: HostStatus
HOST_STATUS_ENABLED: HostStatus
HOST_STATUS_DISABLED: HostStatus
ESXI_CONNECTION_STATE_UNSPECIFIED: EsxiConnectionState
ESXI_CONNECTION_STATE_CONNECTED: EsxiConnectionState
ESXI_CONNECTION_STATE_DISCONNECTED: EsxiConnectionState
ESXI_CONNECTION_STATE_NOT_RESPONDING: EsxiConnectionState
CONSOLE_TYPE_UNSPECIFIED: ConsoleType
CONSOLE_TYPE_VNC: ConsoleType
CONSOLE_TYPE_SPICE: ConsoleType
CONSOLE_TYPE_SERIAL: ConsoleType
CONSOLE_TYPE_WEBMKS: ConsoleType

class SupportedInstance(_message.Message):
    __slots__ = ("architecture", "hypervisor_type", "vm_mode")
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    HYPERVISOR_TYPE_FIELD_NUMBER: _ClassVar[int]
    VM_MODE_FIELD_NUMBER: _ClassVar[int]
    architecture: str
    hypervisor_type: HypervisorType
    vm_mode: str
    def __init__(self, architecture: _Optional[str] = ..., hypervisor_type: _Optional[_Union[HypervisorType, str]] = ..., vm_mode: _Optional[str] = ...) -> None: ...

class PortRange(_message.Message):
    __slots__ = ("min", "max")
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    min: int
    max: int
    def __init__(self, min: _Optional[int] = ..., max: _Optional[int] = ...) -> None: ...

class HypervisorFeatures(_message.Message):
    __slots__ = ("console_types", "key_injection", "user_data", "power_on", "power_off", "reboot_soft", "reboot_hard", "vnc_port_range", "security_groups")
    CONSOLE_TYPES_FIELD_NUMBER: _ClassVar[int]
    KEY_INJECTION_FIELD_NUMBER: _ClassVar[int]
    USER_DATA_FIELD_NUMBER: _ClassVar[int]
    POWER_ON_FIELD_NUMBER: _ClassVar[int]
    POWER_OFF_FIELD_NUMBER: _ClassVar[int]
    REBOOT_SOFT_FIELD_NUMBER: _ClassVar[int]
    REBOOT_HARD_FIELD_NUMBER: _ClassVar[int]
    VNC_PORT_RANGE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_GROUPS_FIELD_NUMBER: _ClassVar[int]
    console_types: _containers.RepeatedScalarFieldContainer[ConsoleType]
    key_injection: bool
    user_data: bool
    power_on: bool
    power_off: bool
    reboot_soft: bool
    reboot_hard: bool
    vnc_port_range: PortRange
    security_groups: bool
    def __init__(self, console_types: _Optional[_Iterable[_Union[ConsoleType, str]]] = ..., key_injection: _Optional[bool] = ..., user_data: _Optional[bool] = ..., power_on: _Optional[bool] = ..., power_off: _Optional[bool] = ..., reboot_soft: _Optional[bool] = ..., reboot_hard: _Optional[bool] = ..., vnc_port_range: _Optional[_Union[PortRange, _Mapping]] = ..., security_groups: _Optional[bool] = ...) -> None: ...

class EsxiHost(_message.Message):
    __slots__ = ("name", "moref", "connection_state", "in_maintenance", "cpu_cores", "cpu_threads", "cpu_mhz", "cpu_used_mhz", "memory_mb", "memory_used_mb", "vcpus_allocated", "memory_allocated_mb", "vm_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MOREF_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_STATE_FIELD_NUMBER: _ClassVar[int]
    IN_MAINTENANCE_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    CPU_THREADS_FIELD_NUMBER: _ClassVar[int]
    CPU_MHZ_FIELD_NUMBER: _ClassVar[int]
    CPU_USED_MHZ_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_MB_FIELD_NUMBER: _ClassVar[int]
    VCPUS_ALLOCATED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_ALLOCATED_MB_FIELD_NUMBER: _ClassVar[int]
    VM_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    moref: str
    connection_state: EsxiConnectionState
    in_maintenance: bool
    cpu_cores: int
    cpu_threads: int
    cpu_mhz: int
    cpu_used_mhz: int
    memory_mb: int
    memory_used_mb: int
    vcpus_allocated: int
    memory_allocated_mb: int
    vm_count: int
    def __init__(self, name: _Optional[str] = ..., moref: _Optional[str] = ..., connection_state: _Optional[_Union[EsxiConnectionState, str]] = ..., in_maintenance: _Optional[bool] = ..., cpu_cores: _Optional[int] = ..., cpu_threads: _Optional[int] = ..., cpu_mhz: _Optional[int] = ..., cpu_used_mhz: _Optional[int] = ..., memory_mb: _Optional[int] = ..., memory_used_mb: _Optional[int] = ..., vcpus_allocated: _Optional[int] = ..., memory_allocated_mb: _Optional[int] = ..., vm_count: _Optional[int] = ...) -> None: ...

class ClusterReport(_message.Message):
    __slots__ = ("name", "drs_enabled", "hosts")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRS_ENABLED_FIELD_NUMBER: _ClassVar[int]
    HOSTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    drs_enabled: bool
    hosts: _containers.RepeatedCompositeFieldContainer[EsxiHost]
    def __init__(self, name: _Optional[str] = ..., drs_enabled: _Optional[bool] = ..., hosts: _Optional[_Iterable[_Union[EsxiHost, _Mapping]]] = ...) -> None: ...

class ConsoleInfo(_message.Message):
    __slots__ = ("type", "host", "port")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    type: ConsoleType
    host: str
    port: int
    def __init__(self, type: _Optional[_Union[ConsoleType, str]] = ..., host: _Optional[str] = ..., port: _Optional[int] = ...) -> None: ...
