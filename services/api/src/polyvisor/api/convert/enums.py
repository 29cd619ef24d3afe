"""Contract enums <-> the prefix-less names the domain and the database use."""

from __future__ import annotations

from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from polyvisor.common.errors import InvalidArgument
from polyvisor.compute.v1 import keypairs_pb2, servers_pb2
from polyvisor.events.v1 import server_events_pb2
from polyvisor.identity.v1 import identity_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.types.v1 import (
    disk_pb2,
    fault_pb2,
    hypervisor_pb2,
    network_pb2,
    server_group_pb2,
    server_status_pb2,
)


class EnumMap:
    """Both directions for one enum; value 0 (UNSPECIFIED) maps to ""."""

    def __init__(self, enum: EnumTypeWrapper, prefix: str) -> None:
        self.enum = enum
        self.prefix = prefix
        self.to_name: dict[int, str] = {}
        self.to_value: dict[str, int] = {}
        for full, value in enum.items():
            name = full.removeprefix(prefix)
            if value == 0:
                self.to_name[0] = ""
                continue
            self.to_name[value] = name
            self.to_value[name] = value

    def name(self, value: int) -> str:
        """The name of a value a client sent; InvalidArgument for an unknown value."""
        try:
            return self.to_name[value]
        except KeyError:
            raise InvalidArgument(
                f"unknown {self.prefix.rstrip('_').lower()} value {value}"
            ) from None

    def value(self, name: str) -> Any:
        return self.to_value.get(name, 0)


SERVER_STATE = EnumMap(server_status_pb2.ServerState, "SERVER_STATE_")
SERVER_TASK = EnumMap(server_status_pb2.ServerTask, "SERVER_TASK_")
POWER_STATE = EnumMap(hypervisor_pb2.PowerState, "POWER_STATE_")
HYPERVISOR_TYPE = EnumMap(hypervisor_pb2.HypervisorType, "HYPERVISOR_TYPE_")
CONSOLE_TYPE = EnumMap(hypervisor_pb2.ConsoleType, "CONSOLE_TYPE_")
HOST_STATE = EnumMap(hypervisor_pb2.HostState, "HOST_STATE_")
HOST_STATUS = EnumMap(hypervisor_pb2.HostStatus, "HOST_STATUS_")
FAULT_CODE = EnumMap(fault_pb2.FaultCode, "FAULT_CODE_")
DISK_FORMAT = EnumMap(disk_pb2.DiskFormat, "DISK_FORMAT_")
VMWARE_DISK_TYPE = EnumMap(disk_pb2.VmwareDiskType, "VMWARE_DISK_TYPE_")
VMWARE_ADAPTER_TYPE = EnumMap(disk_pb2.VmwareAdapterType, "VMWARE_ADAPTER_TYPE_")
DISK_BUS = EnumMap(disk_pb2.DiskBus, "DISK_BUS_")
ADDRESS_TYPE = EnumMap(network_pb2.AddressType, "ADDRESS_TYPE_")
SERVER_GROUP_POLICY = EnumMap(server_group_pb2.ServerGroupPolicy, "SERVER_GROUP_POLICY_")
EVENT_KIND = EnumMap(server_events_pb2.ServerEventKind, "SERVER_EVENT_KIND_")
CHANGE_TYPE = EnumMap(servers_pb2.ServerChangeType, "SERVER_CHANGE_TYPE_")
REBOOT_TYPE = EnumMap(servers_pb2.RebootType, "REBOOT_TYPE_")
KEYPAIR_TYPE = EnumMap(keypairs_pb2.KeypairType, "KEYPAIR_TYPE_")
KEY_ALGORITHM = EnumMap(keypairs_pb2.KeyAlgorithm, "KEY_ALGORITHM_")
IMAGE_STATUS = EnumMap(images_pb2.ImageStatus, "IMAGE_STATUS_")
ROLE = EnumMap(identity_pb2.Role, "ROLE_")


def role_name(value: int) -> str:
    """Role enum -> the lowercase role of tokens ("admin", ...)."""
    return ROLE.name(value).lower()


def role_value(name: str) -> Any:
    return ROLE.value(name.upper())
