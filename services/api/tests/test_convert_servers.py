"""A server to protobuf: every part is there, and a part that is all zeros is still present
(sub-messages are filled in place, so presence is set explicitly)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from polyvisor.api import models as m
from polyvisor.api.convert.servers import server_to_proto
from polyvisor.api.resize_state import Resize
from polyvisor.compute.v1 import servers_pb2

NOW = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
ZERO = m.ServerFlavor(id="", name="", vcpus=0, ram_mb=0, disk_gb=0, extra_specs={})
FLAVOR = m.ServerFlavor(
    id="f", name="small", vcpus=2, ram_mb=512, disk_gb=3, extra_specs={"a": "b"}
)
BASE = m.Server(
    id="i",
    project_id="p",
    user_id="u",
    name="n",
    image_id="img",
    flavor=ZERO,
    state=m.State.ACTIVE,
    task=m.Task.NONE,
    power_state=m.Power.RUNNING,
    desired_power_state=m.Power.RUNNING,
    generation=1,
    revision=2,
    create_time=NOW,
    update_time=NOW,
)


def test_every_part_of_a_server() -> None:
    s = replace(
        BASE,
        flavor=FLAVOR,
        console=m.Console(type="VNC", host="h", port=5901),
        addresses=(m.Address(network="n", address="10.0.0.2", version=4, mac_address="m"),),
        fault=m.Fault(code="NO_VALID_HOST", message="x", time=NOW),
        resize=Resize(old_flavor=FLAVOR, source_host="a", dest_host="b", auto_confirm_time=NOW),
        metadata={"k": "v"},
        tags=("t",),
    )
    out = server_to_proto(s)
    flavor = servers_pb2.ServerFlavor(id="f", name="small", extra_specs={"a": "b"})
    flavor.resources.vcpus, flavor.resources.memory_mb, flavor.resources.disk_gb = 2, 512, 3
    assert out.flavor == flavor and out.resize.old_flavor == flavor
    assert (out.resize.source_host, out.resize.dest_host) == ("a", "b")
    assert out.resize.auto_confirm_time.ToDatetime(tzinfo=UTC) == NOW
    assert (out.console.host, out.console.port) == ("h", 5901) and out.console.type != 0
    assert [(a.network, a.address, a.version) for a in out.addresses] == [("n", "10.0.0.2", 4)]
    assert out.fault.message == "x" and dict(out.metadata) == {"k": "v"} and out.tags == ["t"]
    assert out.create_time.ToDatetime(tzinfo=UTC) == NOW and not out.HasField("delete_time")


def test_parts_of_zeros_are_present_and_absent_parts_absent() -> None:
    out = server_to_proto(BASE)
    assert out.HasField("flavor") and out.flavor.HasField("resources")
    assert not out.HasField("console") and not out.HasField("resize")
    assert not out.HasField("fault")
    out = server_to_proto(replace(BASE, resize=Resize(old_flavor=ZERO, source_host="")))
    assert out.HasField("resize") and out.resize.old_flavor.HasField("resources")
