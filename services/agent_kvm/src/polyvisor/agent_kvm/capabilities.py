"""What a libvirt host can run, read from its capabilities XML, and the renditions it boots.
Pure.

    caps = parse_capabilities(conn.getCapabilities())
    caps.supported_instances("kvm")   # (SupportedInstance("x86_64", "kvm", "hvm"), ...)

Architectures and vm modes are normalised the way the scheduler's image filter expects them
(i386..i686 -> i686, amd64 -> x86_64, arm64 -> aarch64; os_type linux -> exe). libvirt's
test driver advertises domain type "test" only; it counts as any virt type, so the same code
reports the same triples on it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from polyvisor.agentkit.driver import RenditionWanted, SupportedInstance

__all__ = [
    "GuestCapability",
    "HostCapabilities",
    "disk_formats",
    "normalize_arch",
    "parse_capabilities",
]

_DISK_FORMATS = {
    # A qcow2 overlay over the cached rendition: qcow2 or raw backing files boot as they are;
    # any other image is converted to qcow2 (the smaller one to fetch and cache).
    "overlay": (RenditionWanted("qcow2"), RenditionWanted("raw")),
    # A full copy written as raw: only a raw rendition can be copied block for block.
    "copy": (RenditionWanted("raw"),),
    # A copy-on-write RBD clone of the raw rendition imported once into Ceph (rbd_disks).
    "rbd": (RenditionWanted("raw"),),
}


def disk_formats(disk_mode: str) -> tuple[RenditionWanted, ...]:
    """The renditions a host boots in this disk mode, preferred first (its host report's
    ``disk_formats``: the scheduler picks from them, the spawn command names the pick)."""
    try:
        return _DISK_FORMATS[disk_mode]
    except KeyError:
        raise ValueError(f"unknown disk mode {disk_mode!r} (overlay, copy or rbd)") from None


_ARCH_ALIASES = {
    "i386": "i686",
    "i486": "i686",
    "i586": "i686",
    "x86": "i686",
    "amd64": "x86_64",
    "x64": "x86_64",
    "arm64": "aarch64",
    "armv8": "aarch64",
    "ppc64el": "ppc64le",
}
_VM_MODES = {"hvm": "hvm", "xen": "xen", "linux": "exe", "exe": "exe", "uml": "uml"}


def normalize_arch(arch: str) -> str:
    a = arch.strip().lower()
    return _ARCH_ALIASES.get(a, a)


@dataclass(frozen=True, slots=True)
class GuestCapability:
    os_type: str  # hvm, xen, exe
    arch: str  # normalised
    raw_arch: str  # as libvirt names it (for <type arch=...>)
    domain_types: tuple[str, ...]  # kvm, qemu, test
    machines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HostCapabilities:
    host_arch: str
    guests: tuple[GuestCapability, ...]

    def guests_for(self, virt_type: str) -> list[GuestCapability]:
        return [g for g in self.guests if virt_type in g.domain_types or "test" in g.domain_types]

    def supported_instances(self, virt_type: str) -> tuple[SupportedInstance, ...]:
        seen: dict[tuple[str, str], None] = {}
        for g in self.guests_for(virt_type):
            seen.setdefault((g.arch, g.os_type), None)
        return tuple(SupportedInstance(arch, virt_type, mode) for arch, mode in seen)

    def domain_type(self, virt_type: str) -> str:
        """The <domain type=...> to write: the virt type, or "test" on the test driver."""
        for g in self.guests:
            if virt_type in g.domain_types:
                return virt_type
        if any("test" in g.domain_types for g in self.guests):
            return "test"
        return virt_type

    def guest(self, arch: str, virt_type: str, os_type: str = "hvm") -> GuestCapability | None:
        want = normalize_arch(arch) if arch else self.host_arch
        for g in self.guests_for(virt_type):
            if g.arch == want and g.os_type == os_type:
                return g
        return None


def parse_capabilities(xml: str) -> HostCapabilities:
    root = ET.fromstring(xml)
    host_arch = normalize_arch(root.findtext("host/cpu/arch", default=""))
    guests: list[GuestCapability] = []
    for guest in root.findall("guest"):
        os_type = _VM_MODES.get((guest.findtext("os_type") or "").strip(), "")
        arch_el = guest.find("arch")
        if arch_el is None or not os_type:
            continue
        raw_arch = arch_el.get("name", "")
        domain_types = tuple(
            dict.fromkeys(d.get("type", "") for d in arch_el.findall("domain") if d.get("type"))
        )
        machines = tuple(
            dict.fromkeys((m.text or "").strip() for m in arch_el.findall("machine") if m.text)
        )
        guests.append(
            GuestCapability(
                os_type=os_type,
                arch=normalize_arch(raw_arch),
                raw_arch=raw_arch,
                domain_types=domain_types,
                machines=machines,
            )
        )
    return HostCapabilities(host_arch=host_arch, guests=tuple(guests))
