"""VNC ports from the configured range."""

from __future__ import annotations

import socket

import pytest

from polyvisor.agent_kvm.vnc_ports import NoFreePort, VncPorts


def test_lowest_free_port_per_owner_and_give_back() -> None:
    ports = VncPorts((5900, 5902), listen="127.0.0.1", probe=False)
    ports.reset({5900: "existing"})
    assert ports.take("a") == 5901
    assert ports.take("a") == 5901  # same owner, same port
    assert ports.take("b") == 5902
    with pytest.raises(NoFreePort):
        ports.take("c")
    ports.give_back("a")
    assert ports.take("c") == 5901
    assert ports.in_use() == {5900: "existing", 5901: "c", 5902: "b"}


def test_probe_skips_ports_something_else_listens_on() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ports = VncPorts((port, port + 1), listen="127.0.0.1", probe=True)
        assert ports.take("a") == port + 1
