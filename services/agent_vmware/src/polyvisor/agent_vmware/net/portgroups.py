"""Port groups of our networks on the cluster's switches: made on first use, removed unused.

A network on a standard vSwitch has a port group named ``polyvisor-<network id>`` with the
network's VLAN id (0: flat) on every ESXi host of the cluster (HostNetworkSystem), and one
vim.Network of that name in the datacenter; on a distributed switch it is one distributed port
group. A port group is removed when no VM of the datacenter has a NIC on it (any VM, ours or
not: a distributed switch may span other clusters). Blocking pyvmomi calls: the driver runs
them in its bounded executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pyVmomi import vim, vmodl

from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agent_vmware.net.nics import nics_of
from polyvisor.agent_vmware.net.switches import SwitchMapping, port_group_name
from polyvisor.agent_vmware.props import container_view
from polyvisor.agentkit.driver import DriverError

__all__ = ["PREFIX", "NetworkUnreachable", "PortGroups"]

PREFIX = "polyvisor-"
Backing = vim.vm.device.VirtualDevice.BackingInfo
DvsSpec = vim.dvs.VmwareDistributedVirtualSwitch


class NetworkUnreachable(DriverError):
    """The port's physical network is not mapped to a switch on this cluster."""


class PortGroups:
    def __init__(
        self,
        content: vim.ServiceInstanceContent,
        datacenter: vim.Datacenter,
        cluster: vim.ClusterComputeResource,
        mappings: Mapping[str, SwitchMapping],
        wait: Callable[[vim.Task], Any],
    ) -> None:
        self.content = content
        self.datacenter = datacenter
        self.cluster = cluster
        self.mappings = mappings
        self.wait = wait

    # ------------------------------------------------------------------ make

    def _mapping(self, b: PortBinding) -> SwitchMapping:
        m = self.mappings.get(b.physical_network)
        if m is None:
            raise NetworkUnreachable(
                f"network {b.network_id}: physical network {b.physical_network or '(none)'!r} "
                f"is not mapped to a switch on cluster {self.cluster.name}"
            )
        return m

    def ensure(self, b: PortBinding) -> Backing:
        """The NIC backing of the port's network, its port group made if missing."""
        m = self._mapping(b)
        name = port_group_name(b.network_id)
        if m.distributed:
            return self._ensure_dvpg(m, name, b.segmentation_id)
        return self._ensure_standard(m, name, b.segmentation_id)

    def _ensure_standard(self, m: SwitchMapping, name: str, vlan: int) -> Backing:
        for host in self.cluster.host:
            ns = host.configManager.networkSystem
            have = {pg.spec.name for pg in ns.networkInfo.portgroup or ()}
            if name in have:
                continue
            if m.switch not in {v.name for v in ns.networkInfo.vswitch or ()}:
                raise NetworkUnreachable(f"ESXi host {host.name} has no vSwitch {m.switch!r}")
            spec = vim.host.PortGroup.Specification(
                name=name, vlanId=vlan, vswitchName=m.switch, policy=vim.host.NetworkPolicy()
            )
            try:
                ns.AddPortGroup(portgrp=spec)
            except (vim.fault.AlreadyExists, vim.fault.DuplicateName):
                pass  # made meanwhile (or the datacenter already has its vim.Network)
        net = self._network(name)
        if net is None:
            raise DriverError(f"port group {name} was made but vCenter shows no network of it")
        return vim.vm.device.VirtualEthernetCard.NetworkBackingInfo(deviceName=name, network=net)

    def _network(self, name: str) -> vim.Network | None:
        for obj, p in container_view(
            self.content, self.datacenter.networkFolder, vim.Network, ["name"]
        ):
            if p.get("name") == name and not isinstance(obj, vim.dvs.DistributedVirtualPortgroup):
                return obj
        return None

    def _switch(self, m: SwitchMapping) -> vim.DistributedVirtualSwitch:
        for obj, p in container_view(
            self.content, self.datacenter.networkFolder, vim.DistributedVirtualSwitch, ["name"]
        ):
            if p.get("name") == m.switch:
                return obj
        raise NetworkUnreachable(f"no distributed switch {m.switch!r} in this datacenter")

    def _ensure_dvpg(self, m: SwitchMapping, name: str, vlan: int) -> Backing:
        dvs = self._switch(m)
        pg = next((p for p in dvs.portgroup or () if p.name == name), None)
        if pg is None:
            spec = vim.dvs.DistributedVirtualPortgroup.ConfigSpec(
                name=name,
                type="earlyBinding",
                numPorts=8,
                autoExpand=True,
                defaultPortConfig=DvsSpec.VmwarePortConfigPolicy(
                    vlan=DvsSpec.VlanIdSpec(vlanId=vlan, inherited=False)
                ),
            )
            try:
                self.wait(dvs.AddDVPortgroup_Task([spec]))
            except vim.fault.DuplicateName:
                pass
            pg = next((p for p in dvs.portgroup or () if p.name == name), None)
            if pg is None:
                raise DriverError(
                    f"distributed port group {name} was made but is not on {m.switch}"
                )
        return vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(switchUuid=dvs.uuid, portgroupKey=pg.key)
        )

    # ------------------------------------------------------------------ remove

    def _in_use(self) -> tuple[set[str], set[str]]:
        """Names (standard) and port group keys (distributed) some VM's NIC is on."""
        names: set[str] = set()
        keys: set[str] = set()
        for _, p in container_view(
            self.content, self.datacenter.vmFolder, vim.VirtualMachine, ["config.hardware.device"]
        ):
            for nic in nics_of(p.get("config.hardware.device") or ()):
                back = nic.backing
                if isinstance(back, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
                    names.add(back.deviceName or "")
                elif isinstance(
                    back, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo
                ):
                    keys.add(back.port.portgroupKey or "")
        return names, keys

    def ours(self) -> list[str]:
        """The names of our port groups this cluster's switches carry."""
        found: set[str] = set()
        for host in self.cluster.host:
            found.update(
                pg.spec.name
                for pg in host.configManager.networkSystem.networkInfo.portgroup or ()
                if pg.spec.name.startswith(PREFIX)
            )
        for m in self._distributed():
            found.update(
                p.name for p in self._switch(m).portgroup or () if p.name.startswith(PREFIX)
            )
        return sorted(found)

    def _distributed(self) -> Iterable[SwitchMapping]:
        seen: set[str] = set()
        for m in self.mappings.values():
            if m.distributed and m.switch not in seen:
                seen.add(m.switch)
                yield m

    def remove_unused(self, keep: Iterable[str] = ()) -> list[str]:
        """Remove our port groups no VM uses (but those in ``keep``); returns their names."""
        names, keys = self._in_use()
        names |= set(keep)
        removed: set[str] = set()
        for host in self.cluster.host:
            ns = host.configManager.networkSystem
            for pg in ns.networkInfo.portgroup or ():
                name = pg.spec.name
                if not name.startswith(PREFIX) or name in names:
                    continue
                try:
                    ns.RemovePortGroup(pgName=name)
                    removed.add(name)
                except vim.fault.NotFound:
                    pass
                except vim.fault.ResourceInUse:
                    continue  # a VM joined it meanwhile
        for m in self._distributed():
            for pg in self._switch(m).portgroup or ():
                if not pg.name.startswith(PREFIX) or pg.key in keys or pg.name in names:
                    continue
                try:
                    self.wait(pg.Destroy_Task())
                    removed.add(pg.name)
                except (vim.fault.ResourceInUse, vmodl.fault.ManagedObjectNotFound):
                    continue
        return sorted(removed)
