"""How a server's root disk is provisioned on the datastore, from the image's vmware_disktype.

As Nova's VMware driver reads that property:

| vmware_disktype | the image's bytes | the VM's disk |
| --- | --- | --- |
| ``sparse``, ``streamOptimized`` | hosted sparse VMDK, expanded while uploaded | thin |
| ``thin`` | flat | thin |
| ``preallocated``, ``thick`` | flat | thick, lazily zeroed |
| ``eagerZeroedThick`` | flat | thick, eagerly zeroed |

The base disk in the image cache is a flat extent (its descriptor says ``ddb.thinProvisioned``
for a thin image); the server's own copy is added to the VM with a FlatVer2 backing whose
``thinProvisioned`` / ``eagerlyScrub`` say the same, as Nova's attach spec does.
"""

from __future__ import annotations

import enum

__all__ = ["FLAT_DISKTYPES", "Provisioning", "root_provisioning"]


class Provisioning(enum.Enum):
    THIN = "thin"
    THICK = "thick"  # lazily zeroed (vSphere's "preallocated")
    EAGER_ZEROED_THICK = "eagerZeroedThick"

    @property
    def thin(self) -> bool:
        return self is Provisioning.THIN

    @property
    def eagerly_scrub(self) -> bool:
        return self is Provisioning.EAGER_ZEROED_THICK


_BY_DISKTYPE = {
    "sparse": Provisioning.THIN,
    "streamOptimized": Provisioning.THIN,
    "thin": Provisioning.THIN,
    "preallocated": Provisioning.THICK,
    "thick": Provisioning.THICK,
    "eagerZeroedThick": Provisioning.EAGER_ZEROED_THICK,
}
#: vmware_disktype values whose image is a flat extent (besides the hosted sparse ones)
FLAT_DISKTYPES = ("preallocated", "thin", "thick", "eagerZeroedThick")


def root_provisioning(vmware_disktype: str) -> Provisioning:
    """The root disk's provisioning for an image of ``vmware_disktype`` ("": thick, the
    flat image as it is)."""
    if not vmware_disktype:
        return Provisioning.THICK
    try:
        return _BY_DISKTYPE[vmware_disktype]
    except KeyError:
        raise ValueError(
            f"unknown vmware_disktype {vmware_disktype!r} (one of {', '.join(_BY_DISKTYPE)})"
        ) from None
