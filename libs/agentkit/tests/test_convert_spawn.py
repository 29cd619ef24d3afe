"""The spawn command's image, from the wire into the driver's ImageRef; or its root volume
(then no image), which only a driver with the boot_volume capability boots."""

from __future__ import annotations

import pytest

from polyvisor.agent.v1 import commands_pb2
from polyvisor.agentkit.convert import InvalidCommand, command_from_proto
from polyvisor.agentkit.driver import SpawnFailed
from polyvisor.agentkit.executor import DriverCalls
from polyvisor.agentkit.fake import FakeDriver
from polyvisor.agentkit.volume_capabilities import VolumeConnection
from polyvisor.agentkit.volume_handler import spawn_from_volume
from polyvisor.types.v1 import disk_pb2, resources_pb2


def test_the_images_nic_model_reaches_the_driver() -> None:
    msg = commands_pb2.AgentCommand(
        command_id="s1:1:spawn",
        server_id="s1",
        generation=1,
        spawn=commands_pb2.SpawnServer(
            name="web-1",
            resources=resources_pb2.Resources(vcpus=1, memory_mb=64),
            image=commands_pb2.SpawnImage(
                image_id="i1", disk_format=disk_pb2.DISK_FORMAT_QCOW2, hw_vif_model="e1000"
            ),
        ),
    )
    cmd = command_from_proto(msg)
    assert cmd.spawn is not None and cmd.spawn.image.hw_vif_model == "e1000"
    msg.spawn.image.hw_vif_model = ""
    assert command_from_proto(msg).spawn.image.hw_vif_model == ""  # type: ignore[union-attr]


async def test_a_spawn_from_a_volume_names_no_image_and_needs_the_capability() -> None:
    msg = commands_pb2.AgentCommand(
        command_id="s2:1:spawn",
        server_id="s2",
        generation=1,
        spawn=commands_pb2.SpawnServer(
            name="vol-1",
            resources=resources_pb2.Resources(vcpus=1, memory_mb=64),
            root_volume=commands_pb2.VolumeConnection(
                volume_id="v1", kind="file", attrs={"path": "/v/v1.qcow2"}
            ),
        ),
    )
    cmd = command_from_proto(msg)
    assert cmd.spawn is not None and cmd.spawn.image is None
    assert cmd.spawn.root_volume == VolumeConnection("v1", "file", {"path": "/v/v1.qcow2"})
    calls = DriverCalls(workers=1)
    try:
        with pytest.raises(SpawnFailed, match="boot_volume"):
            await spawn_from_volume(FakeDriver(), calls, "h1", cmd)  # no VolumeBoot
    finally:
        await calls.close()
    msg.spawn.image.image_id = "i1"
    with pytest.raises(InvalidCommand, match="both"):
        command_from_proto(msg)
