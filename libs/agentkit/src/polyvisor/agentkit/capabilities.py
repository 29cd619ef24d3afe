"""Optional driver verbs: each a small protocol a driver opts into, reported by name.

The Driver protocol (``driver.py``) holds only what every hypervisor does. A verb that only
some drivers have (ports, volumes, snapshot, resize, migrate, suspend) comes as its own
``runtime_checkable`` Protocol registered here under a name. A driver implements the methods
or does not; ``capabilities_of(driver)`` names the protocols it implements, the driver puts
that list in its ``HostInfo.capabilities``, the host report carries it, and the scheduler only
places a request needing a capability on hosts that report it. So no driver ever carries a
stub raising NotImplementedError, and the runtime asks ``isinstance(driver, Suspend)`` before
it calls ``driver.suspend``.

Adding a capability (with the issue that brings the verb):

    @capability("suspend")
    @runtime_checkable
    class Suspend(Protocol):
        def suspend(self, server_id: str) -> Instance: ...
        def resume(self, server_id: str) -> Instance: ...

then implement both methods in the drivers that can, and nothing in the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

__all__ = [
    "CAPABILITIES",
    "ConsoleLog",
    "Pause",
    "Ports",
    "Suspend",
    "capabilities_of",
    "capability",
    "protocol_verbs",
]

#: Every capability protocol, by the name hosts report it under.
CAPABILITIES: dict[str, type] = {}

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_P = TypeVar("_P", bound=type)


def protocol_verbs(proto: type) -> tuple[str, ...]:
    """The public methods a capability protocol declares (its own, not Protocol's)."""
    return tuple(
        sorted(
            name
            for klass in proto.__mro__
            if klass.__dict__.get("_is_protocol", False) and klass.__name__ != "Protocol"
            for name, value in vars(klass).items()
            if not name.startswith("_") and callable(value)
        )
    )


def capability(name: str, registry: dict[str, type] | None = None) -> Callable[[_P], _P]:
    """Register a runtime-checkable Protocol as the capability ``name``."""
    target = CAPABILITIES if registry is None else registry
    if not _NAME.match(name):
        raise ValueError(f"capability name {name!r}: lower case letters, digits and _")

    def register(proto: _P) -> _P:
        if not getattr(proto, "_is_runtime_protocol", False):
            raise TypeError(
                f"capability {name}: {proto.__name__} is not a runtime_checkable Protocol"
            )
        if not protocol_verbs(proto):
            # An empty protocol would match every driver.
            raise TypeError(f"capability {name}: {proto.__name__} declares no method")
        if name in target and target[name] is not proto:
            raise ValueError(f"capability {name} is already {target[name].__name__}")
        target[name] = proto
        return proto

    return register


def capabilities_of(driver: Any, registry: Mapping[str, type] | None = None) -> tuple[str, ...]:
    """The names of the capability protocols ``driver`` implements, sorted."""
    reg = CAPABILITIES if registry is None else registry
    return tuple(sorted(name for name, proto in reg.items() if isinstance(driver, proto)))


@capability("ports")
@runtime_checkable
class Ports(Protocol):
    """The driver plumbs network ports (docs/networking.md). A server's ports bound to the
    host are plugged at spawn and unplugged at destroy; these verbs add one to, or remove
    one from, a server that exists (running or not). Both are idempotent: attaching an
    attached port and detaching a detached one succeed."""

    def attach_port(self, server_id: str, port_id: str) -> None: ...

    def detach_port(self, server_id: str, port_id: str) -> None: ...


# --------------------------------------------------------------------------- the verbs
# Imported here, after the registry: driver.py imports nothing from this module.
from polyvisor.agentkit.driver import Instance  # noqa: E402


@capability("pause")
@runtime_checkable
class Pause(Protocol):
    """Freeze a running VM in memory and let it run again (libvirt suspend/resume).

    Both are idempotent: pausing a paused VM and unpausing a running one succeed."""

    def pause(self, server_id: str) -> Instance: ...

    def unpause(self, server_id: str) -> Instance: ...


@capability("suspend")
@runtime_checkable
class Suspend(Protocol):
    """Save a running VM's memory to disk and stop it; restore it (libvirt managed save,
    vSphere SuspendVM_Task). The suspended VM reports PowerState.SUSPENDED.

    Both are idempotent: suspending a suspended VM and resuming a running one succeed."""

    def suspend(self, server_id: str) -> Instance: ...

    def resume(self, server_id: str) -> Instance: ...


@capability("console_log")
@runtime_checkable
class ConsoleLog(Protocol):
    """The server's serial console output as the hypervisor keeps it (KVM: the serial log
    file; VMware: the serial port's datastore file)."""

    def console_output(self, server_id: str, max_bytes: int) -> bytes:
        """At most the last ``max_bytes`` of it (b"" when nothing was written yet); raises
        InstanceNotFound for a server not on this host."""
        ...


@capability("guest_metadata")
@runtime_checkable
class GuestMetadata(Protocol):
    """The server's metadata (key/value) the host's metadata service tells its guest
    (meta_data.json "meta"); set at spawn, kept in step with the api by the reconciler."""

    def set_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        """Replace what the guest reads; raises InstanceNotFound for a server not here."""
        ...
