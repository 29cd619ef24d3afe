"""The spawn command's image, from the wire into the driver's ImageRef."""

from __future__ import annotations

from polyvisor.agent.v1 import commands_pb2
from polyvisor.agentkit.convert import command_from_proto
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
