"""Libvirt domain XML: built from a flavor and image properties, and read back. Pure.

    xml = build_domain_xml(DomainSpec(...))
    info = parse_domain_xml(dom.XMLDesc())    # our server id, VNC port, files to delete

Every domain we define carries our server id and the agent's host id in its <metadata>,
under our own namespace, so the agent finds its VMs again after a restart and never touches
anyone else's (another agent's on a shared libvirtd included).
"""

from __future__ import annotations

import secrets
import string
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

__all__ = [
    "METADATA_NS",
    "METADATA_PREFIX",
    "NAME_PREFIX",
    "VIF_MODELS",
    "DiskTarget",
    "DomainInfo",
    "DomainSpec",
    "DomainTag",
    "Interface",
    "build_domain_xml",
    "disk_target",
    "domain_name",
    "domain_uuid",
    "find_interface",
    "find_interface_by_tap",
    "interface_models",
    "interface_xml",
    "metadata_xml",
    "new_vnc_password",
    "parse_domain_xml",
    "parse_metadata",
    "vnc_password_xml",
]

METADATA_NS = "https://polyvisor.dev/xmlns/libvirt/instance/1"
METADATA_PREFIX = "polyvisor"
NAME_PREFIX = "polyvisor-"
_UUID_NS = uuid.UUID("8d3b7c2e-5f0a-4b8e-9a61-2f4c0d7e1b35")

_BUSES = ("virtio", "scsi", "ide", "sata", "usb")


def domain_name(server_id: str) -> str:
    return f"{NAME_PREFIX}{server_id}"


def domain_uuid(server_id: str) -> str:
    """The server id when it is a UUID, else a stable UUID derived from it."""
    try:
        return str(uuid.UUID(server_id))
    except ValueError:
        return str(uuid.uuid5(_UUID_NS, server_id))


@dataclass(frozen=True, slots=True)
class DiskTarget:
    dev: str
    bus: str


def disk_target(bus: str, index: int = 0) -> DiskTarget:
    """The guest device name for the ``index``-th disk on ``bus``."""
    if bus not in _BUSES:
        raise ValueError(f"unknown disk bus {bus!r} (one of {', '.join(_BUSES)})")
    prefix = {"virtio": "vd", "ide": "hd"}.get(bus, "sd")
    return DiskTarget(prefix + "abcdefghijklmnopqrstuvwxyz"[index], bus)


VIF_MODELS = ("virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet")


@dataclass(frozen=True, slots=True)
class Interface:
    """A NIC on a network's bridge: the port's MAC, its own tap (named after the port)."""

    mac_address: str
    bridge: str
    tap: str
    model: str = "virtio"  # the image's hw_vif_model, else virtio
    mtu: int = 1500


@dataclass(frozen=True, slots=True)
class DomainSpec:
    server_id: str
    display_name: str
    vcpus: int
    memory_mb: int
    domain_type: str  # kvm, qemu, test
    arch: str  # libvirt's name, e.g. x86_64
    disk_path: str
    disk_format: str  # qcow2, raw
    serial_log: str
    vnc_port: int
    vnc_listen: str = "127.0.0.1"
    #: The VNC server's password: QEMU then offers VNC authentication only, never "None".
    vnc_password: str = ""
    disk_bus: str = "virtio"
    config_drive_path: str = ""
    machine: str = ""
    os_type: str = "hvm"
    image_id: str = ""
    host_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    interfaces: tuple[Interface, ...] = ()

    @property
    def name(self) -> str:
        return domain_name(self.server_id)

    @property
    def uuid(self) -> str:
        return domain_uuid(self.server_id)


@dataclass(frozen=True, slots=True)
class DomainTag:
    """What our metadata says: whose server this domain is, and which agent made it."""

    server_id: str = ""
    host_id: str = ""


def metadata_xml(
    server_id: str, host_id: str = "", display_name: str = "", image_id: str = ""
) -> str:
    """Our <metadata> element (also what virDomainSetMetadata would be given)."""
    el = _metadata_element(server_id, host_id, display_name, image_id)
    return ET.tostring(el, encoding="unicode")


def _metadata_element(server_id: str, host_id: str, display_name: str, image_id: str) -> ET.Element:
    ns = f"{{{METADATA_NS}}}"
    el = ET.Element(f"{ns}instance")
    ET.SubElement(el, f"{ns}server-id").text = server_id
    if host_id:
        ET.SubElement(el, f"{ns}host-id").text = host_id
    if display_name:
        ET.SubElement(el, f"{ns}name").text = display_name
    if image_id:
        ET.SubElement(el, f"{ns}image-id").text = image_id
    return el


