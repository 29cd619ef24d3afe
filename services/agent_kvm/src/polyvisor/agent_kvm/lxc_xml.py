"""Libvirt domain XML for a system container (libvirt's LXC driver, ``lxc:///``). Pure.

    xml = build_lxc_xml(LxcSpec(...))
    tty = console_tty(dom.XMLDesc(0))    # the host side of its console pty, once running

The container's root file system is the server's copy of a raw image holding one file system
(ext2/3/4, no partition table), which libvirt loop-mounts as ``/``; its init is ``/sbin/init``
unless the image says otherwise. Its config (meta-data, user-data, network_data.json: what a
KVM guest finds on its config drive) is a directory mounted read-only at
``/var/lib/cloud/seed/nocloud``, where cloud-init's NoCloud source reads it. Its NICs are
veth pairs on the network's bridge whose host end has the port's own tap name, so the data
plane's anti-spoofing and security group rules apply to it exactly as to a VM's tap. The same
<metadata> tag as a VM's marks it as ours.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from polyvisor.agent_kvm.domain_xml import (
    METADATA_NS,
    METADATA_PREFIX,
    Interface,
    domain_name,
    domain_uuid,
    metadata_xml,
)

__all__ = ["CONFIG_MOUNT", "DEFAULT_INIT", "LxcSpec", "build_lxc_xml", "console_tty"]

#: Where a container finds its config (cloud-init's NoCloud seed directory).
CONFIG_MOUNT = "/var/lib/cloud/seed/nocloud"
DEFAULT_INIT = "/sbin/init"


@dataclass(frozen=True, slots=True)
class LxcSpec:
    server_id: str
    display_name: str
    vcpus: int
    memory_mb: int
    arch: str  # libvirt's name, e.g. x86_64
    rootfs_image: str  # a raw file holding one file system
    config_dir: str = ""
    init: str = DEFAULT_INIT
    image_id: str = ""
    host_id: str = ""
    interfaces: tuple[Interface, ...] = ()

    @property
    def name(self) -> str:
        return domain_name(self.server_id)


def build_lxc_xml(spec: LxcSpec) -> str:
    if spec.vcpus < 1 or spec.memory_mb < 1:
        raise ValueError("a container needs at least one vCPU and 1 MiB of memory")
    if not spec.init.startswith("/"):
        raise ValueError(f"init must be an absolute path, got {spec.init!r}")
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    dom = ET.Element("domain", type="lxc")
    ET.SubElement(dom, "name").text = spec.name
    ET.SubElement(dom, "uuid").text = domain_uuid(spec.server_id)
    ET.SubElement(dom, "title").text = spec.display_name or spec.name
    meta = ET.SubElement(dom, "metadata")
    meta.append(
        ET.fromstring(metadata_xml(spec.server_id, spec.host_id, spec.display_name, spec.image_id))
    )
    ET.SubElement(dom, "memory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(dom, "currentMemory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(dom, "vcpu", placement="static").text = str(spec.vcpus)
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch=spec.arch).text = "exe"
    ET.SubElement(os_el, "init").text = spec.init
    # Its own network namespace even with no NIC: without <privnet/> libvirt would leave a
    # container without interfaces in the host's.
    features = ET.SubElement(dom, "features")
    ET.SubElement(features, "privnet")
    ET.SubElement(dom, "clock", offset="utc")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"

    dev = ET.SubElement(dom, "devices")
    root = ET.SubElement(dev, "filesystem", type="file", accessmode="passthrough")
    ET.SubElement(root, "driver", type="loop", format="raw")
    ET.SubElement(root, "source", file=spec.rootfs_image)
    ET.SubElement(root, "target", dir="/")
    if spec.config_dir:
        cfg = ET.SubElement(dev, "filesystem", type="mount", accessmode="passthrough")
        ET.SubElement(cfg, "source", dir=spec.config_dir)
        ET.SubElement(cfg, "target", dir=CONFIG_MOUNT)
        ET.SubElement(cfg, "readonly")
    for i, nic in enumerate(spec.interfaces):
        iface = ET.SubElement(dev, "interface", type="bridge")
        ET.SubElement(iface, "mac", address=nic.mac_address.lower())
        ET.SubElement(iface, "source", bridge=nic.bridge)
        ET.SubElement(iface, "target", dev=nic.tap)
        ET.SubElement(iface, "guest", dev=f"eth{i}")
        ET.SubElement(iface, "mtu", size=str(nic.mtu))
    console = ET.SubElement(dev, "console", type="pty")
    ET.SubElement(console, "target", type="lxc", port="0")
    return ET.tostring(dom, encoding="unicode")


def console_tty(xml: str) -> str | None:
    """The host side of a running container's console pty (None when it is not running)."""
    root = ET.fromstring(xml)
    for console in root.findall("devices/console"):
        if console.get("type") != "pty":
            continue
        src = console.find("source")
        path = (src.get("path", "") if src is not None else "") or console.get("tty", "")
        if path:
            return path
    return None
