"""What a server's build needs after the create call returned (`SpawnSpec`): kept with the
server (column `spawn`, as JSON: `to_json`/`from_json`), read when it is scheduled and when
its spawn command is built."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from polyvisor.api import ids
from polyvisor.api import models as m
from polyvisor.common.auth import Principal
from polyvisor.common.errors import InvalidArgument, PermissionDenied

HINTS = ("force_host", "same_host", "different_host", "group", "hypervisor_type")


@dataclass(frozen=True, slots=True)
class Hints:
    """The scheduler hints of a create, validated (`hints`)."""

    force_host: str = ""
    same_host: tuple[str, ...] = ()
    different_host: tuple[str, ...] = ()
    group: str = ""
    # The group's policy, read when the server was created.
    group_policy: str = ""
    hypervisor_type: str = ""

    def to_json(self) -> dict[str, Any]:
        """Only the hints given (the stored shape since servers first had hints)."""
        out: dict[str, Any] = {}
        for name, value in (
            ("force_host", self.force_host),
            ("same_host", list(self.same_host)),
            ("different_host", list(self.different_host)),
            ("group", self.group),
            ("group_policy", self.group_policy),
            ("hypervisor_type", self.hypervisor_type),
        ):
            if value:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Hints:
        data = data or {}
        return cls(
            force_host=str(data.get("force_host") or ""),
            same_host=tuple(data.get("same_host") or ()),
            different_host=tuple(data.get("different_host") or ()),
            group=str(data.get("group") or ""),
            group_policy=str(data.get("group_policy") or ""),
            hypervisor_type=str(data.get("hypervisor_type") or ""),
        )


@dataclass(frozen=True, slots=True)
class Nic:
    """One NIC of the server: a port the api makes on `network_id` (with `fixed_ip` when
    asked), or the user's own port `port_id` (never deleted with the server)."""

    network_id: str = ""
    port_id: str = ""
    fixed_ip: str = ""
    # The network's name and physical network, read at create: the scheduler places the
    # server only on a host that reaches it, and names it when none does.
    network_name: str = ""
    physical_network: str = ""
    # The port the api made for a NIC added after the create (AddServerPort); a NIC of the
    # create finds its port by its index (the port's request id).
    made_port_id: str = ""
    # Taken off the server (RemoveServerPort, or an add that failed): kept in the list so
    # that the NICs after it keep their index.
    removed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Nic:
        return cls(
            network_id=str(data.get("network_id") or ""),
            port_id=str(data.get("port_id") or ""),
            fixed_ip=str(data.get("fixed_ip") or ""),
            made_port_id=str(data.get("made_port_id") or ""),
            removed=bool(data.get("removed")),
            network_name=str(data.get("network_name") or ""),
            physical_network=str(data.get("physical_network") or ""),
        )


#: What a host reports when its driver boots a server from a volume (its root disk).
BOOT_VOLUME_CAPABILITY = "boot_volume"


def volume_capability(kind: str) -> str:
    """The capability a host reports when its driver attaches volumes of backend `kind`."""
    return f"volume_{kind}"


@dataclass(frozen=True, slots=True)
class RootVolume:
    """The volume a server boots from, as its host attaches it (the volume service's backend
    kind and what that kind needs), reserved for the server when it was created."""

    volume_id: str
    kind: str
    attrs: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"volume_id": self.volume_id, "kind": self.kind, "attrs": dict(self.attrs)}

    def capabilities(self) -> tuple[str, ...]:
        """What the server's host must report: attaching the kind, booting from it."""
        return (volume_capability(self.kind), BOOT_VOLUME_CAPABILITY)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RootVolume | None:
        if not data:
            return None
        attrs = {str(k): str(v) for k, v in (data.get("attrs") or {}).items()}
        return cls(str(data.get("volume_id") or ""), str(data.get("kind") or ""), attrs)


#: The image of a server that boots from a volume: none (no disk format to ask a host for).
NO_IMAGE = m.ImageInfo(id="", name="", status="", owner="", disk_format="")


