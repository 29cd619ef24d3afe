"""The api's domain objects: plain dataclasses, no protobuf.

A server's state, task and power state are enums (`State`, `Task`, `Power`) whose values are
the names of the contract enums without their prefix ("BUILDING", "SPAWNING", "RUNNING"): that
is how they are stored in PostgreSQL and how `convert` maps them. Fault codes and hypervisor
types are such names as plain strings ("TIMEOUT", "KVM").
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from polyvisor.common.server_enums import Task as Task

if TYPE_CHECKING:
    from polyvisor.api.resize_state import Resize


class State(enum.StrEnum):
    """A server's state (polyvisor.types.v1.ServerState)."""

    BUILDING = "BUILDING"
    ACTIVE = "ACTIVE"
    SHUTOFF = "SHUTOFF"
    REBOOTING = "REBOOTING"
    DELETING = "DELETING"
    ERROR = "ERROR"
    DELETED = "DELETED"
    # Snapshotted to an image; no host holds it (unshelve schedules it again).
    SHELVED_OFFLOADED = "SHELVED_OFFLOADED"
    PAUSED = "PAUSED"
    SUSPENDED = "SUSPENDED"
    # Resized; the old flavor and host are held until the resize is confirmed or reverted.
    VERIFY_RESIZE = "VERIFY_RESIZE"


class Power(enum.StrEnum):
    """A server's power state as its hypervisor reports it (polyvisor.types.v1.PowerState)."""

    NOSTATE = "NOSTATE"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SHUTDOWN = "SHUTDOWN"
    CRASHED = "CRASHED"
    SUSPENDED = "SUSPENDED"
    UNKNOWN = "UNKNOWN"


# Hypervisor types (polyvisor.types.v1.HypervisorType).
HYPERVISOR_TYPES = ("KVM", "QEMU", "VMWARE", "XEN", "LXC", "HYPERV")

# Roles (polyvisor.identity.v1.Role), as they appear in tokens.
ROLE_ADMIN = "admin"
ROLE_MEMBER = "member"
ROLE_READER = "reader"
ROLES = (ROLE_ADMIN, ROLE_MEMBER, ROLE_READER)


@dataclass(frozen=True, slots=True)
class Fault:
    """Why a server is in ERROR, or why its last operation failed."""

    code: str  # FaultCode name without prefix: "NO_VALID_HOST", "TIMEOUT", ...
    message: str
    host: str = ""
    details: str = ""
    time: datetime | None = None
    # The scheduler's explanation (NoValidHost as a JSON-able dict) for NO_VALID_HOST.
    no_valid_host: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "host": self.host,
            "details": self.details,
            "time": self.time.isoformat() if self.time else None,
            "no_valid_host": self.no_valid_host,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Fault | None:
        if not data:
            return None
        raw_time = data.get("time")
        return cls(
            code=str(data.get("code") or "INTERNAL"),
            message=str(data.get("message") or ""),
            host=str(data.get("host") or ""),
            details=str(data.get("details") or ""),
            time=datetime.fromisoformat(raw_time) if raw_time else None,
            no_valid_host=data.get("no_valid_host"),
        )


@dataclass(frozen=True, slots=True)
class Console:
    type: str  # "VNC", "SPICE", ...
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Address:
    network: str
    address: str
    version: int = 4
    mac_address: str = ""
    type: str = "FIXED"


@dataclass(frozen=True, slots=True)
class NetworkRef:
    """A network as the api needs it (the network service owns it)."""

    id: str
    name: str
    physical_network: str = ""


@dataclass(frozen=True, slots=True)
class PortRef:
    """A port as the api needs it (the network service owns it)."""

    id: str
    network_id: str
    project_id: str = ""
    device_id: str = ""
    host: str = ""
    port_security_enforced: bool = False
    port_security_enabled: bool = True
    mac_address: str = ""


@dataclass(frozen=True, slots=True)
class ServerFlavor:
    """The flavor a server was built from, copied at create time."""

    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    extra_specs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alternate:
    """A host the scheduler found suitable but did not claim (for reschedules)."""

    host: str
    hostname: str = ""
    hypervisor_type: str = ""
    availability_zone: str = ""
    # The rendition of the image this host boots, as the scheduler named it ("" = unknown).
    disk_format: str = ""  # RAW, QCOW2, VMDK
    vmware_disktype: str = ""


@dataclass(frozen=True, slots=True)
class ServerAction:
    """One request made to a server (its action history, as Nova's instance actions)."""

    server_id: str
    request_id: str
    project_id: str
    user_id: str
    action: str
    start_time: datetime
    finish_time: datetime | None = None
    result: str = "IN_PROGRESS"  # IN_PROGRESS, SUCCESS, ERROR
    fault: Fault | None = None


