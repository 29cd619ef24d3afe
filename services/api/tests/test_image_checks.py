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
