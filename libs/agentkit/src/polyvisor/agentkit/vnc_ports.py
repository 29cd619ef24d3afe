"""VNC ports an agent hands out to its guests from a configured range.

    ports = VncPorts((5900, 6000), listen="127.0.0.1", probe=True)
    ports.reset({5900: "polyvisor-a"})       # what the hypervisor shows in use now
    port = ports.take("polyvisor-b")          # a free port (the same one on a second call)
    ports.claim(5950, "polyvisor-c")          # a port found in use later
    ports.give_back("polyvisor-b")

Both agents choose ports themselves: libvirt's autoport has no ceiling and the libvirt test
driver cannot autoport at all; ESXi serves a VM's VNC console on whatever host DRS moves it to,
so a vCenter agent keeps ports unique across the whole cluster, seeded with every VM's port
(``""`` owns ports of VMs that are not ours; such entries are never handed out).

``take`` gives the lowest free port, or with ``rotate`` the next free one after the last port
handed out, so a port just given back is not reused at once (the VMware agent's choice). With
``probe`` (a real QEMU will listen on ``listen``) a port something else on this host is bound
to is skipped. Ports outside the range are ignored. Thread-safe.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Mapping

from polyvisor.agentkit.driver import DriverError

__all__ = ["NoFreePort", "VncPorts"]


class NoFreePort(DriverError):
    """Every port of the range is taken."""


class VncPorts:
    def __init__(
        self,
        port_range: tuple[int, int],
        *,
        listen: str = "127.0.0.1",
        probe: bool = False,
        rotate: bool = False,
    ) -> None:
        low, high = port_range
        if not 0 < low <= high < 65536:
            raise ValueError(f"bad VNC port range {low}-{high}")
        self.low, self.high = low, high
        self.listen = listen
        self.probe = probe
        self.rotate = rotate
        self._by_port: dict[int, str] = {}  # port -> owner ("" for guests not ours)
        self._next = low
        self._lock = threading.Lock()

    def reset(self, used: Mapping[int, str] | Iterable[tuple[int, str]]) -> None:
        """Replace the picture with what the hypervisor shows now (port -> owner)."""
        pairs = used.items() if isinstance(used, Mapping) else used
        with self._lock:
            self._by_port = {p: o for p, o in pairs if self.low <= p <= self.high}

    def take(self, owner: str) -> int:
        """A free port for ``owner``: the one it already holds, if any."""
        with self._lock:
            if owner:
                for port, who in self._by_port.items():
                    if who == owner:
                        return port
            span = self.high - self.low + 1
            start = self._next if self.rotate else self.low
            for i in range(span):
                port = self.low + (start - self.low + i) % span
                if port in self._by_port:
                    continue
                if self.probe and not _bindable(self.listen, port):
                    continue
                self._by_port[port] = owner
                self._next = port + 1 if port < self.high else self.low
                return port
        raise NoFreePort(f"no free VNC port in {self.low}-{self.high}")

    def claim(self, port: int, owner: str) -> None:
        """Record that ``owner`` holds ``port`` (found in use outside ``take``)."""
        with self._lock:
            if self.low <= port <= self.high:
                self._by_port[port] = owner

    def give_back(self, owner: str) -> None:
        with self._lock:
            for port in [p for p, who in self._by_port.items() if who == owner]:
                del self._by_port[port]

    def in_use(self) -> dict[int, str]:
        with self._lock:
            return dict(self._by_port)


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True