@dataclass(frozen=True, slots=True)
class Server:
    id: str
    project_id: str
    user_id: str
    name: str
    image_id: str
    flavor: ServerFlavor
    state: State
    task: Task
    power_state: Power
    desired_power_state: Power
    generation: int
    revision: int
    create_time: datetime
    update_time: datetime
    task_deadline: datetime | None = None
    fault: Fault | None = None
    host: str = ""
    hypervisor_type: str = ""
    esxi_host: str = ""
    availability_zone: str = ""
    addresses: tuple[Address, ...] = ()
    key_name: str = ""
    has_user_data: bool = False
    metadata: dict[str, str] = field(default_factory=dict)
    console: Console | None = None
    launch_time: datetime | None = None
    delete_time: datetime | None = None
    request_id: str = ""
    attempts: int = 0
    instance_name: str = ""
    command_attempts: int = 0
    tried_hosts: tuple[str, ...] = ()
    alternates: tuple[Alternate, ...] = ()
    last_request_id: str = ""
    # What the action in flight was asked (an image to make, an image to rebuild from): its
    # command is built from them again when it is retried.
    action_args: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # The resize in flight or waiting for confirmation (None: none; see `resize_state`).
    resize: Resize | None = None

    @property
    def transitional(self) -> bool:
        return self.task != Task.NONE


@dataclass(frozen=True, slots=True)
class MetadataPatch:
    """Keys to set and to remove, applied to a server's metadata as it stands when the update
    commits (so patches at once each apply). `replace`: first remove every key neither in
    `set` nor in `keep`."""

    set: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    replace: bool = False
    keep: tuple[str, ...] = ()

    def applied(self, current: dict[str, str]) -> dict[str, str]:
        if self.replace:
            current = {k: v for k, v in current.items() if k in self.keep}
        out = {k: v for k, v in current.items() if k not in self.remove}
        out.update(self.set)
        return out


@dataclass(frozen=True, slots=True)
class ServerChange:
    """One entry of a project's change log (what WatchServers streams)."""

    revision: int
    change_type: str  # CREATED, UPDATED, DELETED
    server: Server


@dataclass(frozen=True, slots=True)
class Observation:
    """When an agent last saw a server's power state, as recorded on the server: the event's
    generation, the agent process that sent it, and the time on that agent's clock (see
    `lifecycle.events.supersedes` for how two of them are ordered)."""

    generation: int
    agent_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Flavor:
    id: str
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int
    extra_specs: dict[str, str] = field(default_factory=dict)
    is_public: bool = True
    project_ids: tuple[str, ...] = ()
    description: str = ""
    create_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class Keypair:
    name: str
    fingerprint: str
    public_key: str
    type: str  # "SSH" or "X509"
    user_id: str
    project_id: str
    create_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    instances: int
    vcpus: int
    ram_mb: int


@dataclass(frozen=True, slots=True)
class Quota:
    project_id: str
    limits: QuotaLimits
    usage: QuotaLimits


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    name: str
    description: str = ""
    enabled: bool = True
    create_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    email: str = ""
    default_project_id: str = ""
    enabled: bool = True
    create_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    user_id: str
    project_id: str
    role: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    name: str
    user_id: str
    project_id: str
    prefix: str
    kind: str = "user"  # "user" or "service"
    create_time: datetime | None = None
    expire_time: datetime | None = None
    last_used_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """What the api needs to know about an image (from the image service)."""

    id: str
    name: str
    status: str  # ACTIVE, QUEUED, ...
    owner: str
    disk_format: str  # RAW, QCOW2, VMDK, ISO
    min_ram: int = 0
    min_disk: int = 0
    size: int = 0
    virtual_size: int = 0
    hypervisor_type: str = ""  # "" = not pinned
    architecture: str = ""
    vm_mode: str = ""
    vmware_disktype: str = ""
    vmware_adaptertype: str = ""
    hw_disk_bus: str = ""
    hw_vif_model: str = ""  # the image property hw_vif_model ("" = the hypervisor's default)
    os_type: str = ""
    vmware_ostype: str = ""
    # The image property img_hv_requested_version, e.g. ">=8.0" ("" = any version).
    hypervisor_version_requires: str = ""
    # Renditions that exist now (ACTIVE), as (disk_format, vmware_disktype, sha256, size).
    renditions: tuple[tuple[str, str, str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class ServerFilters:
    """What a server listing is narrowed to (empty: no narrowing)."""

    state: str = ""
    host: str = ""
    hypervisor_type: str = ""
    name: str = ""
    show_deleted: bool = False
    # Only servers having every one of these tags.
    tags: tuple[str, ...] = ()
