from __future__ import annotations

import pytest

from polyvisor.api import image_checks as ic
from polyvisor.api import models as m
from polyvisor.common.errors import FailedPrecondition, InvalidArgument

FLAVOR = m.Flavor("f", "small", 1, 1024, 10)


def image(**kw: object) -> m.ImageInfo:
    base = {"id": "i", "name": "img", "status": "ACTIVE", "owner": "p", "disk_format": "QCOW2"}
    return m.ImageInfo(**{**base, **kw})  # type: ignore[arg-type]


def test_inactive_image_is_failed_precondition() -> None:
    with pytest.raises(FailedPrecondition):
        ic.check_image_usable(image(status="QUEUED"))
    ic.check_image_usable(image())


@pytest.mark.parametrize(
    "kw", [{"min_ram": 2048}, {"min_disk": 20}, {"virtual_size": 11 * 1024**3}]
)
def test_flavor_smaller_than_the_image_is_invalid(kw: dict[str, int]) -> None:
    with pytest.raises(InvalidArgument):
        ic.check_flavor_fits_image(FLAVOR, image(**kw))


def test_flavor_that_fits() -> None:
    ic.check_flavor_fits_image(FLAVOR, image(min_ram=1024, min_disk=10, virtual_size=10 * 1024**3))


def test_keys_on_a_type_that_cannot_inject_them() -> None:
    features = ic.features_of("VMWARE")
    with pytest.raises(InvalidArgument):
        ic.check_pinned_features("VMWARE", features, wants_key=True, wants_user_data=False)
    ic.check_pinned_features("KVM", ic.features_of("KVM"), wants_key=True, wants_user_data=True)


def test_reported_features_win_over_defaults() -> None:
    reported = [m.HostFeatures(("VNC",), key_injection=True, user_data=True)]
    assert ic.features_of("VMWARE", reported).key_injection


@pytest.mark.parametrize(
    ("fmt", "disktype", "hv", "want"),
    [
        ("QCOW2", "", "KVM", ("QCOW2", "")),
        ("RAW", "", "QEMU", ("RAW", "")),
        ("QCOW2", "", "VMWARE", ("VMDK", "STREAM_OPTIMIZED")),
        ("VMDK", "PREALLOCATED", "VMWARE", ("VMDK", "PREALLOCATED")),
        ("VMDK", "STREAM_OPTIMIZED", "KVM", ("QCOW2", "")),
    ],
)
def test_rendition_choice(fmt: str, disktype: str, hv: str, want: tuple[str, str]) -> None:
    assert ic.rendition_for(image(disk_format=fmt, vmware_disktype=disktype), hv) == want
