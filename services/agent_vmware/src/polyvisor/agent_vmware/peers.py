"""Which cluster of this vCenter another agent drives: how a move finds its destination.

A move (``resize_to``, a cold or live migration) names the destination by its host id, the
one the scheduler and the api know. Each agent announces itself on its own cluster in
vCenter, once per session generation: a custom attribute ``polyvisor.agent`` on the cluster
whose value is ``{"host_id": ..., "folder": "a/b"}`` (its VM folder). The agent that hands a
VM over reads them back to find the destination's cluster, its resource pool, its VM folder
and its datastores; no other service has to know which cluster an agent drives.

A host id of the default form (``<vCenter instanceUuid>:<cluster moref>``) of this vCenter
is found without an announcement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware.props import container_view, retrieve_one
from polyvisor.agentkit.driver import DriverError
from polyvisor.common.logging import get_logger

__all__ = ["FIELD", "Peer", "PeerNotFound", "announce", "find_peer"]

log = get_logger(__name__)

FIELD = "polyvisor.agent"


class PeerNotFound(DriverError):
    """No cluster of this vCenter is driven by the agent of that host id."""


@dataclass(frozen=True, slots=True)
class Peer:
    host_id: str
    cluster: vim.ClusterComputeResource
    folder: tuple[str, ...]  # the peer's VM folder under its datacenter's VM folder ("" unknown)


def _field_key(content: vim.ServiceInstanceContent, *, create: bool) -> int | None:
    manager = content.customFieldsManager
    if manager is None:
        return None
    for f in manager.field or ():
        if f.name == FIELD and f.managedObjectType in (None, vim.ClusterComputeResource):
            return int(f.key)
    if not create:
        return None
    try:
        return int(
            manager.AddFieldDefinition(
                name=FIELD, moType=vim.ClusterComputeResource, fieldDefPolicy=None, fieldPolicy=None
            ).key
        )
    except vim.fault.DuplicateName:
        return _field_key(content, create=False)


def _values(props: dict[str, Any], key: int) -> list[str]:
    return [str(v.value) for v in props.get("customValue") or () if int(v.key) == key]


def announce(
    content: vim.ServiceInstanceContent,
    cluster: vim.ClusterComputeResource,
    host_id: str,
    folder: tuple[str, ...],
) -> None:
    """Say on ``cluster`` that ``host_id`` drives it (set only when it says something else)."""
    key = _field_key(content, create=True)
    if key is None:
        return
    value = json.dumps({"host_id": host_id, "folder": "/".join(folder)}, sort_keys=True)
    current = _values(retrieve_one(content, cluster, ["customValue"]) or {}, key)
    if current and current[-1] == value:
        return
    content.customFieldsManager.SetField(entity=cluster, key=key, value=value)
    log.info("announced on the cluster", host_id=host_id, field=FIELD)


def find_peer(content: vim.ServiceInstanceContent, host_id: str) -> Peer:
    """The cluster the agent of ``host_id`` announced itself on (or names, by its default
    host id); PeerNotFound when there is none in this vCenter."""
    key = _field_key(content, create=False)
    uuid, _, moref = host_id.rpartition(":")
    same_vcenter = bool(uuid) and uuid == str(content.about.instanceUuid or "")
    for cluster, props in container_view(
        content, content.rootFolder, vim.ClusterComputeResource, ["customValue"]
    ):
        if key is not None:
            values = _values(props, key)
            try:
                said = json.loads(values[-1]) if values else {}
            except ValueError:
                said = {}
            if isinstance(said, dict) and said.get("host_id") == host_id:
                folder = tuple(p for p in str(said.get("folder", "")).split("/") if p)
                return Peer(host_id, cluster, folder)
        if same_vcenter and cluster._moId == moref:
            return Peer(host_id, cluster, ())
    raise PeerNotFound(
        f"no cluster of this vCenter is driven by host {host_id} (its agent announces itself "
        f"with the custom attribute {FIELD} on its cluster)"
    )
