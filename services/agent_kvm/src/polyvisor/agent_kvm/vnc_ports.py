"""VNC ports handed out from the configured range (5900-6000 by default).

    ports = VncPorts((5900, 6000), listen="127.0.0.1", probe=True)
    ports.reset({5900: "polyvisor-a"})       # what the defined domains already use
    port = ports.take("polyvisor-b")          # the lowest free port
    ports.give_back("polyvisor-b")

libvirt's autoport would pick from 5900 up without a ceiling, and the test driver cannot
autoport at all, so we choose: the lowest port no defined domain uses and, when ``probe`` is
on (a real QEMU will listen), nothing else on the host is bound to. Thread-safe.
"""

from __future__ import annotations

import socket
import threading

from polyvisor.agentkit.driver import DriverError

__all__ = ["NoFreePort", "VncPorts"]


class NoFreePort(DriverError):
    """Every port of the range is taken."""


class VncPorts:
    def __init__(self, port_range: tuple[int, int], *, listen: str, probe: bool) -> None:
        self.low, self.high = port_range
        self.listen = listen
        self.probe = probe
        self._by_port: dict[int, str] = {}
        self._lock = threading.Lock()

    def reset(self, used: dict[int, str]) -> None:
        with self._lock:
            self._by_port = dict(used)

    def take(self, owner: str) -> int:
        with self._lock:
            for port, who in self._by_port.items():
                if who == owner:
                    return port
            for port in range(self.low, self.high + 1):
                if port in self._by_port:
                    continue
                if self.probe and not _bindable(self.listen, port):
                    continue
                self._by_port[port] = owner
                return port
        raise NoFreePort(f"no free VNC port in {self.low}-{self.high}")

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
