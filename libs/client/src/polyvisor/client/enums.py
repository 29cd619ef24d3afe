"""Enum values as people write them, both ways.

Protobuf enum values carry a prefix (`SERVER_STATE_ACTIVE`, `DISK_FORMAT_QCOW2`); people
write `ACTIVE`, `qcow2`, `vmware`, `streamOptimized`. `parse` accepts any of those spellings
(case, `_` and `-` do not matter); `display` gives the one spelling the CLI prints and the
SDK's dicts carry.
"""

from __future__ import annotations

from google.protobuf.descriptor import EnumDescriptor

from polyvisor.client.errors import InvalidValue
from polyvisor.compute.v1 import keypairs_pb2, servers_pb2
from polyvisor.image.v1 import images_pb2
from polyvisor.network.v1 import networks_pb2, security_groups_pb2
from polyvisor.types.v1 import (
    disk_pb2,
    fault_pb2,
    hypervisor_pb2,
    server_group_pb2,
    server_status_pb2,
)

__all__ = ["EnumValueError", "choices", "coerce", "display", "parse", "prefix_of"]

#: Enums printed in upper case, as operators know them (`ACTIVE`, `NO_VALID_HOST`).
_UPPER = {
    server_status_pb2.ServerState.DESCRIPTOR.full_name,
    fault_pb2.FaultCode.DESCRIPTOR.full_name,
    "polyvisor.compute.v1.ServerActionResult",
}

#: The vSphere spellings of the VMware image properties.
_CAMEL = {
    disk_pb2.VmwareDiskType.DESCRIPTOR.full_name,
    disk_pb2.VmwareAdapterType.DESCRIPTOR.full_name,
}
_CAMEL_SPECIAL = {"LSI_LOGIC_SAS": "lsiLogicsas"}

_PREFIXES: dict[str, str] = {}


class EnumValueError(InvalidValue):
    """A string that names no value of the enum."""


def prefix_of(desc: EnumDescriptor) -> str:
    """`SERVER_STATE_` for ServerState: the common prefix of the *_UNSPECIFIED value."""
    cached = _PREFIXES.get(desc.full_name)
    if cached is not None:
        return cached
    prefix = ""
    for value in desc.values:
        if value.number == 0 and value.name.endswith("_UNSPECIFIED"):
            prefix = value.name[: -len("UNSPECIFIED")]
            break
    _PREFIXES[desc.full_name] = prefix
    return prefix


def _bare(desc: EnumDescriptor, name: str) -> str:
    prefix = prefix_of(desc)
    return name[len(prefix) :] if prefix and name.startswith(prefix) else name


def _camel(bare: str) -> str:
    if bare in _CAMEL_SPECIAL:
        return _CAMEL_SPECIAL[bare]
    head, *rest = bare.lower().split("_")
    return head + "".join(p.capitalize() for p in rest)


def display(desc: EnumDescriptor, number: int) -> str:
    """The printed name of a value: `ACTIVE`, `qcow2`, `vmware`, `streamOptimized`; "" for
    the unspecified value; the number itself when the enum does not know it."""
    value = desc.values_by_number.get(number)
    if value is None:
        return str(number)
    if number == 0:
        return ""
    bare = _bare(desc, value.name)
    if desc.full_name in _UPPER:
        return bare
    if desc.full_name in _CAMEL:
        return _camel(bare)
    return bare.lower()


def _key(text: str) -> str:
    return text.replace("_", "").replace("-", "").replace(" ", "").lower()


def parse(desc: EnumDescriptor, text: str) -> int:
    """The number of the value `text` names (any spelling); raises EnumValueError."""
    wanted = _key(text)
    if not wanted:
        raise EnumValueError(f"empty value; one of: {', '.join(choices(desc))}")
    for value in desc.values:
        if value.number == 0:
            continue
        if wanted in (_key(value.name), _key(_bare(desc, value.name))):
            return int(value.number)
    raise EnumValueError(f"unknown value {text!r}; one of: {', '.join(choices(desc))}")


def coerce(desc: EnumDescriptor, value: str | int | None) -> int:
    """A number for a request field: None and "" are unset (0), ints pass, strings parse."""
    if value is None or value == "":
        return 0
    if isinstance(value, int):
        return value
    return parse(desc, value)


def choices(desc: EnumDescriptor) -> list[str]:
    """The printed names of every value but the unspecified one."""
    return [display(desc, v.number) for v in desc.values if v.number != 0]


# Descriptors the rest of the package names often.
SERVER_STATE = server_status_pb2.ServerState.DESCRIPTOR
SERVER_TASK = server_status_pb2.ServerTask.DESCRIPTOR
POWER_STATE = hypervisor_pb2.PowerState.DESCRIPTOR
HYPERVISOR_TYPE = hypervisor_pb2.HypervisorType.DESCRIPTOR
HOST_STATE = hypervisor_pb2.HostState.DESCRIPTOR
HOST_STATUS = hypervisor_pb2.HostStatus.DESCRIPTOR
CONSOLE_TYPE = hypervisor_pb2.ConsoleType.DESCRIPTOR
DISK_FORMAT = disk_pb2.DiskFormat.DESCRIPTOR
CONTAINER_FORMAT = disk_pb2.ContainerFormat.DESCRIPTOR
VMWARE_DISK_TYPE = disk_pb2.VmwareDiskType.DESCRIPTOR
VMWARE_ADAPTER_TYPE = disk_pb2.VmwareAdapterType.DESCRIPTOR
DISK_BUS = disk_pb2.DiskBus.DESCRIPTOR
VISIBILITY = images_pb2.Visibility.DESCRIPTOR
IMAGE_STATUS = images_pb2.ImageStatus.DESCRIPTOR
RENDITION_STATUS = images_pb2.RenditionStatus.DESCRIPTOR
KEYPAIR_TYPE = keypairs_pb2.KeypairType.DESCRIPTOR
KEY_ALGORITHM = keypairs_pb2.KeyAlgorithm.DESCRIPTOR
REBOOT_TYPE = servers_pb2.RebootType.DESCRIPTOR
SERVER_GROUP_POLICY = server_group_pb2.ServerGroupPolicy.DESCRIPTOR
FAULT_CODE = fault_pb2.FaultCode.DESCRIPTOR
NETWORK_TYPE = networks_pb2.NetworkType.DESCRIPTOR
IP_VERSION = networks_pb2.IpVersion.DESCRIPTOR
VIF_TYPE = networks_pb2.VifType.DESCRIPTOR
BINDING_STATE = networks_pb2.BindingState.DESCRIPTOR
DIRECTION = security_groups_pb2.Direction.DESCRIPTOR
ETHERTYPE = security_groups_pb2.Ethertype.DESCRIPTOR