def build_domain_xml(spec: DomainSpec) -> str:
    if spec.vcpus < 1 or spec.memory_mb < 1:
        raise ValueError("a domain needs at least one vCPU and 1 MiB of memory")
    ET.register_namespace(METADATA_PREFIX, METADATA_NS)
    dom = ET.Element("domain", type=spec.domain_type)
    ET.SubElement(dom, "name").text = spec.name
    ET.SubElement(dom, "uuid").text = spec.uuid
    ET.SubElement(dom, "title").text = spec.display_name or spec.name
    meta = ET.SubElement(dom, "metadata")
    meta.append(_metadata_element(spec.server_id, spec.host_id, spec.display_name, spec.image_id))
    ET.SubElement(dom, "memory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(dom, "currentMemory", unit="MiB").text = str(spec.memory_mb)
    ET.SubElement(dom, "vcpu", placement="static").text = str(spec.vcpus)

    os_el = ET.SubElement(dom, "os")
    type_attrs = {"arch": spec.arch}
    if spec.machine:
        type_attrs["machine"] = spec.machine
    ET.SubElement(os_el, "type", type_attrs).text = spec.os_type
    ET.SubElement(os_el, "boot", dev="hd")
    # No "press ESC for the boot menu" pause in the firmware: a guest boots at once.
    ET.SubElement(os_el, "bootmenu", enable="no")
    x86 = spec.arch in ("x86_64", "i686", "i386")
    if x86:
        features = ET.SubElement(dom, "features")
        ET.SubElement(features, "acpi")
        ET.SubElement(features, "apic")
    ET.SubElement(dom, "clock", offset="utc")
    ET.SubElement(dom, "on_poweroff").text = "destroy"
    ET.SubElement(dom, "on_reboot").text = "restart"
    ET.SubElement(dom, "on_crash").text = "destroy"

    dev = ET.SubElement(dom, "devices")
    root_target = disk_target(spec.disk_bus, 0)
    disk = ET.SubElement(dev, "disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type=spec.disk_format, cache="none")
    ET.SubElement(disk, "source", file=spec.disk_path)
    ET.SubElement(disk, "target", dev=root_target.dev, bus=root_target.bus)
    ET.SubElement(disk, "serial").text = spec.server_id[:20]
    if spec.disk_bus == "scsi":
        ET.SubElement(dev, "controller", type="scsi", index="0", model="virtio-scsi")
    if spec.config_drive_path:
        # A CD-ROM: IDE hdc on x86 (the pc machine has IDE), SCSI elsewhere; never the
        # root disk's device name.
        if x86:
            cd_target = disk_target("ide", 2)
        else:
            cd_target = disk_target("scsi", 1 if root_target.dev.startswith("sd") else 0)
        cd = ET.SubElement(dev, "disk", type="file", device="cdrom")
        ET.SubElement(cd, "driver", name="qemu", type="raw")
        ET.SubElement(cd, "source", file=spec.config_drive_path)
        ET.SubElement(cd, "target", dev=cd_target.dev, bus=cd_target.bus)
        ET.SubElement(cd, "readonly")
        if cd_target.bus == "scsi" and spec.disk_bus != "scsi":
            ET.SubElement(dev, "controller", type="scsi", index="0", model="virtio-scsi")

    for nic in spec.interfaces:
        dev.append(_interface_element(nic))

    serial = ET.SubElement(dev, "serial", type="file")
    ET.SubElement(serial, "source", path=spec.serial_log, append="on")
    ET.SubElement(serial, "target", port="0")
    console = ET.SubElement(dev, "console", type="file")
    ET.SubElement(console, "source", path=spec.serial_log, append="on")
    ET.SubElement(console, "target", type="serial", port="0")

    gfx = ET.SubElement(
        dev, "graphics", type="vnc", port=str(spec.vnc_port), autoport="no", listen=spec.vnc_listen
    )
    if spec.vnc_password:
        gfx.set("passwd", spec.vnc_password)
    ET.SubElement(gfx, "listen", type="address", address=spec.vnc_listen)
    if spec.domain_type != "test":
        ET.SubElement(dev, "memballoon", model="virtio")
    return ET.tostring(dom, encoding="unicode")


def _interface_element(nic: Interface) -> ET.Element:
    model = nic.model or "virtio"
    if model not in VIF_MODELS:
        raise ValueError(f"unknown hw_vif_model {model!r} (one of {', '.join(VIF_MODELS)})")
    iface = ET.Element("interface", type="bridge")
    ET.SubElement(iface, "mac", address=nic.mac_address.lower())
    ET.SubElement(iface, "source", bridge=nic.bridge)
    ET.SubElement(iface, "target", dev=nic.tap)
    ET.SubElement(iface, "model", type=model)
    ET.SubElement(iface, "mtu", size=str(nic.mtu))
    return iface


def interface_xml(nic: Interface) -> str:
    """One <interface> (what virDomainAttachDeviceFlags is given to hot-plug a port)."""
    return ET.tostring(_interface_element(nic), encoding="unicode")


def find_interface(xml: str, mac_address: str) -> tuple[str, str] | None:
    """(the <interface> element's XML, its model) of the NIC with ``mac_address``, if any."""
    root = ET.fromstring(xml)
    for iface in root.findall("devices/interface"):
        mac = iface.find("mac")
        if mac is not None and mac.get("address", "").lower() == mac_address.lower():
            model = iface.find("model")
            return ET.tostring(iface, encoding="unicode"), (
                model.get("type", "") if model is not None else ""
            )
    return None


def find_interface_by_tap(xml: str, tap: str) -> str | None:
    """The <interface> element's XML of the NIC on tap ``tap``, if any."""
    root = ET.fromstring(xml)
    for iface in root.findall("devices/interface"):
        target = iface.find("target")
        if target is not None and target.get("dev") == tap:
            return ET.tostring(iface, encoding="unicode")
    return None


def interface_models(xml: str) -> list[str]:
    """The models of the domain's NICs, in order."""
    root = ET.fromstring(xml)
    return [
        (iface.find("model").get("type", "") if iface.find("model") is not None else "")  # type: ignore[union-attr]
        for iface in root.findall("devices/interface")
    ]


_VNC_PASSWORD_CHARS = string.ascii_letters + string.digits


def new_vnc_password() -> str:
    """A random VNC password: 8 characters, all VNC authentication (DES) uses of one."""
    return "".join(secrets.choice(_VNC_PASSWORD_CHARS) for _ in range(8))


def vnc_password_xml(port: int, listen: str, password: str, valid_until: str = "") -> str:
    """The <graphics> element that sets a running domain's VNC password (virDomainUpdateDevice
    with the same type, port and listen address); `valid_until` (UTC, YYYY-MM-DDTHH:MM:SS)
    makes it expire, after which QEMU accepts no password at all."""
    gfx = ET.Element(
        "graphics", type="vnc", port=str(port), autoport="no", listen=listen, passwd=password
    )
    if valid_until:
        gfx.set("passwdValidTo", valid_until)
    ET.SubElement(gfx, "listen", type="address", address=listen)
    return ET.tostring(gfx, encoding="unicode")


@dataclass(frozen=True, slots=True)
class DomainInfo:
    """What we read back from a domain's XML."""

    name: str
    tag: DomainTag  # empty when the domain is not ours
    vnc_port: int | None
    vnc_listen: str
    disk_paths: tuple[str, ...]
    serial_logs: tuple[str, ...]
    nvram: str

    @property
    def server_id(self) -> str:
        return self.tag.server_id


def parse_metadata(xml: str) -> DomainTag:
    """Our tag, from our metadata element as virDomainGetMetadata returns it (empty if none)."""
    try:
        el = ET.fromstring(xml)
    except ET.ParseError:
        return DomainTag()
    return _tag_in(el)


def _tag_in(el: ET.Element) -> DomainTag:
    values: dict[str, str] = {}
    for child in el.iter():
        for key in ("server-id", "host-id"):
            # virDomainGetMetadata gives the element back under whatever prefix libvirt chose
            if child.tag in (key, f"{{{METADATA_NS}}}{key}") and key not in values:
                values[key] = (child.text or "").strip()
    return DomainTag(values.get("server-id", ""), values.get("host-id", ""))


def parse_domain_xml(xml: str) -> DomainInfo:
    root = ET.fromstring(xml)
    name = root.findtext("name", default="")
    meta = root.find(f"metadata/{{{METADATA_NS}}}instance")
    tag = _tag_in(meta) if meta is not None else DomainTag()
    vnc_port: int | None = None
    vnc_listen = ""
    gfx = root.find("devices/graphics[@type='vnc']")
    if gfx is not None:
        try:
            port = int(gfx.get("port", "-1"))
            vnc_port = port if port > 0 else None
        except ValueError:
            vnc_port = None
        vnc_listen = gfx.get("listen", "")
        if not vnc_listen:
            listen = gfx.find("listen")
            vnc_listen = listen.get("address", "") if listen is not None else ""
    disks: list[str] = []
    for d in root.findall("devices/disk"):
        src = d.find("source")
        if src is not None and src.get("file"):
            disks.append(src.get("file", ""))
    logs: list[str] = []
    for tag_name in ("serial", "console"):
        for s in root.findall(f"devices/{tag_name}"):
            src = s.find("source")
            if src is not None and src.get("path") and s.get("type") == "file":
                logs.append(src.get("path", ""))
            log_el = s.find("log")
            if log_el is not None and log_el.get("file"):
                logs.append(log_el.get("file", ""))
    nvram = (root.findtext("os/nvram") or "").strip()
    return DomainInfo(
        name=name,
        tag=tag,
        vnc_port=vnc_port,
        vnc_listen=vnc_listen,
        disk_paths=tuple(disks),
        serial_logs=tuple(dict.fromkeys(logs)),
        nvram=nvram,
    )
