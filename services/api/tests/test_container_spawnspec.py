"""A container (vm_mode exe) asks for no VNC console, and keeps asking for none when its
spawn spec is read back for a reschedule."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.spawnspec import Hints, SpawnSpec


def test_no_console_type_survives_the_round_trip() -> None:
    image = m.ImageInfo("i1", "busybox", "ACTIVE", "p1", "RAW", vm_mode="exe")
    spec = SpawnSpec(image, "box", (), Hints(), console_type="")
    again = SpawnSpec.from_json(spec.to_json())
    assert again.console_type == ""
    assert again == spec


def test_a_spec_written_before_console_types_were_optional_still_asks_vnc() -> None:
    image = m.ImageInfo("i1", "linux", "ACTIVE", "p1", "QCOW2")
    data = SpawnSpec(image, "vm", (), Hints()).to_json()
    del data["console_type"]
    assert SpawnSpec.from_json(data).console_type == "VNC"
