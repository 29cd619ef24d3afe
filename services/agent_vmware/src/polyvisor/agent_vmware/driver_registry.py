"""Which VMs are ours: the registry of server id -> VM, found, tagged, observed."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware import specs
from polyvisor.agent_vmware.driver_core import (
    _RUNTIME_PATHS,
    _VM_PATHS,
    DriverCore,
    _extra,
    _Vm,
    _vnc_port,
)
from polyvisor.agent_vmware.inventory import Placement
from polyvisor.agent_vmware.ownership import Owner
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agent_vmware.session import Conn
from polyvisor.agentkit.driver import (
    Console,
    Instance,
    InstanceNotFound,
)


class Registry(DriverCore):
    # ------------------------------------------------------------------ registry

    def _register(
        self,
        conn: Conn,
        sid: str,
        vm: vim.VirtualMachine,
        props: dict[str, Any],
        host: str,
        port: int = 0,
    ) -> _Vm:
        """Record what vCenter just told us about ``sid`` (``props``: the _VM_PATHS read)."""
        with self._lock:
            self._epoch += 1
            old = self._vms.get(sid)
            if old is not None and old.vm._moId != vm._moId:
                self._by_moref.pop(old.vm._moId, None)
            same = (
                old is not None and old.generation == conn.generation and old.vm._moId == vm._moId
            )
            rec = _Vm(
                server_id=sid,
                vm=vm,
                generation=conn.generation,
                vs_power=str(props.get("runtime.powerState", old.vs_power if same else "")),
                vs_connection=str(
                    props.get("runtime.connectionState", old.vs_connection if same else "connected")
                ),
                host=host,
                vnc_port=port or (old.vnc_port if old else 0),
                epoch=self._epoch,
            )
            self._vms[sid] = rec
            self._by_moref[vm._moId] = sid
            if rec.vnc_port:
                self._vnc.claim(rec.vnc_port, sid)
            return rec

    def _unregister(self, sid: str) -> None:
        with self._lock:
            rec = self._vms.pop(sid, None)
            if rec is not None:
                self._by_moref.pop(rec.vm._moId, None)
            self._vnc.give_back(sid)

    def _instance(self, rec: _Vm) -> Instance:
        # The name is the VM's name in vCenter, which is the server id (see specs), so it
        # reads the same after a spawn as after any later observation.
        return Instance(
            server_id=rec.server_id,
            power_state=rec.power,
            name=rec.server_id,
            member_host=rec.host,
            console=Console("vnc", rec.host, rec.vnc_port) if rec.vnc_port and rec.host else None,
        )

    def _observe(self, conn: Conn, sid: str, vm: vim.VirtualMachine) -> _Vm | None:
        """Read ``vm``'s runtime now and record it; None when it is gone."""
        with self._lock:
            rec = self._vms.get(sid)
            known_port = rec.vnc_port if rec is not None and rec.vm._moId == vm._moId else 0
        # The VNC port never changes once set: only a VM we have not seen yet needs its config.
        props = retrieve_one(conn.content, vm, _VM_PATHS if not known_port else _RUNTIME_PATHS)
        if props is None:
            return None
        host = self._host_name(conn, props.get("runtime.host"), sid)
        return self._register(conn, sid, vm, props, host, known_port or _vnc_port(props))

    def _find(self, conn: Conn, place: Placement, sid: str) -> vim.VirtualMachine | None:
        """Our VM tagged with ``sid``, looked up as cheaply as vCenter allows."""
        with self._lock:
            rec = self._vms.get(sid)
        if rec is not None and rec.generation == conn.generation:
            if retrieve_one(conn.content, rec.vm, ["name"]) is not None:
                return rec.vm
        for vm, owner in self._tagged(conn, place, sid):
            if owner is Owner.US:
                return vm
        return None

    def _tagged(
        self, conn: Conn, place: Placement, sid: str, *, thorough: bool = False
    ) -> list[tuple[vim.VirtualMachine, Owner]]:
        """The VMs tagged with server id ``sid`` (ours or not), and whose each is.

        ``thorough``: also a VM named ``sid`` in our folder whose instanceUuid is not ``sid``
        (made by hand, or by another tool): before making a VM of that name or deleting its
        datastore folder."""
        index = conn.content.searchIndex
        candidates = []
        instance_uuid = specs.as_instance_uuid(sid)
        if instance_uuid is not None:
            # We set the instanceUuid of every VM whose id is a UUID: one indexed lookup.
            found = index.FindByUuid(place.datacenter, instance_uuid, True, True)
            if found is not None:
                candidates.append(found)
        if instance_uuid is None or (thorough and not candidates):
            child = index.FindChild(place.folder, sid)
            if isinstance(child, vim.VirtualMachine):
                candidates.append(child)
        found = []
        for vm in candidates:
            props = retrieve_one(conn.content, vm, ["config.extraConfig"])
            extra = _extra(props) if props is not None else {}
            if extra.get(specs.TAG_KEY) == sid:
                found.append((vm, self._owners.owner(extra)))
        return found

    def _not_ours(self, conn: Conn, place: Placement, sid: str) -> Owner | None:
        """Whose VM tagged ``sid`` is, when one exists but is not ours (else None)."""
        owners = [o for _, o in self._tagged(conn, place, sid, thorough=True)]
        return None if not owners or Owner.US in owners else owners[0]

    def _require(self, conn: Conn, place: Placement, sid: str) -> vim.VirtualMachine:
        vm = self._find(conn, place, sid)
        if vm is None:
            self._unregister(sid)
            raise InstanceNotFound(f"no VM tagged {sid} in cluster {place.cluster_name}")
        return vm
