"""VNC ports from the configured range, shared by both agents."""

from __future__ import annotations

import socket

import pytest

from polyvisor.agentkit.vnc_ports import NoFreePort, VncPorts


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
        # The first port of the range is taken; the next ones may be too on a busy machine
        # (other processes' sockets), not all of them.
        high = min(port + 20, 65535)
        ports = VncPorts((port, high), listen="127.0.0.1", probe=True)
        assert port < ports.take("a") <= high


def test_rotate_hands_out_ports_round_robin_and_skips_foreign_ones() -> None:
    ports = VncPorts((5900, 5903), rotate=True)
    ports.reset([(5901, "")])  # a VM that is not ours holds 5901
    got = [ports.take(f"s{i}") for i in range(3)]
    assert got == [5900, 5902, 5903]
    assert ports.take("s1") == got[1]  # same owner, same port
    with pytest.raises(NoFreePort):
        ports.take("s9")
    ports.give_back("s0")
    ports.give_back("s1")
    assert ports.take("s9") == 5900  # wraps around to the first free port after 5903
    assert ports.take("s8") == 5902
    assert ports.in_use()[5901] == ""


def test_foreign_owner_is_never_matched_and_out_of_range_is_ignored() -> None:
    ports = VncPorts((5900, 5901))
    ports.reset([(5900, ""), (7000, "x")])
    ports.claim(7001, "y")
    assert ports.in_use() == {5900: ""}
    assert ports.take("") == 5901  # "" holds 5900 but is nobody: a new port
    ports.claim(5901, "z")
    assert ports.in_use() == {5900: "", 5901: "z"}


def test_bad_range_is_refused() -> None:
    with pytest.raises(ValueError):
        VncPorts((6000, 5900))
