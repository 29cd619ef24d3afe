from __future__ import annotations

import pytest

from polyvisor.agent_vmware.vnc_ports import VncPorts, VncPortsExhausted


def test_ports_are_unique_and_reused_after_release() -> None:
    ports = VncPorts(5900, 5903)
    ports.reset([(5901, "")])  # a VM that is not ours holds 5901
    got = [ports.allocate(f"s{i}") for i in range(3)]
    assert sorted(got) == [5900, 5902, 5903]
    assert ports.allocate("s1") == got[1]  # same owner, same port
    with pytest.raises(VncPortsExhausted):
        ports.allocate("s9")
    ports.release("s0")
    assert ports.allocate("s9") == got[0]
    assert ports.in_use()[5901] == ""
