"""Domain XML from a flavor and image properties, and read back."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest

from polyvisor.agent_kvm.domain_xml import (
    METADATA_NS,
    DomainSpec,
    DomainTag,
    build_domain_xml,
    disk_target,
    domain_uuid,
    metadata_xml,
    parse_domain_xml,
    parse_metadata,
)


def spec(**kw: object) -> DomainSpec:
    values: dict[str, object] = {
        "server_id": "0b5f0a4e-7c59-4d3a-9d5e-3a1f1d2b6c7e",
        "display_name": "web <1>",
        "vcpus": 2,
        "memory_mb": 1024,
        "domain_type": "kvm",
        "arch": "x86_64",
        "disk_path": "/inst/s/disk.qcow2",
        "disk_format": "qcow2",
        "serial_log": "/inst/s/console.log",
        "vnc_port": 5905,
        "config_drive_path": "/inst/s/config-drive.iso",
        "image_id": "img-1",
        "host_id": "kvm-1",
    }
    values.update(kw)
    return DomainSpec(**values)  # type: ignore[arg-type]


def test_flavor_image_and_our_tag_end_up_in_the_xml() -> None:
    root = ET.fromstring(build_domain_xml(spec()))
    assert root.get("type") == "kvm"
    assert root.findtext("name") == "polyvisor-0b5f0a4e-7c59-4d3a-9d5e-3a1f1d2b6c7e"
    assert root.findtext("uuid") == "0b5f0a4e-7c59-4d3a-9d5e-3a1f1d2b6c7e"
    assert root.findtext("title") == "web <1>"
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "1024"
    assert root.findtext("vcpu") == "2"
    assert root.find("os/type").get("arch") == "x86_64" and root.findtext("os/type") == "hvm"
    meta = root.find(f"metadata/{{{METADATA_NS}}}instance")
    assert meta.find(f"{{{METADATA_NS}}}server-id").text == "0b5f0a4e-7c59-4d3a-9d5e-3a1f1d2b6c7e"
    assert meta.find(f"{{{METADATA_NS}}}host-id").text == "kvm-1"
    disks = root.findall("devices/disk")
    assert [
        (d.get("device"), d.find("target").get("dev"), d.find("target").get("bus")) for d in disks
    ] == [
        ("disk", "vda", "virtio"),
        ("cdrom", "hdc", "ide"),
    ]
    assert disks[0].find("driver").get("type") == "qcow2"
    assert root.find("devices/serial/source").get("path") == "/inst/s/console.log"
    gfx = root.find("devices/graphics")
    assert (gfx.get("type"), gfx.get("port"), gfx.get("autoport")) == ("vnc", "5905", "no")


@pytest.mark.parametrize(
    ("bus", "arch", "root_dev", "cd"),
    [
        ("virtio", "x86_64", "vda", ("hdc", "ide")),
        ("scsi", "x86_64", "sda", ("hdc", "ide")),
        ("ide", "x86_64", "hda", ("hdc", "ide")),
        ("sata", "x86_64", "sda", ("hdc", "ide")),
        ("virtio", "aarch64", "vda", ("sda", "scsi")),
        ("scsi", "aarch64", "sda", ("sdb", "scsi")),
        ("sata", "aarch64", "sda", ("sdb", "scsi")),
    ],
)
def test_hw_disk_bus_and_architecture_pick_the_devices(
    bus: str, arch: str, root_dev: str, cd: tuple[str, str]
) -> None:
    root = ET.fromstring(build_domain_xml(spec(disk_bus=bus, arch=arch)))
    disks = root.findall("devices/disk")
    assert disks[0].find("target").get("dev") == root_dev
    assert (disks[1].find("target").get("dev"), disks[1].find("target").get("bus")) == cd
    scsi = root.findall("devices/controller[@type='scsi']")
    assert len(scsi) == (1 if "scsi" in (bus, cd[1]) else 0)
    assert (root.find("features") is not None) == (arch == "x86_64")


def test_parse_reads_back_what_we_need_to_clean_up() -> None:
    info = parse_domain_xml(build_domain_xml(spec()))
    assert info.tag == DomainTag("0b5f0a4e-7c59-4d3a-9d5e-3a1f1d2b6c7e", "kvm-1")
    assert info.vnc_port == 5905 and info.vnc_listen == "127.0.0.1"
    assert info.disk_paths == ("/inst/s/disk.qcow2", "/inst/s/config-drive.iso")
    assert info.serial_logs == ("/inst/s/console.log",)
    foreign = parse_domain_xml("<domain type='kvm'><name>other</name><devices/></domain>")
    assert foreign.tag == DomainTag() and foreign.vnc_port is None


def test_metadata_as_libvirt_returns_it() -> None:
    # virDomainGetMetadata gives the element back with whatever prefix libvirt chose
    assert parse_metadata(metadata_xml("srv-9", "h", "n", "i")) == DomainTag("srv-9", "h")
    plain = "<instance><server-id>srv-9</server-id><host-id>h</host-id></instance>"
    assert parse_metadata(plain) == DomainTag("srv-9", "h")
    assert parse_metadata("not xml") == DomainTag()


def test_stable_uuid_for_ids_that_are_not_uuids() -> None:
    assert domain_uuid("srv-1") == domain_uuid("srv-1") != domain_uuid("srv-2")
    uuid.UUID(domain_uuid("srv-1"))


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError):
        build_domain_xml(spec(vcpus=0))
    with pytest.raises(ValueError):
        disk_target("floppy")


def test_vnc_password_in_the_definition_and_for_a_session() -> None:
    from polyvisor.agent_kvm.domain_xml import new_vnc_password, vnc_password_xml

    gfx = ET.fromstring(build_domain_xml(spec(vnc_password="Ab3dEf6h"))).find("devices/graphics")
    assert gfx.get("passwd") == "Ab3dEf6h"
    assert ET.fromstring(build_domain_xml(spec())).find("devices/graphics").get("passwd") is None
    passwords = {new_vnc_password() for _ in range(100)}
    assert len(passwords) == 100 and all(len(p) == 8 and p.isalnum() for p in passwords)
    session = ET.fromstring(vnc_password_xml(5905, "127.0.0.1", "s3ss1on!", "2030-01-02T03:04:05"))
    assert (session.get("type"), session.get("port"), session.get("listen")) == (
        "vnc",
        "5905",
        "127.0.0.1",
    )
    assert (session.get("passwd"), session.get("passwdValidTo")) == (
        "s3ss1on!",
        "2030-01-02T03:04:05",
    )
    assert session.find("listen").get("address") == "127.0.0.1"
