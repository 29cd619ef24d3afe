"""Which rendition of an image a host boots, from what the host reports. Pure.

A host reports the renditions it boots, preferred first (`HostCapabilities.disk_formats`).
The image boots as it is when its own format (and VMDK sub-format) is one of them; else the
host gets the first of its renditions the image exists in or the image service can produce.
The scheduler answers SelectDestinations with this choice for every candidate, the api puts
it in the spawn command, and the agent fetches exactly it: nobody else guesses.
"""

from __future__ import annotations

from collections.abc import Sequence

from polyvisor.scheduler.model import ImageRequirements, Rendition, VmdkType

__all__ = ["choose"]


def choose(host: Sequence[Rendition], image: ImageRequirements) -> Rendition | None:
    """The rendition a host reporting `host` boots `image` from (None: it cannot)."""
    original = image.original
    for r in host:
        if r.disk_format == original.disk_format and r.vmdk_type in (
            VmdkType.UNSPECIFIED,
            original.vmdk_type,
        ):
            return original if r.vmdk_type == VmdkType.UNSPECIFIED else r
    bootable = image.bootable_formats
    for r in host:
        if r.disk_format in bootable:
            return r
    return None
