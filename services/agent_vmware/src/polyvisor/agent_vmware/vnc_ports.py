"""VNC ports of a vCenter cluster: each VM gets its own port from the ESX range (5900-6105).

ESXi serves a VM's VNC console on the host the VM runs on, and DRS may move it, so a port is
unique across the whole cluster. The allocator is seeded with what vCenter shows at connect
time (every VM's ``RemoteDisplay.vnc.port``, ours or not) and kept up to date by the driver.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

__all__ = ["VNC_RANGE", "VncPorts", "VncPortsExhausted"]

VNC_RANGE = (5900, 6105)


class VncPortsExhausted(Exception):
    pass


class VncPorts:
    def __init__(self, lo: int = VNC_RANGE[0], hi: int = VNC_RANGE[1]) -> None:
        if not 0 < lo <= hi < 65536:
            raise ValueError(f"bad VNC port range {lo}-{hi}")
        self.lo, self.hi = lo, hi
        self._lock = threading.Lock()
        self._owner: dict[int, str] = {}  # port -> server id ("" for VMs not ours)
        self._next = lo

    def reset(self, used: Iterable[tuple[int, str]]) -> None:
        """Replace the picture with what vCenter shows now: ``(port, owner)`` pairs."""
        with self._lock:
            self._owner = {p: o for p, o in used if self.lo <= p <= self.hi}

    def allocate(self, owner: str) -> int:
        """A free port for ``owner`` (the same one if it already holds one)."""
        with self._lock:
            for port, who in self._owner.items():
                if who == owner and owner:
                    return port
            span = self.hi - self.lo + 1
            for i in range(span):
                port = self.lo + (self._next - self.lo + i) % span
                if port not in self._owner:
                    self._owner[port] = owner
                    self._next = port + 1 if port < self.hi else self.lo
                    return port
        raise VncPortsExhausted(f"all {span} VNC ports ({self.lo}-{self.hi}) are in use")

    def claim(self, port: int, owner: str) -> None:
        with self._lock:
            if self.lo <= port <= self.hi:
                self._owner[port] = owner

    def release(self, owner: str) -> None:
        with self._lock:
            for port in [p for p, who in self._owner.items() if who == owner]:
                del self._owner[port]

    def in_use(self) -> dict[int, str]:
        with self._lock:
            return dict(self._owner)
