"""Optional driver verbs of a resize: a cold resize on this host, its confirm and its revert.

A small runtime-checkable protocol a driver implements or does not (never a stub), registered
as the capability ``resize`` that hosts report; the runtime asks ``isinstance(driver,
Resize)`` before it calls ``driver.resize`` and answers a host that cannot with a failure
naming the verb (the api then leaves the server on its old flavor, with the fault).

A resize that moves the server to another host (``ResizeServer.dest_host``) is the
capability ``resize_move``: the host the server is on hands it over to the destination itself
(vSphere: RelocateVM to the destination cluster's resource pool, then ReconfigVM). A driver
without it refuses such a move; the scheduler's choice is then undone by the api.

Every verb is idempotent (a command may be delivered twice, or retried after a restart):
``resize`` of a server already at the size, with its old state kept, answers as done;
``confirm_resize`` with nothing kept and ``revert_resize`` of a server already back answer
as done too. They block, like every driver verb; the runtime calls them in its executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from polyvisor.agentkit.capabilities import capability
from polyvisor.agentkit.driver import Instance

__all__ = ["Resize", "ResizeMove", "Size"]


@dataclass(frozen=True, slots=True)
class Size:
    vcpus: int
    memory_mb: int
    disk_gb: int


@capability("resize")
@runtime_checkable
class Resize(Protocol):
    def resize(self, server_id: str, size: Size) -> Instance:
        """Cold resize: stop the server, keep what a revert needs (its disk and definition),
        grow its disk to ``size.disk_gb`` (never shrink it), give it the vCPUs and memory,
        start it again if it was running."""
        ...

    def confirm_resize(self, server_id: str) -> Instance:
        """Drop what ``resize`` kept."""
        ...

    def revert_resize(self, server_id: str, size: Size) -> Instance:
        """Back to what ``resize`` kept (``size`` is the old flavor, for a check), running if
        it was running before the resize."""
        ...


@capability("resize_move")
@runtime_checkable
class ResizeMove(Protocol):
    def resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
        """A resize that moves the server to ``dest_host`` (another host of this hypervisor
        type that this driver can hand it over to)."""
        ...

    def revert_resize_to(self, server_id: str, size: Size, dest_host: str) -> Instance:
        """Back to ``dest_host`` (where it was before) on the old ``size``."""
        ...
