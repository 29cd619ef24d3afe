"""The VMware driver on a cluster with a network data plane: it also has the ``ports``
capability (polyvisor.agentkit.capabilities.Ports), adding or removing a port's NIC on a VM
that exists, running or not (ReconfigVM). The same reconfiguration rewrites the network
configuration in the VM's guestinfo metadata (the NICs it has from then on), so cloud-init
configures the new NIC (at its next network stage) with the port's addresses."""

from __future__ import annotations

from pyVmomi import vim

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.guestinfo import with_network
from polyvisor.agent_vmware.net.model import PortBinding
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

    def _guest_network(
        self,
        server_id: str,
        extra: dict[str, str],
        *,
        add: PortBinding | None = None,
        remove: str = "",
    ) -> list[vim.option.OptionValue]:
        """The guestinfo metadata with the network configuration of the NICs the VM has
        once `add` is plugged or the port `remove` unplugged (the network service lists the
        port being removed until the api unbinds it, after)."""
        bound = {b.port_id: b for b in self._plane().bindings_for(server_id)}
        if add is not None:
            bound[add.port_id] = add
        bound.pop(remove, None)
        try:
            keys = with_network(extra, NetworkPlane.network_config(list(bound.values())))
        except ValueError as e:
            raise DriverError(str(e)) from e
        return [vim.option.OptionValue(key=k, value=v) for k, v in keys.items()]

    def attach_port(self, server_id: str, port_id: str) -> None:
        plane = self._plane()
        port = plane.source.binding(server_id, port_id)
        conn, place = self._ready()
        with plane.using([port]), self._guard(conn):
            vm = self._require(conn, place, server_id)
            props = (
                retrieve_one(conn.content, vm, ["config.hardware.device", "config.extraConfig"])
                or {}
            )
            devices = props.get("config.hardware.device") or ()
            if find_nic(devices, port.mac_address) is None:
                # The server's other NICs say its model (the image's hw_vif_model at spawn).
                present = nics_of(devices)
                model = _model_of(present[0]) if present else DEFAULT_MODEL
                add = plane.nic_specs(self._groups(conn, place), [port], model)
                tag = vim.option.OptionValue(key=port_key(port_id), value=port.mac_address)
                extra = {o.key: o.value for o in props.get("config.extraConfig") or ()}
                guest = self._guest_network(server_id, extra, add=port)
                spec = vim.vm.ConfigSpec(deviceChange=add, extraConfig=[tag, *guest])
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
                guest = self._guest_network(server_id, extra, remove=port_id) if nic else []
                spec = vim.vm.ConfigSpec(
                    deviceChange=changes,
                    extraConfig=[vim.option.OptionValue(key=port_key(port_id), value=""), *guest],
                )
                if nic is not None or extra.get(port_key(port_id)):
                    self._wait(conn, vm.ReconfigVM_Task(spec=spec))
                    log.info("port detached", server_id=server_id, port_id=port_id)
        self._tidy_port_groups(conn, place)
