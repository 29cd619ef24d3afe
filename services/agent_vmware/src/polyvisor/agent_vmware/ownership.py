"""Which VMs of our VM folder are ours: the folder may be shared by the agents of several
clusters (of one vCenter), so the server id tag alone says nothing about the owner.

A VM is ours when its extraConfig carries a server id (``polyvisor.server_id``) *and* our
host id (``polyvisor.host_id``), both set at spawn. Anything else is left alone:

- another agent's VM (another host id): silently;
- a VM with a server id but no host id, made by an agent older than the host tag: not ours
  either (it could belong to any cluster's agent), but logged once per server id, so an
  operator can tag it (``polyvisor.host_id`` = the owning agent's host id) to hand it back.

Pure: the driver feeds it the extraConfig it read.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping

from polyvisor.agent_vmware.specs import HOST_TAG_KEY, TAG_KEY
from polyvisor.common.logging import get_logger

__all__ = ["Owner", "Ownership"]

log = get_logger(__name__)


class Owner(enum.StrEnum):
    US = "us"
    OTHER = "other"  # another agent's host id
    LEGACY = "legacy"  # a server id, no host id: made before VMs carried one
    NOBODY = "nobody"  # not a polyvisor VM at all


class Ownership:
    """Sorts VMs by their tags for one host id; logs each legacy VM once."""

    def __init__(self, host_id: str = "") -> None:
        self.host_id = host_id
        self._lock = threading.Lock()
        self._legacy_logged: set[str] = set()

    def owner(self, extra: Mapping[str, str]) -> Owner:
        if not extra.get(TAG_KEY):
            return Owner.NOBODY
        host = extra.get(HOST_TAG_KEY, "")
        if not host:
            return Owner.LEGACY
        return Owner.US if self.host_id and host == self.host_id else Owner.OTHER

    def ours(self, extra: Mapping[str, str], *, vm: str = "") -> str:
        """The server id of a VM of ours, or "" (logging a legacy VM the first time)."""
        owner = self.owner(extra)
        if owner is Owner.US:
            return extra[TAG_KEY]
        if owner is Owner.LEGACY:
            self._log_legacy(extra[TAG_KEY], vm)
        return ""

    def _log_legacy(self, server_id: str, vm: str) -> None:
        with self._lock:
            if server_id in self._legacy_logged:
                return
            self._legacy_logged.add(server_id)
        log.warning(
            "VM tagged with a server id but no host id (made by an older agent): not ours, "
            "left alone; set its extraConfig polyvisor.host_id to the owning agent's host id "
            "to hand it back",
            server_id=server_id,
            vm=vm,
            host_id=self.host_id,
        )