@dataclass(frozen=True, slots=True)
class SpawnSpec:
    image: m.ImageInfo
    hostname: str
    public_keys: tuple[str, ...] = ()
    hints: Hints = field(default_factory=Hints)
    console_type: str = "VNC"
    # The server's NICs in order (empty: none).
    nics: tuple[Nic, ...] = ()
    # Its host must enforce the security groups of its ports.
    require_security_groups: bool = False
    # It boots from this volume (then `image` is NO_IMAGE).
    root_volume: RootVolume | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": asdict(self.image),
            "public_keys": list(self.public_keys),
            "hostname": self.hostname,
            "hints": self.hints.to_json(),
            "console_type": self.console_type,
        }
        if self.nics:
            out["nics"] = [n.to_json() for n in self.nics]
        if self.require_security_groups:
            out["require_security_groups"] = True
        if self.root_volume is not None:
            out["root_volume"] = self.root_volume.to_json()
        return out

    def user_ports(self) -> frozenset[str]:
        """The ports the user passed in (kept when the server is deleted)."""
        return frozenset(n.port_id for n in self.nics if n.port_id and not n.removed)

    def plugged(self) -> tuple[Nic, ...]:
        """The NICs the server has now (the removed ones aside)."""
        return tuple(n for n in self.nics if not n.removed)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpawnSpec:
        image = dict(data.get("image") or {})
        image["renditions"] = tuple(tuple(r) for r in image.get("renditions") or ())
        return cls(
            image=m.ImageInfo(**image),
            hostname=str(data.get("hostname") or ""),
            public_keys=tuple(data.get("public_keys") or ()),
            hints=Hints.from_json(data.get("hints")),
            console_type=str(data.get("console_type", "VNC")),
            nics=tuple(Nic.from_json(n) for n in data.get("nics") or ()),
            require_security_groups=bool(data.get("require_security_groups")),
            root_volume=RootVolume.from_json(data.get("root_volume")),
        )


@dataclass(frozen=True, slots=True)
class Target:
    """The server a command is for, and what its spawn needs (read from the store)."""

    server: m.Server
    spec: SpawnSpec | None = None
    user_data: bytes | None = None
    # The binding specs of the server's ports on the command's host, in NIC order (the
    # network service's messages, carried as they are into the spawn command).
    ports: tuple[Any, ...] = ()


def hints(p: Principal, raw: dict[str, str]) -> Hints:
    """The scheduler hints of a create request, validated."""
    unknown = sorted(set(raw) - set(HINTS))
    if unknown:
        raise InvalidArgument(
            f"unknown scheduler hints: {', '.join(unknown)} (known: {', '.join(HINTS)})",
            {"field": "server.scheduler_hints"},
        )
    force_host = ""
    if raw.get("force_host"):
        if not p.is_admin:
            raise PermissionDenied("the force_host hint needs the admin role")
        force_host = raw["force_host"].strip()
    hosts: dict[str, tuple[str, ...]] = {}
    for key in ("same_host", "different_host"):
        values = tuple(v.strip() for v in raw.get(key, "").split(",") if v.strip())
        bad = [v for v in values if not ids.is_uuid(v)]
        if bad:
            raise InvalidArgument(
                f"{key} must list server ids; not ids: {', '.join(bad[:3])}",
                {"field": "server.scheduler_hints"},
            )
        hosts[key] = values
    hv = raw.get("hypervisor_type", "").strip().upper()
    if raw.get("hypervisor_type") and hv not in m.HYPERVISOR_TYPES:
        raise InvalidArgument(
            f"unknown hypervisor_type hint {raw['hypervisor_type']!r}",
            {"field": "server.scheduler_hints"},
        )
    return Hints(
        force_host=force_host,
        same_host=hosts["same_host"],
        different_host=hosts["different_host"],
        group=raw.get("group", "").strip(),
        hypervisor_type=hv,
    )


def hostname_for(name: str) -> str:
    """A guest hostname from a display name (RFC 1123 label, at most 63 characters)."""
    out = []
    for ch in name.lower():
        if ch.isascii() and (ch.isalnum() or ch == "-"):
            out.append(ch)
        elif ch in " _.":
            out.append("-")
    label = "".join(out).strip("-")[:63].strip("-")
    return label or "server"
