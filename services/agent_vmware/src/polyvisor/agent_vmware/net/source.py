"""Where the driver gets the binding specs of a server's ports, and tells how binding went.

The driver is blocking (it runs in the agent's bounded executor); an implementation over the
network service (``GetPortBindingSpec`` / ``SetPortBindingState``) bridges to the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from polyvisor.agent_vmware.net.model import PortBinding

__all__ = ["BindingSource"]


class BindingSource(Protocol):
    def bindings_for(self, server_id: str) -> Sequence[PortBinding]:
        """The ports bound to this host for ``server_id``, in NIC order."""
        ...

    def binding(self, server_id: str, port_id: str) -> PortBinding:
        """One port's spec (raises DriverError when the port is not ours to plug)."""
        ...

    def report(
        self, port: PortBinding, *, active: bool, port_security_enforced: bool, message: str = ""
    ) -> None:
        """The port's binding state (SetPortBindingState)."""
        ...
