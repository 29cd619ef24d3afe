"""A flavor asking for a bare-metal resource class: no VNC console asked of its host, and the
spawn spec keeps that through its database round trip."""

from __future__ import annotations

from polyvisor.api import models as m
from polyvisor.api.baremetal import asks_for_baremetal
from polyvisor.api.spawnspec import SpawnSpec


def test_a_flavor_asks_for_bare_metal_with_a_non_zero_custom_baremetal_class() -> None:
    assert asks_for_baremetal({"resources:CUSTOM_BAREMETAL_SMALL": "1"})
    assert not asks_for_baremetal({"resources:CUSTOM_BAREMETAL_SMALL": "0"})
    assert not asks_for_baremetal({"hypervisor_type": "kvm", "resources:VCPU": "2"})


def test_no_console_survives_the_round_trip() -> None:
    image = m.ImageInfo("img", "img", "ACTIVE", "p1", "RAW")
    spec = SpawnSpec(image, "s1", console_type="")
    assert SpawnSpec.from_json(spec.to_json()).console_type == ""
    assert SpawnSpec.from_json(SpawnSpec(image, "s1").to_json()).console_type == "VNC"
