"""The filter that keeps VM images off container hosts.

Nova's ImagePropertiesFilter only checks what an image asks for: an image that sets no
vm_mode passes every host, an LXC host included, where a disk image with a kernel cannot
boot. Here a host whose every supported instance is ``vm_mode=exe`` (a container host:
libvirt's LXC driver) takes only images that ask for ``exe`` (or pin ``hypervisor_type=lxc``);
``vm_mode=exe`` images themselves only match such hosts through ImagePropertiesFilter.
"""

from __future__ import annotations

import numpy as np

from polyvisor.scheduler.filter_base import FilterContext, HostFilter
from polyvisor.scheduler.index import HostIndex
from polyvisor.scheduler.model import HvType
from polyvisor.scheduler.traits import VM_MODES

__all__ = ["EXE", "ContainerHostFilter"]

EXE = "exe"


def _containers_only(index: HostIndex) -> np.ndarray:
    """Rows whose every supported (architecture, hypervisor_type, vm_mode) is exe."""
    exe = index.mask(("img", None, None, EXE))
    for mode in sorted(VM_MODES - {EXE}):
        exe &= ~index.mask(("img", None, None, mode))
    return exe


class ContainerHostFilter(HostFilter):
    """A host that runs containers only takes only container images (``vm_mode=exe``)."""

    name = "ContainerHostFilter"
    label = "container host, image not vm_mode=exe"

    def applies(self, ctx: FilterContext) -> bool:
        img = ctx.spec.image
        return ctx.exe_hosts and img.vm_mode != EXE and img.hypervisor_type != HvType.LXC

    def passes(self, index: HostIndex, ctx: FilterContext) -> np.ndarray:
        return ~_containers_only(index)

    def reason(self, index: HostIndex, ctx: FilterContext, row: int) -> str:
        mode = ctx.spec.image.vm_mode or "unset"
        return (
            f"runs containers only (vm_mode exe); the image's vm_mode is {mode}: "
            f"set vm_mode=exe on a root file system image to run it here"
        )
