"""Adoption of the VMs of our cluster that no Polyvisor server owns (the agentkit ``adopt``
capability).

    list_unmanaged: the VMs on our cluster's ESXi hosts without ``polyvisor.server_id`` in
                    their extraConfig (templates left out), with their size
    adopt:          extraConfig ``polyvisor.server_id`` and ``polyvisor.host_id`` set, and the
                    VM moved into our VM folder (where the agent lists and watches its VMs)

Nothing else in the VM changes: no power operation, no reconfiguration of its hardware, no
rename. The api adopts a VM under its instance UUID as the server id, which is how every verb
finds a VM of ours (``SearchIndex.FindByUuid``). Adopting again a VM already ours under that
server id answers as done.
"""

from __future__ import annotations

import math
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_core import _extra, log, power_state_of
from polyvisor.agent_vmware.driver_vmotion import VMotion
from polyvisor.agent_vmware.props import retrieve, retrieve_one, traversal_to
from polyvisor.agentkit.adopt_capabilities import UnmanagedVm
from polyvisor.agentkit.driver import DriverError, Instance, InstanceNotFound

__all__ = ["Adopting"]

_PATHS = (
    "name",
    "config.instanceUuid",
    "config.template",
    "config.hardware.numCPU",
    "config.hardware.memoryMB",
    "config.hardware.device",
    "config.extraConfig",
    "runtime.powerState",
    "runtime.connectionState",
)


def _disk_gb(props: dict[str, Any]) -> int:
    for d in props.get("config.hardware.device") or ():
        if isinstance(d, vim.vm.device.VirtualDisk):
            return math.ceil(int(d.capacityInKB or 0) / (1 << 20))
    return 0


class Adopting(VMotion):
    """The ``adopt`` capability of ``VmwareDriver`` (mixed into it)."""

    def list_unmanaged(self) -> list[UnmanagedVm]:
        conn, place = self._ready()
        with self._guard(conn):
            hosts = traversal_to(
                conn.content, place.cluster, "host", vim.ClusterComputeResource, vim.HostSystem,
                ["vm"],
            )  # fmt: skip
            vms = [vm for _, p in hosts for vm in p.get("vm") or ()]
            found = []
            for _, props in retrieve(conn.content, vms, vim.VirtualMachine, _PATHS):
                ref = str(props.get("config.instanceUuid") or "")
                if not ref or props.get("config.template") or _extra(props).get(specs.TAG_KEY):
                    continue
                found.append(
                    UnmanagedVm(
                        ref=ref,
                        name=str(props.get("name", "")),
                        vcpus=int(props.get("config.hardware.numCPU") or 0),
                        memory_mb=int(props.get("config.hardware.memoryMB") or 0),
                        disk_gb=_disk_gb(props),
                        power_state=power_state_of(
                            props.get("runtime.powerState"), props.get("runtime.connectionState")
                        ),
                    )
                )
        return sorted(found, key=lambda v: (v.name, v.ref))

    def adopt(self, server_id: str, ref: str) -> Instance:
        uuid = specs.as_instance_uuid(ref)
        if uuid is None or uuid != specs.as_instance_uuid(server_id):
            raise DriverError(f"a VM is adopted under its instance UUID ({ref}), not {server_id}")
        conn, place = self._ready()
        with self._guard(conn):
            vm = conn.content.searchIndex.FindByUuid(place.datacenter, uuid, True, True)
            if not isinstance(vm, vim.VirtualMachine):
                raise InstanceNotFound(f"no VM with instance UUID {ref} in this datacenter")
            props = retrieve_one(conn.content, vm, ["config.extraConfig", "runtime.host"]) or {}
            extra = _extra(props)
            tagged = extra.get(specs.TAG_KEY, "")
            if tagged and (tagged != server_id or extra.get(specs.HOST_TAG_KEY) != self.host_id):
                raise InstanceNotFound(f"VM {ref} is already server {tagged}'s")
            host = props.get("runtime.host")
            parent = (retrieve_one(conn.content, host, ["parent"]) or {}).get("parent") if (
                host is not None
            ) else None  # fmt: skip
            if parent is None or parent._moId != place.cluster._moId:
                raise InstanceNotFound(f"VM {ref} does not run in cluster {place.cluster_name}")
            if not tagged:
                tags = {specs.TAG_KEY: server_id, specs.HOST_TAG_KEY: self.host_id}
                self._set_extra(conn, vm, tags)
            where = (retrieve_one(conn.content, vm, ["parent"]) or {}).get("parent")
            if where is None or where._moId != place.folder._moId:
                self._wait(conn, place.folder.MoveIntoFolder_Task([vm]))
            rec = self._observe(conn, server_id, vm)
        if rec is None:
            raise InstanceNotFound(f"VM {ref} vanished")
        log.info("VM adopted", server_id=server_id, vm=vm._moId)
        return self._instance(rec)
