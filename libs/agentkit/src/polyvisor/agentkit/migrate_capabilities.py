"""Optional driver verbs of a live migration: move a running server to another host of the same
hypervisor type without stopping it, and abort such a move.

A small runtime-checkable protocol a driver implements or does not (never a stub), registered
as the capability ``live_migrate`` that hosts report; the runtime asks ``isinstance(driver,
LiveMigrate)`` before it calls ``driver.live_migrate`` and answers a host that cannot with a
failure naming the verb.

A cold migration is not a verb of its own: it is a resize to the same size that moves hosts
(``resize_capabilities.ResizeMove.resize_to``), confirmed or reverted like one.

``live_migrate`` blocks until the server runs on the destination (then answers the server as
the destination sees it) or the move failed or was aborted (then raises ``DriverError`` and the
server still runs on the source, untouched). While it runs it reports ``MigrationProgress``
through ``progress`` (from the thread it runs in; the callback must not block).
``abort_migration`` is called from another thread while ``live_migrate`` runs; it answers
whether a move of that server was under way (and is now being cancelled). Both are idempotent:
``live_migrate`` of a server already on ``dest`` answers as done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from polyvisor.agentkit.capabilities import capability
from polyvisor.agentkit.driver import Instance

__all__ = ["LiveMigrate", "MigrationProgress", "MigrationTarget", "ProgressCallback"]


@dataclass(frozen=True, slots=True)
class MigrationTarget:
    """Where a server moves.

    ``host``: the destination host's id (its agent's host name, as the scheduler knows it).
    ``uri``: how the source's hypervisor reaches the destination's, when the driver needs it
    (KVM: the destination libvirtd's URI, e.g. ``qemu+tcp://10.0.0.2/system`` or
    ``qemu+unix:///system?socket=/run/libvirt-b/libvirt-sock``); "" lets the driver find it
    from its own configuration (agent_kvm: its ``migration_peers`` setting). vSphere ignores it
    (the vCenter knows its hosts).
    ``block``: copy the disks with the memory (no shared storage between the hosts); False when
    the disks are on storage both hosts see.
    """

    host: str
    uri: str = ""
    block: bool = True


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """Bytes of the move (memory and, for a block migration, disks) as the hypervisor counts
    them; ``total`` may grow while the guest dirties memory. 0/0 before anything is known."""

    processed: int
    total: int

    @property
    def percent(self) -> int:
        if self.total <= 0:
            return 0
        return max(0, min(100, self.processed * 100 // self.total))


ProgressCallback = Callable[[MigrationProgress], None]


@capability("live_migrate")
@runtime_checkable
class LiveMigrate(Protocol):
    def live_migrate(
        self, server_id: str, dest: MigrationTarget, progress: ProgressCallback
    ) -> Instance:
        """Move the running server to ``dest`` without stopping it; the server as ``dest``
        runs it. Raises ``DriverError`` (server left on the source) when it fails or is
        aborted."""
        ...

    def abort_migration(self, server_id: str) -> bool:
        """Cancel the live migration of ``server_id`` under way here; False when none runs."""
        ...
