"""The VMware driver on a cluster with a network data plane: it also has the ``ports``
capability (polyvisor.agentkit.capabilities.Ports), adding or removing a port's NIC on a VM
that exists, running or not (ReconfigVM)."""

from __future__ import annotations

from pyVmomi import vim

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.net.nics import (
    DEFAULT_MODEL,
    VIF_MODELS,
    find_nic,
    nics_of,
    port_key,
)
from polyvisor.agent_vmware.net.plane import NetworkPlane
from polyvisor.agent_vmware.props import retrieve_one
from polyvisor.agentkit.driver import DriverError
from polyvisor.common.logging import get_logger

__all__ = ["PortsVmwareDriver"]

log = get_logger(__name__)


def _model_of(nic: vim.vm.device.VirtualEthernetCard) -> str:
    return next((m for m, cls in VIF_MODELS.items() if type(nic) is cls), DEFAULT_MODEL)


class PortsVmwareDriver(VmwareDriver):
    def _plane(self) -> NetworkPlane:
        if self._net is None:
            raise DriverError("this cluster's network data plane is not running")
        return self._net

    def tidy_port_groups(self) -> None:
        """Remove our port groups no VM uses: what a stopped or crashed holder left behind
        (at taking the cluster's lease)."""
        conn, place = self._ready()
        self._tidy_port_groups(conn, place)

    def attach_port(self, server_id: str, port_id: str) -> None:
        plane = self._plane()
        port = plane.source.binding(server_id, port_id)
        conn, place = self._ready()
        with plane.using([port]), self._guard(conn):
            vm = self._require(conn, place, server_id)
            devices = (retrieve_one(conn.content, vm, ["config.hardware.device"]) or {}).get(
                "config.hardware.device"
            ) or ()
            if find_nic(devices, port.mac_address) is None:
                # The server's other NICs say its model (the image's hw_vif_model at spawn).
                present = nics_of(devices)
                model = _model_of(present[0]) if present else DEFAULT_MODEL
                add = plane.nic_specs(self._groups(conn, place), [port], model)
                tag = vim.option.OptionValue(key=port_key(port_id), value=port.mac_address)
                spec = vim.vm.ConfigSpec(deviceChange=add, extraConfig=[tag])
                self._wait(conn, vm.ReconfigVM_Task(spec=spec))
                log.info("port attached", server_id=server_id, port_id=port_id)
        plane.report([port], active=True)

    def _bound_mac(self, server_id: str, port_id: str) -> str:
        try:
            return self._plane().source.binding(server_id, port_id).mac_address
        except DriverError as e:
            if e.retryable:
                raise
            return ""  # neither written down nor bound: no NIC of that port here

    def detach_port(self, server_id: str, port_id: str) -> None:
        self._plane()  # refuses when the data plane is not running
        conn, place = self._ready()
        with self._guard(conn):
            vm = self._find(conn, place, server_id)
            if vm is not None:
                props = (
                    retrieve_one(conn.content, vm, ["config.hardware.device", "config.extraConfig"])
                    or {}
                )
                extra = {o.key: o.value for o in props.get("config.extraConfig") or ()}
                # The MAC the attach wrote down; else the binding's (a NIC made before).
                mac = extra.get(port_key(port_id)) or self._bound_mac(server_id, port_id)
                nic = find_nic(props.get("config.hardware.device") or (), mac) if mac else None
                changes = []
                if nic is not None:
                    changes.append(vim.vm.device.VirtualDeviceSpec(operation="remove", device=nic))
                spec = vim.vm.ConfigSpec(
                    deviceChange=changes,
                    extraConfig=[vim.option.OptionValue(key=port_key(port_id), value="")],
                )
                if nic is not None or extra.get(port_key(port_id)):
                    self._wait(conn, vm.ReconfigVM_Task(spec=spec))
                    log.info("port detached", server_id=server_id, port_id=port_id)
        self._tidy_port_groups(conn, place)
