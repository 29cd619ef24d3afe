"""`./dev down` removes the KVM agent's network plumbing: the agent leaves a network's bridge,
DHCP namespace and dnsmasq in place when it stops (its guests keep their network), so the
stack's `down` must take them away, or every stack that ends with ports bound (a crashed
test, the fault harness) leaves them on the machine."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from deploy.dev.kvm import nft_table
from deploy.dev.layout import Layout
from deploy.dev.stack import down
from polyvisor.agent_kvm.net.model import PortBinding
from polyvisor.agent_kvm.net.names import bridge_name
from polyvisor.agent_kvm.net.plane import NetworkPlane
from tests.network.test_data_plane import PHYSNET, binding

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bridges and namespaces need root")


def _out(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout


def test_down_removes_the_plumbing_a_stopped_agent_left(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "stack")
    layout.create()
    state = layout.data("agent_kvm") / "state" / "network"
    net, port = str(uuid.uuid4()), str(uuid.uuid4())
    b: PortBinding = binding(net, port, "fa:16:3e:00:78:0d", "10.77.0.23", str(uuid.uuid4()))

    async def plug_and_stop() -> None:
        plane = NetworkPlane(mappings={PHYSNET: ""}, state_dir=state, table=nft_table(layout))
        await plane.plug(b)
        await plane.close()  # the agent stops; its plumbing stays

    asyncio.run(plug_and_stop())
    try:
        assert bridge_name(net) in _out("ip", "-br", "link")
        assert net in _out("ps", "-ww", "-eo", "args")
        assert nft_table(layout) in _out("nft", "list", "tables")

        assert down(layout) == 0

        assert bridge_name(net) not in _out("ip", "-br", "link")
        assert net not in _out("ip", "netns", "list")
        assert net not in _out("ps", "-ww", "-eo", "args")
        assert nft_table(layout) not in _out("nft", "list", "tables")
    finally:
        plane = NetworkPlane(mappings={}, state_dir=state, table=nft_table(layout))
        asyncio.run(plane.remove_orphans())
