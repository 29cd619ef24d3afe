"""The driver's network plane: a server's NIC specs from its ports, port groups kept tidy.

Port groups are made while a spawn or an attach is under way and removed once unused; a port
group is never removed while a spawn or attach that needs it is in flight (``_pending``), so
a destroy racing a spawn on one network cannot pull the port group from under the new VM.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from pyVmomi import vim

from polyvisor.agent_vmware.net.guestnet import netplan_config
from polyvisor.agent_vmware.net.model import PortBinding
from polyvisor.agent_vmware.net.nics import nic_add_spec, nic_model
from polyvisor.agent_vmware.net.portgroups import PortGroups
from polyvisor.agent_vmware.net.source import BindingSource
from polyvisor.agent_vmware.net.switches import port_group_name
from polyvisor.common.logging import get_logger

__all__ = ["NetworkPlane"]

log = get_logger(__name__)

_NIC_KEY = -200  # temporary device keys of new NICs: -200, -201, ...


class NetworkPlane:
    def __init__(self, source: BindingSource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._pending: Counter[str] = Counter()

    def bindings_for(self, server_id: str) -> Sequence[PortBinding]:
        return tuple(self.source.bindings_for(server_id))

    @staticmethod
    def network_config(bindings: Sequence[PortBinding]) -> dict[str, Any] | None:
        return netplan_config(bindings) if bindings else None

    @staticmethod
    def model(hw_vif_model: str) -> str:
        return nic_model(hw_vif_model)

    @contextmanager
    def using(self, bindings: Sequence[PortBinding]) -> Iterator[None]:
        """While a VM is being given NICs on these networks: their port groups stay."""
        names = [port_group_name(b.network_id) for b in bindings]
        with self._lock:
            self._pending.update(names)
        try:
            yield
        finally:
            with self._lock:
                self._pending.subtract(names)
                self._pending += Counter()  # drop zero counts

    def nic_specs(
        self, groups: PortGroups, bindings: Sequence[PortBinding], model: str, first_key: int = 0
    ) -> list[vim.vm.device.VirtualDeviceSpec]:
        return [
            nic_add_spec(model, b.mac_address, groups.ensure(b), _NIC_KEY - first_key - i)
            for i, b in enumerate(bindings)
        ]

    def tidy(self, groups: PortGroups) -> list[str]:
        """Remove our port groups no VM uses and no spawn or attach in flight needs."""
        with self._lock:
            keep = set(self._pending)
        removed = groups.remove_unused(keep=keep)
        if removed:
            log.info("port groups removed", port_groups=removed)
        return removed

    def report(self, bindings: Sequence[PortBinding], *, active: bool, message: str = "") -> None:
        """vSphere without NSX enforces neither security groups nor anti-spoofing: every port
        here reports ``port_security_enforced`` false, so the API never pretends otherwise."""
        for b in bindings:
            try:
                self.source.report(b, active=active, port_security_enforced=False, message=message)
            except Exception as e:  # the state is advisory; the resync repeats it
                log.warning("port binding state not reported", port_id=b.port_id, error=str(e))
