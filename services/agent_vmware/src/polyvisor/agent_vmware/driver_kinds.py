"""The VMware driver classes, by what the agent is configured for: a network data plane (the
``ports`` capability, with physical switch mappings) and vmdk volumes (the ``volume_vmdk``
capability, with ``POLYVISOR_VMDK_VOLUMES``). A capability is a protocol the driver's class
implements, so a host reports one only when its driver's class has it."""

from __future__ import annotations

from polyvisor.agent_vmware.driver import VmwareDriver
from polyvisor.agent_vmware.driver_volumes import VmdkVolumeVerbs
from polyvisor.agent_vmware.ports_driver import PortsVmwareDriver

__all__ = ["PortsVolumesVmwareDriver", "VolumesVmwareDriver", "driver_class"]


class VolumesVmwareDriver(VmdkVolumeVerbs, VmwareDriver):
    """A cluster that attaches the volume service's vmdk volumes."""


class PortsVolumesVmwareDriver(VmdkVolumeVerbs, PortsVmwareDriver):
    """A cluster with a network data plane that attaches vmdk volumes."""


def driver_class(*, ports: bool, vmdk_volumes: bool) -> type[VmwareDriver]:
    if vmdk_volumes:
        return PortsVolumesVmwareDriver if ports else VolumesVmwareDriver
    return PortsVmwareDriver if ports else VmwareDriver
